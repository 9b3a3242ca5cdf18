"""Results files as the explorer reads them: every known variant, and what is refused."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from geopy import distance as geopy_distance

from demo import explore, results as results_lib
from jaxgeo import evaluate
from jaxgeo.geo import coordinate_csv

# GeoEstimation's published layout with Im2GPS's 237 photos: rows on file lines 2-238, a blank
# line 239, then the radii's names and the accuracies (tests/fixtures/make_geoestimation_im2gps.py).
GEOESTIMATION_IM2GPS = (pathlib.Path(__file__).resolve().parents[1] / "fixtures"
                        / "geoestimation_im2gps.csv")
RADII = (1, 25, 200, 750, 2500)
PARIS, LONDON, TOKYO = (48.8566, 2.3522), (51.5074, -0.1278), (35.6762, 139.6503)


def _km(a, b) -> float:
  return geopy_distance.great_circle(a, b).km


def test_the_evaluators_csv_with_a_bad_row_and_a_zero_label():
  text = ("img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance,neighbours\n"
          f"a.jpg,{LONDON[0]},{PARIS[0]},{LONDON[1]},{PARIS[1]},343.5,1 2 3\n"
          f"b.jpg,0,{TOKYO[0]},0,{TOKYO[1]},9000.0,\n"  # a missing label written as zeros
          "c.jpg,51.5,,-0.12,,nan,\n"  # no prediction
          f"d.jpg,{TOKYO[0]},{TOKYO[0]},{TOKYO[1]},{TOKYO[1]},0.000,\n")
  r = results_lib.read_results(text.encode(), "im2gps3k (hybrid)")
  assert list(r.source) == ["a.jpg", "b.jpg", "d.jpg"]
  assert r.error_km[0] == pytest.approx(_km(PARIS, LONDON), rel=1e-4)  # recomputed, not 343.5
  assert np.isnan(r.error_km[1]) and np.isnan(r.true_latitude[1])
  assert r.error_km[2] == pytest.approx(0, abs=1e-6)
  assert list(r.country) == ["FR", "JP", "JP"]
  assert list(r.true_country) == ["GB", "", "JP"]
  assert not r.has_confidence and r.has_truth
  assert r.skipped == {"no predicted position": [4]}
  assert r.skipped_note() == ("1 row of im2gps3k (hybrid) skipped: no predicted position: 1 "
                              "(line 4)")


def test_the_batch_clis_csv_with_its_confidence_and_place():
  text = ("source,latitude,longitude,probability,place,cell,method,true_latitude,"
          "true_longitude,true_source,distance_km\n"
          f"photos/x.jpg,{PARIS[0]},{PARIS[1]},0.25,\"Paris, France\",47e66c,hierarchy,,,,\n"
          f"photos/y.jpg,{TOKYO[0]},{TOKYO[1]},1.7,\"Tokyo, Japan\",6018f,hybrid,"
          f"{TOKYO[0] + 0.1},{TOKYO[1]},exif,11.1\n")
  r = results_lib.read_results(text.encode(), "predictions.csv")
  assert list(r.place) == ["Paris, France", "Tokyo, Japan"]
  assert r.confidence[0] == 0.25 and np.isnan(r.confidence[1])  # 1.7 is no probability
  assert np.isnan(r.error_km[0]) and r.error_km[1] == pytest.approx(11.12, abs=0.01)
  assert r.has_confidence


@pytest.mark.parametrize("header", ["img_id,pred_lat,pred_lng,gt_lat,gt_lng",
                                    "ID,Lat,Lon,GT_Latitude,GT_Longitude",
                                    "name,lat,long,true_lat,true_lon"])
def test_other_tools_names_for_the_same_columns(header):
  text = "\ufeff" + header + "\r\n" + f"p1,{PARIS[0]},{PARIS[1]},{LONDON[0]},{LONDON[1]}\r\n"
  r = results_lib.read_results(text.encode("utf-8"), "other.csv")
  assert list(r.source) == ["p1"] and r.latitude[0] == PARIS[0]
  assert r.error_km[0] == pytest.approx(_km(PARIS, LONDON), rel=1e-4)


def test_out_of_range_rows_are_skipped_and_named():
  text = "img_id,predicted_lat,predicted_long\n" + "".join(
      f"p{i},{PARIS[0]},{PARIS[1]}\n" for i in range(40)) + "bad,95.0,10.0\nworse,10,190\n"
  r = results_lib.read_results(text.encode(), "f.csv")
  assert len(r) == 40 and r.skipped == {"position out of range": [42, 43]}


def test_swapped_columns_are_refused_with_the_reason():
  text = "img_id,predicted_lat,predicted_long\n" + "".join(
      f"p{i},{139.0 + i * 0.1},{35.6}\n" for i in range(20))
  with pytest.raises(results_lib.ResultsError, match="latitude and longitude swapped"):
    results_lib.read_results(text.encode(), "swapped.csv")


def test_files_that_are_no_results_are_refused_naming_them(tmp_path):
  with pytest.raises(results_lib.ResultsError, match=r"report.csv has no predicted latitude/"
                     r"longitude column \(found: step, loss\)"):
    results_lib.read_results(b"step,loss\n1,0.5\n", "report.csv")
  with pytest.raises(results_lib.ResultsError, match="not a UTF-8 text file"):
    results_lib.read_results(b"\xff\xd8\xff\xe0 JPEG", "photo.csv")
  with pytest.raises(results_lib.ResultsError, match="empty"):
    results_lib.read_results(b"", "empty.csv")
  with pytest.raises(results_lib.ResultsError, match="missing.csv cannot be read"):
    results_lib.read_results(str(tmp_path / "missing.csv"), "missing.csv")


def _both_readers(path: pathlib.Path) -> tuple[results_lib.Results, dict[str, float]]:
  """The explorer's reading of a file and the evaluate CLI's scores of it (--results_csv)."""
  return (results_lib.read_results(str(path), path.name),
          evaluate.score_results_files([str(path)])[str(path)])


def test_geoestimation_file_gives_the_evaluators_photos_and_accuracies():
  explored, scored = _both_readers(GEOESTIMATION_IM2GPS)
  # 237 photos, not 238: the accuracies line after the blank line is no photo.
  assert len(explored) == scored["num_examples"] == 237
  shown = explore.accuracy(explored.error_km)
  assert [shown[r] for r in RADII] == [scored[f"acc@{r}km"] for r in RADII] == [
      32 / 237, 83 / 237, 118 / 237, 152 / 237, 189 / 237]  # 13.5 / 35.0 / 49.8 / 64.1 / 79.7 %
  median = np.median(explored.error_km)
  assert median == pytest.approx(scored["median_km"], abs=1e-6) and round(median) == 212
  assert explored.skipped == {} and explored.notes == ()
  assert (explored.blank_line, explored.trailing_lines) == (239, 2)
  assert explored.reading_note() == (
      "2 lines of geoestimation_im2gps.csv after its blank line 239 left out (a summary such as "
      "GeoEstimation's accuracies, not photos).")


def test_both_readers_name_the_same_file_lines(tmp_path):
  lines = GEOESTIMATION_IM2GPS.read_text().splitlines()
  lines.insert(100, "corrupt.jpg,48.85,not a number,2.35,not a number,0.0")  # file line 101
  lines.insert(200, "cut_short.jpg,48.85")  # file line 201
  path = tmp_path / "im2gps_results.csv"
  path.write_text("\n".join(lines) + "\n")
  explored, scored = _both_readers(path)
  assert explored.skipped == {"no predicted position": [101, 201]}
  assert coordinate_csv.read_results(path).skipped_rows == [101, 201]
  assert len(explored) == scored["num_examples"] == 237
  assert explored.reading_note().startswith(
      "2 rows of im2gps_results.csv skipped: no predicted position: 2 (lines 101, 201). 2 lines "
      "of im2gps_results.csv after its blank line 241 left out")


def test_swapped_geoestimation_columns_are_read_as_the_evaluator_reads_them(tmp_path):
  """A writer that put the latitudes under the *_long names: the values decide, for both."""
  lines = GEOESTIMATION_IM2GPS.read_text().splitlines()
  lines[0] = "img_id,gt_long,predicted_long,gt_lat,predicted_lat,great_circle_distance"
  path = tmp_path / "swapped.csv"
  path.write_text("\n".join(lines) + "\n")
  explored, scored = _both_readers(path)
  original = results_lib.read_results(str(GEOESTIMATION_IM2GPS), "original")
  np.testing.assert_array_equal(explored.latitude, original.latitude)
  assert len(explored) == scored["num_examples"] == 237
  assert [explore.accuracy(explored.error_km)[r] for r in RADII] == [
      scored[f"acc@{r}km"] for r in RADII]
  assert len(explored.notes) == 1 and "the header's names are swapped" in explored.notes[0]
