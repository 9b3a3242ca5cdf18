"""What the map draws: pins, the selected photo's heat map and places, and the views it fits."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from demo import library, map_view, privacy
from jaxgeo.geo import s2
from jaxgeo.predict import answers
from tests.demo.predictions import paris_prediction


def _paris_heat() -> list[answers.HeatCell]:
  """Paris's level-6 cell and its neighbour to the north, 0.7 and 0.2 of the probability."""
  ids = s2.latlng_to_cell_ids(np.array([48.8584, 50.5]), np.array([2.2945, 2.2945]), level=6)
  tokens = s2.cell_ids_to_tokens(ids)
  return [answers.HeatCell(tokens[0], 0.7), answers.HeatCell(tokens[1], 0.2)]


def _entries() -> list[library.Entry]:
  fine = library.Entry("paris.jpg", prediction=paris_prediction(heat=_paris_heat()),
                       decision=privacy.decide(0))
  coarse = library.Entry("portrait.jpg", prediction=paris_prediction(coarse=True),
                         decision=privacy.decide(1))
  unreadable = library.Entry("notes.jpg", error="notes.jpg: not an image")
  return [fine, coarse, unreadable]


def test_pins_of_every_placed_photo_and_the_selected_focus():
  data = json.loads(map_view.payload(_entries(), 0))
  fine, coarse = data["pins"]  # the unreadable upload has no pin
  assert fine == {"i": 0, "lat": 48.8584, "lon": 2.2945, "label": "paris.jpg"}
  # A coarse answer is its 10-degree box, never a point.
  assert coarse == {"i": 1, "box": [40.0, 0.0, 50.0, 10.0], "label": "portrait.jpg"}
  focus = data["focus"]
  assert data["selected"] == 0 and focus["answer"] == [48.8584, 2.2945]
  assert focus["alternatives"] == [[51.5074, -0.1278]]  # London
  assert focus["truth"] == [48.85656, 2.29236] and focus["error_km"] == 0.16
  cells = focus["cells"]
  assert [c["p"] for c in cells] == [0.7, 0.2]
  # Each cell's polygon holds the point it was made from.
  for cell, (lat, lon) in zip(cells, [(48.8584, 2.2945), (50.5, 2.2945)]):
    ring = np.array(cell["ring"])
    assert len(ring) == 4
    assert ring[:, 0].min() < lat < ring[:, 0].max() and ring[:, 1].min() < lon < ring[:, 1].max()
  assert "best 2 cells (90% of it)" in data["legend"] and "green: EXIF GPS" in data["legend"]
  assert "view" not in data  # the view moves only when asked
  # Home: every answer, the coarse box included, in a view at least 20 degrees across.
  south, west, north, east = data["home"]
  assert south <= 40 and north >= 50 and west <= 0 and east >= 10 and north - south >= 20


def test_views_fit_the_library_or_the_selected_photo():
  entries = _entries()
  everything = json.loads(map_view.payload(entries, 0, move="all"))
  assert everything["view"]["bounds"] == everything["home"]
  selected = json.loads(map_view.payload(entries, 0, move="selected"))
  south, west, north, east = selected["view"]["bounds"]
  assert south <= 48.85 <= north and west <= 2.29 <= east  # answer and true place
  assert north - south < 15 and selected["view"]["id"] > everything["view"]["id"]
  coarse = json.loads(map_view.payload(entries, 1, move="selected"))
  assert coarse["focus"] == {"box": [40.0, 0.0, 50.0, 10.0]}  # no point, no heat, no truth
  assert coarse["view"]["bounds"] == [40.0, 0.0, 50.0, 10.0]
  # An unreadable photo selected: pins, but no focus.
  assert "focus" not in json.loads(map_view.payload(entries, 2))


def test_an_unreadable_photo_selected_is_still_the_selection():
  # The library highlights the row the map's `selected` names (library.js follows the map):
  # with no `selected` for a photo with no place, it stayed on the photo selected before.
  data = json.loads(map_view.payload(_entries(), 2))
  assert data["selected"] == 2 and "focus" not in data and "legend" not in data
  assert [p["i"] for p in data["pins"]] == [0, 1]  # still no pin for it
  assert "selected" not in json.loads(map_view.payload(_entries(), None))
  assert "selected" not in json.loads(map_view.payload(_entries(), 3))  # no such photo


def test_cells_on_the_antimeridian_stay_one_small_polygon():
  ids = s2.latlng_to_cell_ids(np.array([-17.0]), np.array([179.99]), level=5)
  heat = [answers.HeatCell(s2.cell_ids_to_tokens(ids)[0], 1.0)]
  (cell,) = map_view.heat_cells(paris_prediction(heat=heat))
  lons = np.array(cell["ring"])[:, 1]
  assert lons.max() - lons.min() < 10


def test_bounds_around_points():
  assert map_view.bounds_around([]) is None
  assert map_view.bounds_around([(48.0, 2.0)]) == [47.0, 1.0, 49.0, 3.0]
  assert map_view.bounds_around([(84.9, 179.9)], 2.0) == pytest.approx([83.9, 178.9, 85.0, 180.0])


def test_search_payload():
  assert json.loads(map_view.search_payload((48.86, 2.35), [(48.0, 2.0)])) == {
      "pins": [], "results": [[48.0, 2.0]], "pick": [48.86, 2.35]}
  assert json.loads(map_view.search_payload(None)) == {"pins": [], "results": []}


def test_basemap_requests_from_the_browser():
  assert map_view.basemap_layer(["l"])["resolution"] == "l"  # Gradio's argument list
  assert map_view.basemap_layer("i")["coast"]["coords"]
  assert map_view.basemap_layer(["x" * 100]) == {"resolution": "xxxxxxxx",
                                                 "note": "no such resolution"}


def test_heat_is_not_part_of_the_exported_answer():
  prediction = paris_prediction(heat=_paris_heat())
  assert "heat" not in prediction.to_dict()
  assert dataclasses.replace(prediction, heat=None).to_dict() == prediction.to_dict()
