"""The search tab's back end: indexed photos for a tag near a place, ranked by LocSens.

A thin adapter: the ranking is LocSens's (`jaxgeo.locsens`, issue 5); this module only turns its
answer into what the tab shows (photos, captions, points on the map) and keeps the demo serving,
with a clear message, for runs that have no LocSens model or no extracted index.
"""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

# The search tab's clickable world map (pixels; the height is half).
MAP_WIDTH = 720
UNAVAILABLE_HINT = ("train LocSens on this workdir first (issue 5: see README, 'LocSens'), then "
                    "restart the demo.")


@dataclasses.dataclass(frozen=True)
class Hit:
  """One indexed photo found by a search."""
  latitude: float
  longitude: float
  image: Image.Image
  caption: str


class PhotoSearch:
  """Searches a workdir's indexed photos for (tag, place) queries."""

  def __init__(self, searcher, photo_bytes):
    self._searcher = searcher
    self._photo_bytes = photo_bytes

  def search(self, tag: str, location: tuple[float, float], radius_km: float = 1000.0,
             limit: int = 12) -> list[Hit]:
    """The best `limit` photos for `tag` within `radius_km` of `location`, best first.

    Raises:
      KeyError: the tag is not in the vocabulary (the message says so).
    """
    hits = []
    for result in self._searcher(tag, location, radius_km, limit):
      image = Image.open(io.BytesIO(self._photo_bytes(result.photo_id))).convert("RGB")
      hits.append(Hit(result.latitude, result.longitude, image,
                      f"{result.score:.2f} | {result.distance_km:,.0f} km"))
    return hits


def load_search(workdir: str, predictor) -> PhotoSearch | None:
  """The workdir's photo search, or None when it has no LocSens model (the tab then says so)."""
  del workdir, predictor  # Wired to jaxgeo.locsens once its API is published.
  return None
