"""The Explore view's filters, accuracy tables, map payload and photo lookup (no browser)."""

from __future__ import annotations

import base64
import json
import pathlib

import numpy as np
import pytest

from demo import explore, results as results_lib

# (id, predicted lat, lon, true lat, lon, confidence): errors about 0, 3.6, 343, 2.7k, 9.7k km.
ROWS = [("paris", 48.8566, 2.3522, 48.8566, 2.3522, 0.9),
        ("versailles", 48.8049, 2.1204, 48.8200, 2.1700, 0.4),
        ("london-as-paris", 48.8566, 2.3522, 51.5074, -0.1278, 0.2),
        ("madrid-as-berlin", 52.5200, 13.4050, 40.4168, -3.7038, 0.6),
        ("tokyo-as-paris", 48.8566, 2.3522, 35.6762, 139.6503, 0.1),
        ("unknown-truth", 35.6762, 139.6503, None, None, 0.8)]


@pytest.fixture(scope="module")
def results() -> results_lib.Results:
  lines = ["source,latitude,longitude,true_latitude,true_longitude,probability"]
  for name, lat, lon, tlat, tlon, p in ROWS:
    lines.append(f"{name},{lat},{lon},{'' if tlat is None else tlat},"
                 f"{'' if tlon is None else tlon},{p}")
  return results_lib.read_results("\n".join(lines).encode(), "six.csv")


def _names(results, mask):
  return [str(s) for s in results.source[mask]]


def test_filters_by_error_region_and_confidence(results):
  assert explore.shown(results, explore.Filters()).all()
  assert _names(results, explore.shown(results, explore.Filters(error_max_km=25))) == [
      "paris", "versailles"]
  assert _names(results, explore.shown(results, explore.Filters(error_min_km=25))) == [
      "london-as-paris", "madrid-as-berlin", "tokyo-as-paris"]  # unknown error: not in a range
  assert _names(results, explore.shown(results, explore.Filters(region="country:DE"))) == [
      "madrid-as-berlin"]
  assert _names(results, explore.shown(results, explore.Filters(region="continent:AS"))) == [
      "unknown-truth"]
  assert len(_names(results, explore.shown(results, explore.Filters(region="continent:EU")))) == 5
  both = explore.Filters(error_max_km=5000, min_confidence=0.5, region="continent:EU")
  assert _names(results, explore.shown(results, both)) == ["paris", "madrid-as-berlin"]
  assert both.describe() == ("error 0-5000 km, predicted in Europe, confidence at least 0.5")


def test_error_classes_and_accuracy_at_each_radius():
  errors = np.array([0.0, 1.0, 1.01, 25.0, 200.0, 750.0, 2500.0, 2500.5, np.nan])
  assert explore.error_classes(errors).tolist() == [0, 0, 1, 1, 2, 3, 4, 5, 6]
  acc = explore.accuracy(errors)
  assert acc == {1.0: 2 / 8, 25.0: 4 / 8, 200.0: 5 / 8, 750.0: 6 / 8, 2500.0: 7 / 8}
  assert all(np.isnan(v) for v in explore.accuracy(np.array([np.nan])).values())


def test_summary_and_countries_are_those_of_the_shown_photos(results):
  mask = explore.shown(results, explore.Filters(region="continent:EU"))
  summary = explore.summary_html(results, mask, explore.Filters(region="continent:EU"))
  assert "5 of 6 photos shown" in summary and "true place known for 5" in summary
  # 1 km: paris; 25 km: + versailles; 750 km: + london (344 km, the median); 2,500 km: + madrid
  # (1,868 km); tokyo (9,700 km) never.
  assert ("<td>shown photos</td><td>20.0%</td><td>40.0%</td><td>40.0%</td><td>60.0%</td>"
          "<td>80.0%</td><td>344 km</td>") in summary
  countries = explore.countries_html(results, mask)
  assert countries.index("France") < countries.index("Japan")  # by count, then name order
  assert "<tr><td>France</td><td>2</td><td>50.0%</td><td>100.0%</td>" in countries
  assert "<tr><td>Spain</td><td>1</td><td>0.0%</td>" in countries
  choices = dict((v, k) for k, v in explore.region_choices(results))
  assert choices[""] == "All photos (6)" and choices["continent:EU"] == "Europe (5)"
  assert choices["country:FR"] == "France (4)" and choices["country:JP"] == "Japan (1)"


def _decode(b64: str, dtype) -> np.ndarray:
  return np.frombuffer(base64.b64decode(b64), dtype)


def test_the_map_payload_holds_every_shown_point(results):
  mask = explore.shown(results, explore.Filters(error_max_km=1000))
  data = json.loads(explore.payload(results, mask, selected=2, move="all"))
  points = data["explore"]
  assert points["n"] == 3 and _decode(points["row"], np.int32).tolist() == [0, 1, 2]
  np.testing.assert_allclose(_decode(points["lat"], np.float32), [48.8566, 48.8049, 48.8566],
                             rtol=1e-6)
  assert _decode(points["cls"], np.uint8).tolist() == [0, 1, 3]
  assert data["focus"]["truth"] == [51.5074, -0.1278] and data["focus"]["answer"] == [
      48.8566, 2.3522]
  assert data["focus"]["error_km"] == pytest.approx(343.5, abs=0.5)
  assert data["view"]["bounds"] == data["home"] and data["legend"].startswith("within 1 km 1")
  again = json.loads(explore.payload(results, mask, selected=0))
  assert again["explore"]["key"] == points["key"] and "view" not in again  # same points
  other = json.loads(explore.payload(results, explore.shown(results, explore.Filters())))
  assert other["explore"]["key"] != points["key"]
  assert _decode(other["explore"]["cls"], np.uint8)[-1] == len(explore.CLASSES) - 1


def test_photos_are_opened_from_trusted_paths_only(tmp_path):
  photo = tmp_path / "x.jpg"
  photo.write_bytes(b"jpeg bytes")
  assert explore.PhotoFinder("", trust_paths=True).read(str(photo)) == b"jpeg bytes"
  assert explore.PhotoFinder("").read(str(photo)) is None  # an uploaded file's paths: never
  lines = f"source,latitude,longitude\n{photo},48.85,2.35\nelsewhere.jpg,48.85,2.35\n"
  results = results_lib.read_results(lines.encode(), "mine.csv")
  opened = explore.Opened(results, explore.PhotoFinder("", trust_paths=True))
  answered = explore.inspector_html(opened, 0, lambda name, data: f"[{name}: {len(data)} bytes]")
  assert "<b>In mine.csv</b>" in answered and answered.endswith("[x.jpg: 10 bytes]")
  assert "The photo is not at hand here" in explore.inspector_html(opened, 1, lambda n, d: "")


GEOESTIMATION_IM2GPS = (pathlib.Path(__file__).resolve().parents[1] / "fixtures"
                        / "geoestimation_im2gps.csv")


def test_opening_a_results_csv_clears_the_dropdown_of_sources(tmp_path):
  """After 'Open a results CSV' the dropdown must not go on naming the source shown before."""
  import gradio as gr  # pylint: disable=g-import-not-at-top
  from demo import explore_tab  # pylint: disable=g-import-not-at-top
  label = "eval/geo_testsets_im2gps.csv"
  demo = explore_tab.ExploreTab(  # the Explore tab's handlers: opening files needs no model
      answerer=None, data_dir=str(tmp_path),
      explorable={label: (str(GEOESTIMATION_IM2GPS),
                          explore.PhotoFinder(str(tmp_path), trust_paths=True))})
  with gr.Blocks() as blocks:
    explore_tab.layout(demo)
  handlers = {fn.api_name: fn for fn in blocks.fns.values()}
  source = next(b for b in blocks.blocks.values() if b.elem_id == "explore-source")
  for api_name in ("explore", "explore_file"):
    assert handlers[api_name].outputs[-1] is source, api_name
  chosen = demo.open_results(label)
  assert len(chosen) == len(handlers["explore"].outputs)
  assert "<b>237 of 237 photos shown</b>" in chosen[4]
  upload = tmp_path / "other_method.csv"
  upload.write_bytes(GEOESTIMATION_IM2GPS.read_bytes())
  opened = demo.open_results_file([str(upload)])
  assert len(opened) == len(handlers["explore_file"].outputs)
  assert opened[-1]["value"] is None  # no longer the evaluation chosen before
  assert opened[-1]["info"] == "showing other_method.csv, opened from this computer"
  # The file's own accuracies (13.5 / 35.0 / 49.8 / 64.1 / 79.7 %, median 212 km), and why its
  # last lines are no photos.
  assert ("<td>shown photos</td><td>13.5%</td><td>35.0%</td><td>49.8%</td><td>64.1%</td>"
          "<td>79.7%</td><td>212 km</td>") in opened[4]
  assert "2 lines of other_method.csv after its blank line 239 left out" in opened[7]
  # Choosing a source again puts the dropdown's usual hint back.
  assert demo.open_results(label)[-1]["info"] == explore_tab.SOURCE_INFO
  refused = demo.open_results_file([str(tmp_path / "gone.csv")])
  assert refused[0] is None and refused[-1]["value"] is None
