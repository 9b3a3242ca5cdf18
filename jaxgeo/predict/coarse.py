"""What a coarse answer may reveal: one definition for the Predictor, its CLI and the demo.

A coarse answer (a photo with faces, a public demo, `--coarse`) names a region, never a point:
the cell of a fixed 10-degree grid (~1,000 km) that holds the answer, and the country. Every
output of it (CSV, GeoJSON, the scripting API's JSON, the map, the page) carries the region's
centre and nothing finer: no class ids or S2 cells (a small class pins its training photos'
mean to a few hundred metres), no per-partition figures, and the photo's own GPS only as its
region. A fixed grid's centre does not give the answer away as a box centred on it would.
"""

from __future__ import annotations

import math

BOX_DEGREES = 10.0  # side of the grid cells


def region_centre(lat: float, lon: float) -> tuple[float, float]:
  """The centre of the grid cell holding (lat, lon): all a coarse answer says of a point."""
  south, west, north, east = box(lat, lon)
  return (south + north) / 2, (west + east) / 2


def box(lat: float, lon: float, degrees: float = BOX_DEGREES
        ) -> tuple[float, float, float, float]:
  """(south, west, north, east) of the grid cell holding (lat, lon)."""
  south = min(math.floor(lat / degrees) * degrees, 90.0 - degrees)
  west = min(math.floor(lon / degrees) * degrees, 180.0 - degrees)
  return south, west, south + degrees, west + degrees
