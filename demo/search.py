"""The search tab's back end: indexed photos for a tag near a place, ranked by LocSens.

A thin adapter over `jaxgeo.locsens` (issue 5): LocSens ranks the photos of the split its
embeddings were extracted from (the stage-2 config's `test` split); this module adds the radius
filter, reads the photos' JPEGs from the built TFDS split (records are in the same order as the
embedding rows), and keeps the demo serving, with a clear message, for runs without LocSens.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from absl import logging
from PIL import Image

from jaxgeo.data import pipeline
from jaxgeo.geo import distance
from jaxgeo.locsens import ranking
from jaxgeo.run import restore

# Candidates LocSens returns before the radius filter keeps those near the place.
CANDIDATES = 500
UNAVAILABLE_HINT = ("train LocSens on this workdir first (a config with a `locsens` section, "
                    "e.g. the quickstart; see README), then restart the demo.")


@dataclasses.dataclass(frozen=True)
class Hit:
  """One indexed photo found by a search."""
  photo_id: str
  latitude: float
  longitude: float
  score: float
  distance_km: float
  image: Image.Image

  @property
  def caption(self) -> str:
    return f"score {self.score:.2f}, {self.distance_km:,.0f} km away"


class PhotoSearch:
  """Searches the photos of a LocSens index for (tag, place) queries."""

  def __init__(self, scorer, index, source):
    """`source[index.record[i]]` has the JPEG of index row i."""
    self.scorer, self.index, self.source = scorer, index, source

  def __len__(self) -> int:
    return len(self.index)

  def search(self, tag: str, location: tuple[float, float], radius_km: float = 1000.0,
             limit: int = 12) -> list[Hit]:
    """The best `limit` photos for `tag` within `radius_km` of `location`, best first.

    Raises:
      KeyError: the tag is not in the vocabulary (the message says so).
    """
    tag_id = self.scorer.tag_id(tag)
    rows, scores = self.scorer.search_ids(np.array([tag_id]), location[0], location[1],
                                          index=self.index, k=CANDIDATES)
    rows, scores = rows[0], scores[0]
    km = distance.great_circle_km(location[0], location[1], self.index.latitude[rows],
                                  self.index.longitude[rows])
    near = np.flatnonzero(km <= radius_km)[:limit]
    hits = []
    for i in near:
      row = int(rows[i])
      record = self.source[int(self.index.record[row])]
      photo_id = self.index.photo_id[row]
      hits.append(Hit(photo_id=photo_id.decode() if isinstance(photo_id, bytes) else str(photo_id),
                      latitude=float(self.index.latitude[row]),
                      longitude=float(self.index.longitude[row]), score=float(scores[i]),
                      distance_km=float(km[i]),
                      image=Image.open(io.BytesIO(record["image"])).convert("RGB")))
    return hits


def load_search(workdir: str, data_dir: str | None = None,
                scorer=None) -> tuple[PhotoSearch | None, str]:
  """The workdir's photo search, or None and the reason (shown in the tab) without LocSens.

  `scorer`: the workdir's LocSens scorer if already loaded (the Predictor's tag ranker).
  """
  scorer = scorer or ranking.load_locsens(workdir)
  if scorer is None:
    return None, f"{workdir} has no trained LocSens model: {UNAVAILABLE_HINT}"
  spec = scorer.config["test"]
  try:
    photos = scorer.load_index("test")
  except (FileNotFoundError, ValueError) as e:
    return None, f"The LocSens index photos ({spec}) cannot be loaded: {e}"
  index = scorer.make_index(photos)
  stage1 = scorer.config.stage1_workdir or str(workdir)
  data_dir = data_dir or restore.data_dir_of(restore.load_config(stage1), stage1)
  name, split = pipeline.parse_dataset(spec)
  try:
    source = pipeline.open_split(name, split, data_dir)
  except Exception as e:  # pylint: disable=broad-except  (TFDS raises several kinds)
    return None, f"The photos of {spec} are not readable in {data_dir}: {e}"
  if len(source) != len(photos):
    return None, (f"{spec} in {data_dir} has {len(source)} records but LocSens indexed "
                  f"{len(photos)}: re-extract the embeddings.")
  logging.info("Search: %d photos of %s indexed by LocSens.", len(index), spec)
  return PhotoSearch(scorer, index, source), ""
