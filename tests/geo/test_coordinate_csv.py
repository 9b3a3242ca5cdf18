"""Coordinate CSVs in both circulating header variants: the order comes from the values."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from jaxgeo.geo import coordinate_csv
from jaxgeo.geo import partitions as partitions_lib

# Real places (latitude, longitude). The first is the first row of Im2GPS3k (Bermuda).
PLACES = {
    "bermuda.jpg": (32.325436, -64.764404),
    "tokyo_tower.jpg": (35.658581, 139.745433),
    "sydney_opera_house.jpg": (-33.856784, 151.215297),
    "golden_gate_bridge.jpg": (37.819929, -122.478255),
    "eiffel_tower.jpg": (48.858370, 2.294481),
    "christ_the_redeemer.jpg": (-22.951916, -43.210487),
}
# Only Europe and the Atlantic: every value fits [-90, 90], so the values do not settle it.
AMBIGUOUS = {
    "bermuda.jpg": (32.325436, -64.764404),
    "eiffel_tower.jpg": (48.858370, 2.294481),
    "colosseum.jpg": (41.890210, 12.492231),
    "brandenburg_gate.jpg": (52.516275, 13.377704),
}
REPO = pathlib.Path(__file__).resolve().parents[2]
REST = "1,4,92,0.0344,0.8299,0.1356"  # scene columns, as in GeoEstimation's files


def _write(path, header: str, places: dict[str, tuple[float, float]]):
  """Rows as both variants hold them: latitude, then longitude, whatever the header says."""
  rows = [f"{name},12345678@N00,{lat:.6f},{lon:.6f},{REST}" for name, (lat, lon) in
          places.items()]
  path.write_text("\n".join([header, *rows]) + "\n")
  return path


SCENES = "S3_Label,S16_Label,S365_Label,Prob_indoor,Prob_natural,Prob_urban"
HEADER_2018 = f"IMG_ID,AUTHOR,LON,LAT,{SCENES}"  # over latitudes, then longitudes
HEADER_LATER = f"IMG_ID,AUTHOR,LAT,LON,{SCENES}"


@pytest.mark.parametrize("header,order,lat_column,counts", [
    (HEADER_2018, "swapped", "LON",
     "column LAT has 3 value(s) outside [-90, 90] and column LON 0"),
    (HEADER_LATER, "as_named", "LAT",
     "column LAT has 0 value(s) outside [-90, 90] and column LON 3"),
])
def test_both_header_variants_read_the_same_places(tmp_path, header, order, lat_column, counts):
  path = _write(tmp_path / "im2gps3k_places365.csv", header, PLACES)
  ids, lat, lon, report = coordinate_csv.read_coordinates(path)
  assert ids.tolist() == list(PLACES)
  np.testing.assert_array_equal(np.stack([lat, lon], 1), np.array(list(PLACES.values())))
  assert report.num_kept == len(PLACES) and report.skipped == {}
  assert (report.columns.order, report.columns.lat_column) == (order, lat_column)
  # 3 of the 6 longitudes lie beyond 90 (Tokyo, Sydney, San Francisco), no latitude does.
  assert counts in report.columns.evidence
  if order == "swapped":
    assert report.columns.evidence.startswith("the header's names are swapped")
    assert "latitude = LON, longitude = LAT" in report.summary()


def test_a_few_corrupt_rows_do_not_outvote_the_columns(tmp_path):
  places = {**PLACES, "corrupt.jpg": (95.0, 10.0)}  # one bad latitude beyond 90
  path = _write(tmp_path / "meta.csv", HEADER_2018, places)
  ids, lat, lon, report = coordinate_csv.read_coordinates(path)
  assert report.columns.order == "swapped"
  assert report.skipped == {"bad_coordinates": 1} and report.examples["bad_coordinates"] == [7]
  assert dict(zip(ids, zip(lat, lon)))["tokyo_tower.jpg"] == PLACES["tokyo_tower.jpg"]


@pytest.mark.parametrize("header", [HEADER_2018, HEADER_LATER])
def test_ambiguous_file_stops_with_a_clear_error(tmp_path, header):
  path = _write(tmp_path / "im2gps_places365.csv", header, AMBIGUOUS)
  with pytest.raises(coordinate_csv.ColumnOrderError) as error:
    coordinate_csv.read_coordinates(path)
  message = str(error.value)
  assert str(path) in message
  assert "cannot tell which column holds the latitudes" in message
  assert "coordinate_columns='as_named'" in message and "'swapped'" in message
  assert "--coordinate-columns" in message  # and where to say it


def test_forced_order_is_taken_as_given(tmp_path):
  path = _write(tmp_path / "im2gps_places365.csv", HEADER_2018, AMBIGUOUS)
  _, lat, lon, report = coordinate_csv.read_coordinates(path, coordinate_columns="swapped")
  assert (lat[1], lon[1]) == AMBIGUOUS["eiffel_tower.jpg"]
  assert report.columns.evidence.startswith("coordinate_columns='swapped' (forced)")
  path = _write(tmp_path / "meta.csv", HEADER_LATER, AMBIGUOUS)
  _, lat, lon, _ = coordinate_csv.read_coordinates(path, coordinate_columns="as_named")
  assert (lat[2], lon[2]) == AMBIGUOUS["colosseum.jpg"]
  with pytest.raises(ValueError, match="coordinate_columns='latlon' is not one of"):
    coordinate_csv.read_coordinates(path, coordinate_columns="latlon")


def test_partitions_command_line_refuses_ambiguous_input_and_takes_the_flag(tmp_path, capsys):
  rows = [f"img{i}.jpg,{48.8 + i * 1e-4:.6f},{2.3 + i * 1e-4:.6f}" for i in range(50)]
  (tmp_path / "meta.csv").write_text("IMG_ID,LAT,LON\n" + "\n".join(rows) + "\n")
  args = ["--input", str(tmp_path / "meta.csv"), "--tau-min", "1", "--tau-max", "20",
          "--out", str(tmp_path / "out")]
  with pytest.raises(SystemExit) as e:
    partitions_lib.main(args)
  assert e.value.code == 2
  assert "cannot tell which column holds the latitudes" in capsys.readouterr().err
  assert partitions_lib.main([*args, "--coordinate-columns", "as_named"]) == 0
  cells = partitions_lib.Partition.from_csv(tmp_path / "out" / "cells_1_20.csv")
  assert np.all(np.abs(cells.latitudes - 48.8) < 0.01)  # Paris, not the Gulf of Guinea


# Per-image results: (id, true place, predicted place) and the km between them.
RESULTS = [("eiffel_tower.jpg", PLACES["eiffel_tower.jpg"], (48.856600, 2.352200)),  # 4.2 km
           ("tokyo_tower.jpg", PLACES["tokyo_tower.jpg"], (34.693700, 135.502300)),  # ~400 km
           ("sydney_opera_house.jpg", PLACES["sydney_opera_house.jpg"],
            PLACES["sydney_opera_house.jpg"]),  # 0 km
           ("golden_gate_bridge.jpg", PLACES["golden_gate_bridge.jpg"],
            (40.712800, -74.006000))]  # ~4,130 km


def _results_file(path, swapped: bool = False):
  """GeoEstimation's layout: the rows, a blank line, then column names and accuracies."""
  lines = ["img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance"]
  for name, (t_lat, t_lon), (p_lat, p_lon) in RESULTS:
    if swapped:  # a writer that put longitudes under the *_lat names
      t_lat, t_lon, p_lat, p_lon = t_lon, t_lat, p_lon, p_lat
    lines.append(f"{name},{t_lat},{p_lat},{t_lon},{p_lon},0.0")
  lines += ["", "1km,25km,200km,750km,2500km", "0.25,0.5,0.5,0.75,0.75"]
  path.write_text("\n".join(lines) + "\n")
  return path


@pytest.mark.parametrize("swapped", [False, True])
def test_results_files_are_read_without_their_summary_lines(tmp_path, swapped):
  results = coordinate_csv.read_results(_results_file(tmp_path / "results.csv", swapped))
  assert results.image_ids.tolist() == [r[0] for r in RESULTS]
  assert results.trailing_lines == 2 and results.skipped_rows == []
  np.testing.assert_array_equal(np.stack([results.true_lat, results.true_lon], 1),
                                [r[1] for r in RESULTS])
  np.testing.assert_array_equal(np.stack([results.predicted_lat, results.predicted_lon], 1),
                                [r[2] for r in RESULTS])
  assert results.columns.order == ("swapped" if swapped else "as_named")


def test_evaluate_command_scores_a_results_file(tmp_path):
  path = _results_file(tmp_path / "geoestimation_im2gps3k.csv")
  result = subprocess.run([sys.executable, "-m", "jaxgeo.evaluate", "--results_csv", str(path)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "4 results; latitudes from gt_lat/predicted_lat" in result.stderr
  assert "2 line(s) after the first blank line left out" in result.stderr
  row = next(line for line in result.stderr.splitlines() if line.startswith(str(path)))
  # 1 / 25 / 200 / 750 / 2500 km: 1 of 4 exact, 2 within 25 km, 3 within 750 km.
  assert row.split()[1:6] == ["25.0", "50.0", "50.0", "75.0", "75.0"]


# GeoEstimation's published layout with Im2GPS's 237 photos (written by
# tests/fixtures/make_geoestimation_im2gps.py): the rows (file lines 2-238), a blank line 239, the
# radii's names (240) and the accuracies (241).
GEOESTIMATION_IM2GPS = REPO / "tests" / "fixtures" / "geoestimation_im2gps.csv"
# Its accuracies at 1 / 25 / 200 / 750 / 2,500 km as counts of the 237 photos.
IM2GPS_WITHIN = (32, 83, 118, 152, 189)


def test_geoestimation_file_is_scored_as_its_own_summary_line_says():
  lines = GEOESTIMATION_IM2GPS.read_text().splitlines()
  assert (len(lines), lines[238], lines[239]) == (241, "", "1km,25km,200km,750km,2500km")
  own = [float(v) for v in lines[240].split(",")]  # the file's own accuracies, as fractions
  assert own == [n / 237 for n in IM2GPS_WITHIN]
  from jaxgeo import evaluate  # pylint: disable=g-import-not-at-top  (imports the trainer)
  metrics = evaluate.score_results_files([str(GEOESTIMATION_IM2GPS)])[str(GEOESTIMATION_IM2GPS)]
  assert metrics["num_examples"] == 237  # not 238: the accuracies line is no photo
  assert [metrics[f"acc@{r}km"] for r in (1, 25, 200, 750, 2500)] == own
  assert round(metrics["median_km"]) == 212
  results = coordinate_csv.read_results(GEOESTIMATION_IM2GPS)
  assert (results.blank_line, results.trailing_lines, results.skipped_rows) == (239, 2, [])


def test_results_rows_are_named_by_their_file_lines(tmp_path):
  """Bad rows are named by the line an editor shows, whatever comes before them: a BOM, CRLF
  line ends, a quoted field over two lines."""
  lines = GEOESTIMATION_IM2GPS.read_text().splitlines()
  lines.insert(100, "corrupt.jpg,48.85,not a number,2.35,2.35,0.0")  # file line 101
  lines.insert(150, "outside.jpg,95.0,48.85,2.35,2.35,0.0")  # 151: latitude beyond 90
  lines.insert(3, 'quoted.jpg,48.85,48.85,2.35,2.35,"0.0\n(checked)"')  # lines 4-5; the rest +2
  path = tmp_path / "im2gps_results.csv"
  path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
  results = coordinate_csv.read_results(path)
  assert results.skipped_rows == [103, 153]
  assert (len(results.image_ids), results.blank_line, results.trailing_lines) == (238, 243, 2)
  assert results.image_ids[2] == "quoted.jpg"
  table = coordinate_csv.read_results_table(path)
  assert (table.lines[:4], table.lines[-1]) == ([2, 3, 4, 6], 242)
