"""What a coarse answer may reveal: one definition for the Predictor, its CLI and the demo.

A coarse answer (a photo with faces, a public demo, `--coarse`) names a region, never a point:
coordinates in whole degrees (at most ~111 km off), cells no finer than S2 level 6 (~150 km
across), and on a map a box of a fixed 10-degree grid, whose centre does not give the answer
away as a box centred on it would.
"""

from __future__ import annotations

import math

import numpy as np

from jaxgeo.geo import s2

DECIMALS = 0  # coordinates rounded to whole degrees
MAX_CELL_LEVEL = 6  # S2 level-6 cells are ~150 km across
BOX_DEGREES = 10.0  # side of the grid cells shown on a map


def round_coordinates(lat, lon) -> tuple:
  """Latitudes and longitudes (scalars or arrays) to whole degrees."""
  if np.ndim(lat) == 0:
    return round(float(lat), DECIMALS), round(float(lon), DECIMALS)
  return np.round(lat, DECIMALS), np.round(lon, DECIMALS)


def cell_ids(ids: np.ndarray) -> np.ndarray:
  """S2 cell ids cut to at most MAX_CELL_LEVEL: a small cell (few training photos) must not
  give a fine location away through its token."""
  ids = np.asarray(ids, np.uint64)
  cut = ids.copy()
  deep = s2.cell_levels(ids) > MAX_CELL_LEVEL
  cut[deep] = s2.cell_parents(ids[deep], MAX_CELL_LEVEL)
  return cut


def box(lat: float, lon: float, degrees: float = BOX_DEGREES
        ) -> tuple[float, float, float, float]:
  """(south, west, north, east) of the grid cell holding (lat, lon)."""
  south = min(math.floor(lat / degrees) * degrees, 90.0 - degrees)
  west = min(math.floor(lon / degrees) * degrees, 180.0 - degrees)
  return south, west, south + degrees, west + degrees
