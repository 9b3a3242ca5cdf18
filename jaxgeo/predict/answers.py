"""What jaxgeo says about a photo: places, per-partition confidence, tags, landmark, truth.

Plain dataclasses, so the Predictor, the batch CLI (CSV, GeoJSON) and the demo share one
shape of answer and `Prediction.to_dict()` gives its JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Place:
  """One candidate place: a partition class, its coordinate and probability, a readable name."""
  latitude: float
  longitude: float
  probability: float  # hierarchy: product rule renormalised over the finest classes
  partition: str  # the partition of `class_id` (the finest; the coarsest in coarse mode)
  class_id: int  # -1 in coarse mode (jaxgeo.predict.coarse)
  cell: str  # S2 cell token of the class; "" in coarse mode
  name: str  # offline gazetteer: "City, Country" ("Country" in coarse mode)
  country_code: str
  online_name: str | None = None  # Nominatim's address, only when asked for


@dataclasses.dataclass(frozen=True)
class Granularity:
  """How sure one partition (or the hierarchy) is: its top class and that class's probability."""
  name: str  # partition name, or "hierarchy"
  num_classes: int
  class_id: int  # -1 in coarse mode
  probability: float


@dataclasses.dataclass(frozen=True)
class Tag:
  tag: str
  score: float  # tag head: softmax probability; LocSens: the scorer's score


@dataclasses.dataclass(frozen=True)
class Landmark:
  """The landmark head's answer; `found` is False below the threshold ("no landmark")."""
  found: bool
  landmark_id: int  # GLDv2 landmark id of the best class (also when not found)
  name: str  # from the GLDv2 category, else "landmark <id>"
  confidence: float
  threshold: float
  class_id: int

  @property
  def label(self) -> str:
    if self.found:
      return self.name
    return f"no landmark (best guess {self.name}, {self.confidence:.2f} < {self.threshold:.2f})"


@dataclasses.dataclass(frozen=True)
class IndexMatch:
  """A landmark-index photo near the query in descriptor space."""
  image_id: str
  landmark_id: int  # the index's landmark id (GLDv2 index ids are not train ids); -1 unknown
  similarity: float  # cosine similarity of L2-normalised GeM descriptors


@dataclasses.dataclass(frozen=True)
class GalleryMatch:
  """A geotagged gallery photo that decided the hybrid answer (jaxgeo.retrieval)."""
  photo_id: str
  latitude: float
  longitude: float
  similarity: float  # cosine of the pooled embeddings
  record: int  # its record number in the gallery's split (`gallery` of the Prediction)


@dataclasses.dataclass(frozen=True)
class HeatCell:
  """One cell of the hierarchy's distribution over the finest partition (the demo's heat map)."""
  cell: str  # S2 cell token
  probability: float


@dataclasses.dataclass(frozen=True)
class TrueLocation:
  """Where the photo was taken, from its EXIF GPS (or a data set's label)."""
  latitude: float
  longitude: float
  source: str  # "exif" or "label"
  distance_km: float | None  # great-circle distance to the top-1 place; None without places


@dataclasses.dataclass
class Prediction:
  """Everything the model says about one photo. Fields a run cannot give are empty or None."""
  source: str  # file path, data set id, or "<bytes>" / "<image>"
  places: list[Place]  # best first
  granularities: list[Granularity]  # coarse to fine, then the hierarchy
  tags: list[Tag]  # best first; none in coarse mode
  tag_source: str  # "tag_head", "locsens" or "none"
  tag_location: tuple[float, float] | None  # the location LocSens ranked the tags for
  landmark: Landmark | None  # None: no landmark head (or coarse mode)
  neighbours: list[IndexMatch] | None  # None: no landmark index (or coarse mode)
  true_location: TrueLocation | None
  coarse: bool
  five_crop: bool
  # What the model's training says of every answer (a toy-world model's, jaxgeo.predict.model_card).
  warning: str = ""
  # How the top-1 coordinate was found: "hierarchy" (its cell's mean) or "hybrid" (the gallery
  # photos inside the best cells moved it onto the place they agree on).
  method: str = "hierarchy"
  gallery: str = ""  # the gallery's split, `name:split`, with method "hybrid"
  # The gallery photos that decided a hybrid answer, the answered one first; None without.
  gallery_matches: list[GalleryMatch] | None = None
  # The hierarchy's probability that the true place is within r km of the top-1 answer, by r
  # (25, 200, 750; its calibration is measured by the evaluator); None in coarse mode.
  within_km: dict[float, float] | None = None
  image_embedding: np.ndarray | None = dataclasses.field(default=None, repr=False)  # tag head
  # The most probable cells of the hierarchy, holding 99% of its probability (at most 256;
  # assembler.HEAT_MASS and HEAT_CELLS), when asked for (`heat=True`, as the demo does); none in
  # coarse mode. A picture of the answer's certainty, left out of to_dict (the CLI's GeoJSON).
  heat: list[HeatCell] | None = dataclasses.field(default=None, repr=False)

  @property
  def top(self) -> Place | None:
    return self.places[0] if self.places else None

  def to_dict(self) -> dict[str, Any]:
    """Plain JSON-able values (the embedding left out)."""
    out = dataclasses.asdict(self)
    out.pop("image_embedding")
    out.pop("heat")
    if self.landmark is not None:
      out["landmark"]["label"] = self.landmark.label
    return out

