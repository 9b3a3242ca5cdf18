"""Answers from a model's raw outputs: places, confidence, tags, landmark, neighbours, truth.

The ModelRunner (jaxgeo.predict.runner) gives arrays; this turns them into the dataclasses of
jaxgeo.predict.answers with what a run knows beside its weights: the hierarchy's cells, the
offline gazetteer's names, the tag vocabulary and its LocSens scorer, landmark ids and names,
the landmark index and the retrieval gallery of the hybrid answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import ml_collections
import numpy as np

from jaxgeo.evaluators import calibration
from jaxgeo.geo import distance, gazetteer as gazetteer_lib, hierarchy as hierarchy_lib
from jaxgeo.geo.hierarchy import Hierarchy
from jaxgeo.predict import coarse as coarse_lib
from jaxgeo.predict.answers import (GalleryMatch, Granularity, HeatCell, IndexMatch, Landmark,
                                    Place, Prediction, Tag, TrueLocation)
from jaxgeo.predict.photos import LoadedPhoto
from jaxgeo.retrieval import gallery as gallery_lib

if TYPE_CHECKING:
  from jaxgeo.locsens.ranking import LocSensScorer
  from jaxgeo.predict.landmark_index import LandmarkIndex

HIERARCHY = hierarchy_lib.NAME
DEFAULT_LANDMARK_THRESHOLD = 0.5
MAX_MATCHES = 10  # gallery photos shown with a hybrid answer
HEAT_MASS = 0.99  # the heat map shows the best cells holding this much of the probability...
HEAT_CELLS = 256  # ...but at most this many


@dataclasses.dataclass
class AnswerAssembler:
  """What a run knows beside its weights, and how its raw outputs become Predictions.

  `top_k` and `num_tags` must be the runner's (the index search and LocSens give as many as the
  model's top classes and tags). Options may change between calls (tests change the threshold,
  the scorer and the index); calls that do not change them may run at once.
  """
  hierarchy: Hierarchy | None = None
  tags: Sequence[str] | None = None  # the tag head's vocabulary
  landmark_ids: np.ndarray | None = None  # GLDv2 landmark id of each landmark class
  landmark_names: dict[int, str] | None = None
  top_k: int = 5
  num_tags: int = 10
  landmark_threshold: float = DEFAULT_LANDMARK_THRESHOLD
  landmark_index: LandmarkIndex | None = None  # photos to show beside a landmark answer
  tag_ranker: LocSensScorer | None = None  # ranks tags for a place (else the tag head's)
  # The hybrid answer: a retrieval gallery and the run config's `retrieval` settings.
  gallery: gallery_lib.Gallery | None = None
  retrieval: ml_collections.ConfigDict | None = None
  _tokens: dict[str, list[str]] = dataclasses.field(default_factory=dict, init=False,
                                                    repr=False)

  def __post_init__(self):
    self.tags = list(self.tags) if self.tags is not None else []
    self.landmark_names = self.landmark_names or {}
    self.top_k = int(self.top_k)
    self.num_tags = int(self.num_tags)
    self.landmark_threshold = float(self.landmark_threshold)
    if self.hierarchy is None:  # the hybrid moves a place the hierarchy gave
      self.gallery = None

  def assemble(self, out: dict[str, np.ndarray], photos: Sequence[LoadedPhoto], *,
               locations: Sequence[tuple[float, float] | None],
               true_locations: Sequence[tuple[float, float] | None], coarse: bool,
               five_crop: bool, online_names: bool, heat: bool,
               warning: str = "") -> list[Prediction]:
    """The Prediction of each photo from the runner's outputs for them (Predictor.predict_batch
    says what the options do); `warning` goes on every answer (the model card's)."""
    places = self._places(out, coarse, online_names)
    # The hybrid moves the top-1 place onto the gallery photos' (never in coarse mode: they pin
    # a place to metres).
    matches = [None] * len(photos)
    if self.gallery is not None and not coarse:
      places, matches = self._hybrid(out, places, online_names)
    within = self._within(out, places)
    # LocSens ranks tags for a place: the caller's, else the photo's EXIF GPS, else the
    # predicted top-1.
    tag_locations = []
    for i, photo in enumerate(photos):
      where = None if coarse else locations[i] or photo.gps or (
          (places[i][0].latitude, places[i][0].longitude) if places[i] else None)
      tag_locations.append(None if where is None else (float(where[0]), float(where[1])))
    tags, tag_source = self._tags(out, tag_locations)
    if coarse:  # tags name places ("eiffel tower", "brooklyn"): a coarse answer has none
      tags, tag_source = [[] for _ in photos], ["none"] * len(photos)
    results = []
    for i, photo in enumerate(photos):
      truth = self._true_location(photo, true_locations[i], places[i], coarse)
      used = tag_locations[i] if tag_source[i] == "locsens" else None
      results.append(Prediction(
          source=photo.name, places=places[i],
          granularities=self._granularities(out, i, coarse),
          tags=tags[i], tag_source=tag_source[i], tag_location=used,
          landmark=None if coarse else self._landmark(out, i),
          within_km=None if coarse or not places[i] else within[i],
          neighbours=None if coarse else self._neighbours(out, i),
          true_location=truth, coarse=coarse, five_crop=five_crop, warning=warning,
          method="hybrid" if matches[i] is not None else HIERARCHY,
          gallery=self.gallery.spec if matches[i] is not None else "",
          gallery_matches=matches[i],
          image_embedding=out["tag/embedding"][i] if "tag/embedding" in out else None,
          heat=(self._heat(out["hierarchy/probs"][i]) if heat and not coarse
                and self.hierarchy is not None else None)))
    return results

  def distributions(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The whole distributions of a `full` run, named by partition, "hierarchy", "tags" and
    "landmarks"."""
    partitions = self.hierarchy.names if self.hierarchy is not None else ()
    names = {f"geo/{n}/probs": n for n in partitions}
    names.update({"hierarchy/probs": HIERARCHY, "tag/probs": "tags",
                  "landmark/probs": "landmarks"})
    return {names[k]: v for k, v in out.items() if k in names}

  def tags_at(self, prediction: Prediction, location: tuple[float, float]) -> list[Tag]:
    """The photo's tags re-ranked by LocSens for another location, without running the model.

    Without a LocSens scorer the tag head's ranking does not depend on the location, so the
    prediction's own tags come back.
    """
    if self.tag_ranker is None or prediction.image_embedding is None or prediction.coarse:
      return list(prediction.tags)
    ids, scores = self.tag_ranker.rank_tags(prediction.image_embedding, location[0],
                                            location[1], k=self.num_tags)
    return [Tag(self.tags[int(t)], float(s)) for t, s in zip(ids, scores)]

  # -- each part of an answer

  def _cell_tokens(self, partition) -> list[str]:
    if partition.name not in self._tokens:
      self._tokens[partition.name] = partition.tokens
    return self._tokens[partition.name]

  def _places(self, out, coarse: bool, online_names: bool) -> list[list[Place]]:
    if self.hierarchy is None:
      return [[] for _ in range(len(next(iter(out.values()))))]
    if coarse:
      return self._coarse_places(out)
    part = self.hierarchy.finest
    classes, probs = out[f"{HIERARCHY}/classes_top"], out[f"{HIERARCHY}/probs_top"]
    lat, lon = part.latitudes[classes], part.longitudes[classes]
    names = gazetteer_lib.default_gazetteer().lookup(lat.ravel(), lon.ravel())
    tokens = self._cell_tokens(part)
    places = []
    for i in range(classes.shape[0]):
      row = []
      for j in range(classes.shape[1]):
        name = names[i * classes.shape[1] + j]
        online = None
        if online_names and j == 0:  # Nominatim allows 1 request/s: top-1 only
          online = gazetteer_lib.online_name(float(lat[i, j]), float(lon[i, j]))
        row.append(Place(latitude=float(lat[i, j]) + 0.0, longitude=float(lon[i, j]) + 0.0,
                         probability=float(probs[i, j]), partition=part.name,
                         class_id=int(classes[i, j]), cell=tokens[classes[i, j]],
                         name=name.label, country_code=name.country_code, online_name=online))
      places.append(row)
    return places

  def _coarse_places(self, out) -> list[list[Place]]:
    """The coarsest partition's best classes as coarse regions (jaxgeo.predict.coarse).

    Each place is a region's centre with the summed probability of the classes inside it,
    named by the country of its most probable class. No class id and no cell: a small class's
    id or token pins its training photos' mean to a few hundred metres.
    """
    part = self.hierarchy.partitions[0]
    classes, probs = out["coarse/classes_top"], out["coarse/probs_top"]
    lat, lon = part.latitudes[classes], part.longitudes[classes]
    names = gazetteer_lib.default_gazetteer().lookup(lat.ravel(), lon.ravel())
    places = []
    for i in range(classes.shape[0]):
      regions: dict[tuple[float, float], Place] = {}  # best first (insertion order)
      for j in range(classes.shape[1]):
        centre = coarse_lib.region_centre(float(lat[i, j]), float(lon[i, j]))
        if centre in regions:
          regions[centre] = dataclasses.replace(
              regions[centre], probability=regions[centre].probability + float(probs[i, j]))
          continue
        name = names[i * classes.shape[1] + j]
        regions[centre] = Place(latitude=centre[0], longitude=centre[1],
                                probability=float(probs[i, j]), partition=part.name,
                                class_id=-1, cell="", name=name.country_label,
                                country_code=name.country_code)
      places.append(sorted(regions.values(), key=lambda place: -place.probability))
    return places

  def _hybrid(self, out, places: list[list[Place]], online_names: bool
              ) -> tuple[list[list[Place]], list[list[GalleryMatch] | None]]:
    """Each photo's places with the hybrid's answer first, and the gallery photos behind it.

    The answer's place is the finest cell holding the chosen gallery photo, at that photo's
    coordinate, with the cell's probability under the hierarchy (the confidence stays the
    cells'); the other places follow. A photo whose best cells hold no nearby gallery photo
    keeps the hierarchy's answer (no matches).
    """
    cells, probs = out["hybrid/cells"], out["hybrid/cell_probs"]
    answers = gallery_lib.answer(self.gallery, self.retrieval, out["embedding"], self.hierarchy,
                                 cells, np.log(np.maximum(probs, 1e-30)))
    vote, found = answers.hybrid, answers.neighbours
    finest = self.hierarchy.finest
    names = gazetteer_lib.default_gazetteer().lookup(vote.latitude, vote.longitude)
    tokens = self._cell_tokens(finest)
    new_places, matches = [], []
    for i, choice in enumerate(vote.choice):
      if choice < 0:
        new_places.append(places[i])
        matches.append(None)
        continue
      cell = int(found.cell[i, choice])
      lat, lon = float(vote.latitude[i]), float(vote.longitude[i])
      online = gazetteer_lib.online_name(lat, lon) if online_names else None
      top = Place(latitude=lat, longitude=lon, probability=float(probs[i][cells[i] == cell][0]),
                  partition=finest.name, class_id=cell, cell=tokens[cell], name=names[i].label,
                  country_code=names[i].country_code, online_name=online)
      rest = [p for p in places[i] if p.class_id != cell]
      new_places.append([top, *rest][:max(len(places[i]), 1)])
      deciding = gallery_lib.deciding_columns(vote, i)
      matches.append([GalleryMatch(
          photo_id=str(self.gallery.photo_id[found.row[i, j]]),
          latitude=float(found.latitude[i, j]), longitude=float(found.longitude[i, j]),
          similarity=float(found.similarity[i, j]),
          record=int(self.gallery.record[found.row[i, j]])) for j in deciding[:MAX_MATCHES]])
    return new_places, matches

  def _heat(self, probs: np.ndarray) -> list[HeatCell]:
    """The best cells of one photo's hierarchy distribution, down to HEAT_MASS in all."""
    probs = np.asarray(probs, np.float64)
    order = np.argsort(-probs, kind="stable")[:HEAT_CELLS]
    kept = int(np.searchsorted(np.cumsum(probs[order]), HEAT_MASS * probs.sum())) + 1
    tokens = self._cell_tokens(self.hierarchy.finest)
    return [HeatCell(tokens[c], float(probs[c])) for c in order[:kept]]

  def _within(self, out, places: list[list[Place]]) -> list[dict[float, float] | None]:
    """The hierarchy's probability that the true place is within 25 / 200 / 750 km of each
    photo's answer (the evaluator measures how well calibrated it is)."""
    if self.hierarchy is None:
      return [None] * len(places)
    lat = np.array([p[0].latitude if p else 0.0 for p in places])
    lon = np.array([p[0].longitude if p else 0.0 for p in places])
    within = calibration.probability_within(np, out["hierarchy/probs"], lat, lon,
                                            self.hierarchy.finest.latitudes,
                                            self.hierarchy.finest.longitudes)
    return [{r: float(p[i]) for r, p in within.items()} for i in range(len(places))]

  def _granularities(self, out, i: int, coarse: bool) -> list[Granularity]:
    """Each partition's top class and its probability, then the hierarchy's; in coarse mode
    only the coarsest partition's probability, with no class (it would pin a small area)."""
    if self.hierarchy is None:
      return []
    if coarse:
      coarsest = self.hierarchy.partitions[0]
      return [Granularity(coarsest.name, coarsest.num_classes, -1,
                          float(out[f"geo/{coarsest.name}/prob"][i]))]
    rows = [Granularity(p.name, p.num_classes, int(out[f"geo/{p.name}/class"][i]),
                        float(out[f"geo/{p.name}/prob"][i])) for p in self.hierarchy.partitions]
    rows.append(Granularity(HIERARCHY, self.hierarchy.finest.num_classes,
                            int(out["hierarchy/classes_top"][i, 0]),
                            float(out["hierarchy/probs_top"][i, 0])))
    return rows

  def _tags(self, out, locations) -> tuple[list[list[Tag]], list[str]]:
    """Tags of each photo: LocSens at its location when both exist, else the tag head's."""
    n = len(locations)
    if "tag/embedding" not in out or not self.tags:
      return [[] for _ in range(n)], ["none"] * n
    tags = [[Tag(self.tags[int(t)], float(p)) for t, p in zip(ids, probs)]
            for ids, probs in zip(out["tag/ids_top"], out["tag/probs_top"])]
    sources = ["tag_head"] * n
    located = [i for i, where in enumerate(locations) if where is not None]
    if self.tag_ranker is not None and located:
      ids, scores = self.tag_ranker.rank_tags(
          out["tag/embedding"][located], np.array([locations[i][0] for i in located]),
          np.array([locations[i][1] for i in located]), k=self.num_tags)
      for row, i in enumerate(located):
        tags[i] = [Tag(self.tags[int(t)], float(s)) for t, s in zip(ids[row], scores[row])]
        sources[i] = "locsens"
    return tags, sources

  def _landmark(self, out, i: int) -> Landmark | None:
    if self.landmark_ids is None or "landmark/class" not in out:
      return None
    cls = int(out["landmark/class"][i])
    gid = int(self.landmark_ids[cls])
    confidence = float(out["landmark/prob"][i])
    return Landmark(found=confidence >= self.landmark_threshold, landmark_id=gid,
                    name=self.landmark_names.get(gid, f"landmark {gid}"),
                    confidence=confidence, threshold=self.landmark_threshold, class_id=cls)

  def _neighbours(self, out, i: int) -> list[IndexMatch] | None:
    if self.landmark_index is None or "landmark/descriptor" not in out:
      return None
    return self.landmark_index.search(out["landmark/descriptor"][i], self.top_k)

  def _true_location(self, photo: LoadedPhoto, given, places: list[Place],
                     coarse: bool) -> TrueLocation | None:
    where, source = (photo.gps, "exif") if photo.gps else (given, "label")
    if where is None:
      return None
    lat, lon = float(where[0]), float(where[1])
    if coarse:  # the photo's own position is as sensitive as the prediction: its region only
      return TrueLocation(*coarse_lib.region_centre(lat, lon), source, None)
    km = (float(distance.great_circle_km(lat, lon, places[0].latitude, places[0].longitude))
          if places else None)
    return TrueLocation(lat, lon, source, km)
