r"""The Predictor: a trained workdir's model, ready for photos, in Python and behind the demo.

  predictor = Predictor.from_workdir("runs/quickstart")
  prediction = predictor.predict("photo.jpg")  # jaxgeo.predict.answers.Prediction

For each photo it gives the top-k places under the hierarchy's product rule (with an offline place
name; when the run's retrieval gallery is built, the top-1 moved by the hybrid onto the place
the gallery photos inside the best cells agree on, with those photos), each partition's
confidence, the hierarchy's best cells (the demo's heat map), tags (the tag head's, or ranked by
the workdir's LocSens scorer for the given place, the EXIF GPS or the predicted place), the
landmark (or "no landmark" below a threshold), the nearest landmark-index photos when
`python -m jaxgeo.predict.build_index` has built an index, and, if the photo carries EXIF GPS,
the true place and the distance to the prediction.

Photos are prepared as evaluation prepares them (upright RGB, shorter side resized to
image_size / 0.875, centre crop; or five crops with averaged softmax). The model runs in one
jitted function over a few fixed batch shapes (powers of two up to `batch_size`), so a stream of
photos never recompiles per batch size. `coarse=True` answers with regions only (jaxgeo.predict.
coarse: a 10-degree grid cell's centre and the country, no class ids, cells or per-partition
figures; the photo's own GPS as its region too) and leaves out the landmark, the index photos
(they pin a place to metres) and the tags (they name places): for photos of people and public
share links.

By default the model runs on one device (a demo's photo at a time gains nothing from more);
`devices=jax.local_devices()` splits each batch over all of this process's devices, as the batch
CLI does for whole collections.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgeo.data import landmark_ids as landmark_ids_lib, transforms
from jaxgeo.evaluators import calibration
from jaxgeo.geo import distance, gazetteer as gazetteer_lib, hierarchy as hierarchy_lib
from jaxgeo.geo.hierarchy import Hierarchy
from jaxgeo.locsens import ranking
from jaxgeo.predict import coarse as coarse_lib, landmark_index, model_card

from jaxgeo.predict.answers import (GalleryMatch, Granularity, HeatCell, IndexMatch, Landmark,
                                    Place, Prediction, Tag, TrueLocation)
from jaxgeo.predict.photos import LoadedPhoto, Photo, load_photo
from jaxgeo.retrieval import gallery as gallery_lib
from jaxgeo.run import distributed, restore

HIERARCHY = hierarchy_lib.NAME
DEFAULT_LANDMARK_THRESHOLD = 0.5
MAX_MATCHES = 10  # gallery photos shown with a hybrid answer
HEAT_MASS = 0.99  # the heat map shows the best cells holding this much of the probability...
HEAT_CELLS = 256  # ...but at most this many


def forward(params, rest, images: jax.Array, *, graphdef, hierarchy: Hierarchy | None, crops: int,
            top_k: int, num_tags: int, full: bool = False,
            hybrid_cells: int = 0) -> dict[str, jax.Array]:
  """Every head's answer for a batch of photos (B * crops images in, B answers out).

  A thin reader of the model's `predict` (one backbone pass, crops voted there): top classes
  and their probabilities, the tag embedding and the landmark descriptor for the index. With
  `full`, the whole distributions come back too (tests, maps); with `hybrid_cells`, the pooled
  embedding and the hierarchy's best cells for the gallery search.
  """
  model = nnx.merge(graphdef, params, rest, copy=True)
  model.eval()
  answers = model.predict(images, crops)
  out = {}
  if hierarchy is not None:
    log_probs = [answers[f"geo/{p.name}"] for p in hierarchy.partitions]
    probs = [jnp.exp(lp) for lp in log_probs]
    for part, p in zip(hierarchy.partitions, probs):
      out[f"geo/{part.name}/class"] = jnp.argmax(p, -1)
      out[f"geo/{part.name}/prob"] = jnp.max(p, -1)
      if full:
        out[f"geo/{part.name}/probs"] = p
    # The product rule in log space, renormalised over the finest classes.
    hier = jax.nn.softmax(hierarchy.combine_log_probs(log_probs), -1)
    out["hierarchy/probs_top"], out["hierarchy/classes_top"] = jax.lax.top_k(
        hier, min(top_k, hier.shape[-1]))
    coarsest = probs[0]
    out["coarse/probs_top"], out["coarse/classes_top"] = jax.lax.top_k(
        coarsest, min(top_k, coarsest.shape[-1]))
    out["hierarchy/probs"] = hier  # for the confidence within 25 / 200 / 750 km of the answer
    if hybrid_cells:
      out["hybrid/cell_probs"], out["hybrid/cells"] = jax.lax.top_k(
          hier, min(hybrid_cells, hier.shape[-1]))
      out["embedding"] = answers["embedding"]
  if "tag" in answers:
    tag_probs = jnp.exp(answers["tag"])
    out["tag/probs_top"], out["tag/ids_top"] = jax.lax.top_k(
        tag_probs, min(num_tags, tag_probs.shape[-1]))
    out["tag/embedding"] = answers["tag_embedding"]
    if full:
      out["tag/probs"] = tag_probs
  if "landmark" in answers:
    landmark = jnp.exp(answers["landmark"])
    out["landmark/class"], out["landmark/prob"] = jnp.argmax(landmark, -1), jnp.max(landmark, -1)
    out["landmark/descriptor"] = answers["landmark_descriptor"]
    if full:
      out["landmark/probs"] = landmark
  return out


def load_tag_ranker(where: str, *, required: bool, tags: Sequence[str]):
  """The trained LocSens scorer of a workdir (jaxgeo.locsens), or None if there is none.

  Its vocabulary must be the tag head's (the scorer ranks the same tag ids); a scorer trained
  over another run is refused with a warning (or an error when `required`).
  """
  scorer = ranking.load_locsens(where, required=required)
  if scorer is not None and list(scorer.vocabulary.tags) != list(tags):
    message = (f"The LocSens scorer in {where} has another tag vocabulary than the run "
               f"({len(scorer.vocabulary)} vs {len(tags)} tags): was it trained over this run?")
    if required:
      raise ValueError(message)
    logging.warning("%s Tags come from the tag head.", message)
    return None
  if scorer is not None:
    logging.info("Tags are ranked by the LocSens scorer of %s.", where)
  return scorer


@functools.cache
def decode_pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
  return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="jaxgeo-decode")


def bucket_sizes(batch_size: int, multiple: int = 1) -> tuple[int, ...]:
  """The padded batch shapes: 1, 2, 4, ... times `multiple` (the devices a batch is split over)
  up to batch_size, itself a multiple (at most log2 + 1 compilations)."""
  sizes, b = [], multiple
  while b < batch_size:
    sizes.append(b)
    b *= 2
  return (*sizes, batch_size)


# ------------------------------------------------------------------------------------------------
# The Predictor


class Predictor:
  """A trained model with its partitions, vocabulary and landmark names, ready for photos.

  Use `Predictor.from_workdir`; the constructor takes the pieces (benchmarks build a model
  directly). Not thread-safe for concurrent calls that change options; predictions are.
  """

  def __init__(self, graphdef, params, rest, *, image_size: int, hierarchy: Hierarchy | None,
               tags: Sequence[str] | None = None, landmark_ids: np.ndarray | None = None,
               landmark_names: dict[int, str] | None = None, batch_size: int = 16,
               top_k: int = 5, num_tags: int = 10,
               landmark_threshold: float = DEFAULT_LANDMARK_THRESHOLD,
               five_crop: bool = False, landmark_index=None, tag_ranker=None, step: int = 0,
               workdir: str | None = None, card=None,
               gallery: gallery_lib.Gallery | None = None,
               retrieval: ml_collections.ConfigDict | None = None,
               devices: Sequence[jax.Device] | None = None):
    # One device unless given `devices` to split batches over; the parameters are replicated
    # on each.
    self.devices = list(devices or jax.local_devices()[:1])
    mesh = Mesh(np.array(self.devices), ("batch",))
    self._replicated = NamedSharding(mesh, PartitionSpec())
    self._split = NamedSharding(mesh, PartitionSpec("batch"))
    self.graphdef = graphdef
    self.params = jax.device_put(distributed.on_this_process(params), self._replicated)
    self.rest = jax.device_put(distributed.on_this_process(rest), self._replicated)
    self.image_size = int(image_size)
    self.hierarchy = hierarchy
    self.tags = list(tags) if tags is not None else []
    self.landmark_ids = landmark_ids
    self.landmark_names = landmark_names or {}
    # Each device gets the same share of a batch.
    self.batch_size = -(-int(batch_size) // len(self.devices)) * len(self.devices)
    self.top_k = int(top_k)
    self.num_tags = int(num_tags)
    self.landmark_threshold = float(landmark_threshold)
    self.five_crop = bool(five_crop)
    self.landmark_index = landmark_index
    self.tag_ranker = tag_ranker
    if tag_ranker is not None:
      tag_ranker.place_on(self._replicated)
    self.step = step
    self.workdir = workdir
    self.card = card  # model_card.ModelCard: what the model has seen, how well it did
    # The hybrid answer: a retrieval gallery and the run config's `retrieval` settings.
    self.gallery = gallery if hierarchy is not None else None
    self.retrieval = retrieval
    self._tokens = {}
    self.decode_threads = min(4, os.cpu_count() or 1)
    self._forward = jax.jit(forward, static_argnames=("graphdef", "hierarchy", "crops", "top_k",
                                                      "num_tags", "full", "hybrid_cells"))

  @classmethod
  def from_workdir(cls, workdir: str, *, data_dir: str | None = None, step: int | None = None,
                   locsens: str | bool | None = None, gallery: bool = True,
                   **options) -> "Predictor":
    """The latest (or `step`'s) checkpoint of a training workdir, with everything it needs.

    Args:
      workdir: a finished or running training's workdir.
      data_dir: the TFDS data dir (default: the run's), for landmark names and index photos.
      step: a checkpoint step (default: the latest).
      locsens: where the trained LocSens scorer is: None looks in the workdir (`<workdir>/
        locsens`) and goes without one if there is none; a path requires one there (a stage-2
        workdir or its `locsens/` folder); False never uses one.
      gallery: answer by the hybrid when the run's retrieval gallery has been built for this
        checkpoint (`python -m jaxgeo.evaluate` and training build it); False never does.
      **options: the constructor's options (batch_size, top_k, num_tags,
        landmark_threshold, five_crop, devices).
    """
    run = restore.load_trained_run(workdir, data_dir, step)
    card = model_card.load_model_card(run.workdir, run.config, run.data_dir, run.step)
    names = {}
    if run.landmark_ids is not None:
      names = landmark_ids_lib.read(
          restore.landmark_ids_path(run.config, run.workdir, run.data_dir)).names
    index = landmark_index.LandmarkIndex.load_if_built(run.workdir, run.data_dir, run.step)
    scorer = None
    if locsens is not False and run.vocabulary is not None:
      scorer = load_tag_ranker(run.workdir if locsens is None else locsens,
                               required=locsens is not None, tags=run.vocabulary.tags)
    # A process answers its photos alone: the gallery is searched on its own devices.
    photos = (gallery_lib.load_run_gallery(run, build=False, devices=jax.local_devices())
              if gallery and run.hierarchy else None)
    return cls(run.graphdef, run.state["params"], run.state["rest"],
               image_size=run.config.image_size, hierarchy=run.hierarchy,
               tags=run.vocabulary.tags if run.vocabulary is not None else None,
               landmark_ids=run.landmark_ids, landmark_names=names, landmark_index=index,
               tag_ranker=scorer, step=run.step, workdir=workdir, card=card, gallery=photos,
               retrieval=run.config.retrieval, **options)

  # -- what the model has

  @property
  def has_geo(self) -> bool:
    return self.hierarchy is not None

  @property
  def has_tags(self) -> bool:
    return bool(self.tags)

  @property
  def has_landmarks(self) -> bool:
    return self.landmark_ids is not None

  @property
  def has_index(self) -> bool:
    return self.landmark_index is not None

  @property
  def has_gallery(self) -> bool:
    return self.gallery is not None

  @property
  def partition_names(self) -> tuple[str, ...]:
    return self.hierarchy.names if self.hierarchy is not None else ()

  # -- running the model

  def run_batch(self, photos: Sequence[Photo], *, five_crop: bool | None = None,
                full: bool = False) -> dict[str, np.ndarray]:
    """Raw outputs (see `forward`) for up to any number of photos, in padded fixed-size batches."""
    five_crop = self.five_crop if five_crop is None else five_crop
    crops = 5 if five_crop else 1
    loaded = self.load_photos(photos)
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(loaded), self.batch_size):
      part = loaded[start:start + self.batch_size]
      size = next(b for b in bucket_sizes(self.batch_size, len(self.devices))
                  if b >= len(part))
      pixels = np.zeros((size, crops, self.image_size, self.image_size, 3), np.uint8)
      for i, photo in enumerate(part):
        pixels[i] = self.model_input(photo, five_crop)
      images = jax.device_put(pixels.reshape(size * crops, *pixels.shape[2:]), self._split)
      out = self._forward(self.params, self.rest, images, graphdef=self.graphdef,
                          hierarchy=self.hierarchy, crops=crops, top_k=self.top_k,
                          num_tags=self.num_tags, full=full,
                          hybrid_cells=self.retrieval.hybrid_cells if self.gallery else 0)
      for key, value in jax.device_get(out).items():
        chunks.setdefault(key, []).append(np.asarray(value)[:len(part)])
    return {k: np.concatenate(v) for k, v in chunks.items()}

  @property
  def min_decode_side(self) -> int:
    return transforms.eval_decode_side(self.image_size)

  def model_input(self, photo: LoadedPhoto, five_crop: bool) -> np.ndarray:
    """(crops, size, size, 3) uint8: the photo's evaluation crop(s), unless already prepared."""
    shape = (5 if five_crop else 1, self.image_size, self.image_size, 3)
    if photo.crops is not None and photo.crops.shape == shape:
      return photo.crops
    return transforms.eval_crops(photo.image, self.image_size, five_crop).reshape(shape)

  def prepare(self, photo: Photo, name: str | None = None,
              five_crop: bool | None = None) -> LoadedPhoto:
    """Decodes a photo and crops it for the model, so that worker threads can do both ahead of
    the batch that needs them. Raises BadImage like `load_photo`."""
    loaded = load_photo(photo, name, self.min_decode_side)
    five_crop = self.five_crop if five_crop is None else five_crop
    loaded.crops = self.model_input(loaded, five_crop)
    return loaded

  def load_photos(self, photos: Sequence[Photo]) -> list[LoadedPhoto]:
    """Decodes photos on a few threads (Pillow decodes outside the GIL); BadImage on the first
    bad one, in order."""
    if all(isinstance(p, LoadedPhoto) for p in photos):
      return list(photos)
    load = functools.partial(load_photo, min_side=self.min_decode_side)
    if len(photos) < 2 or self.decode_threads < 2:
      return [load(p) for p in photos]
    return list(decode_pool(self.decode_threads).map(load, photos))

  def predict(self, photo: Photo, *, location: tuple[float, float] | None = None,
              coarse: bool = False, five_crop: bool | None = None,
              online_names: bool = False, name: str | None = None,
              heat: bool = False) -> Prediction:
    """The prediction for one photo (path, bytes, PIL image).

    Args:
      photo: the photo; EXIF orientation is applied and EXIF GPS read.
      location: (lat, lon) to rank tags for (LocSens); default the EXIF GPS, else the predicted
        top-1 place. Ignored when tags come from the tag head.
      coarse: coarse region only (see the module docstring).
      five_crop: vote over five crops (default: the Predictor's setting).
      online_names: also ask OpenStreetMap's Nominatim for addresses (network; off by default).
      name: how the photo is named in the result (default: its path).
      heat: also give the hierarchy's best cells (`Prediction.heat`, the demo's heat map).

    Raises:
      jaxgeo.data.raw.images.BadImage: the photo cannot be read; the message names it.
    """
    photo = load_photo(photo, name, self.min_decode_side)
    return self.predict_batch([photo], locations=[location], coarse=coarse,
                              five_crop=five_crop, online_names=online_names, heat=heat)[0]

  def predict_batch(self, photos: Sequence[Photo], *,
                    locations: Sequence[tuple[float, float] | None] | None = None,
                    coarse: bool = False, five_crop: bool | None = None,
                    online_names: bool = False,
                    true_locations: Sequence[tuple[float, float] | None] | None = None,
                    heat: bool = False,
                    seconds: dict[str, float] | None = None) -> list[Prediction]:
    """Predictions for many photos, run in jitted batches. Raises BadImage on the first bad one.

    `true_locations` gives known coordinates (e.g. a data set's labels) for photos without EXIF
    GPS; they get the distance to the prediction like EXIF GPS does. `heat`: also the
    hierarchy's best cells of each (off for the batch CLI, which does not write them).
    `seconds`, when given, adds the time spent in the model (`model`) and in assembling the
    answers (`answers`) to its entries.
    """
    loaded = self.load_photos(photos)
    five_crop = self.five_crop if five_crop is None else five_crop
    start = time.perf_counter()
    out = self.run_batch(loaded, five_crop=five_crop)
    model_done = time.perf_counter()
    locations = list(locations) if locations is not None else [None] * len(loaded)
    true_locations = (list(true_locations) if true_locations is not None
                      else [None] * len(loaded))
    places = self._places(out, coarse, online_names)
    # The hybrid moves the top-1 place onto the gallery photos' (never in coarse mode: they pin
    # a place to metres).
    matches = [None] * len(loaded)
    if self.gallery is not None and not coarse:
      places, matches = self._hybrid(out, places, online_names)
    within = self._within(out, places)
    # LocSens ranks tags for a place: the caller's, else the photo's EXIF GPS, else the
    # predicted top-1.
    tag_locations = []
    for i, photo in enumerate(loaded):
      where = None if coarse else locations[i] or photo.gps or (
          (places[i][0].latitude, places[i][0].longitude) if places[i] else None)
      tag_locations.append(None if where is None else (float(where[0]), float(where[1])))
    tags, tag_source = self._tags(out, tag_locations)
    if coarse:  # tags name places ("eiffel tower", "brooklyn"): a coarse answer has none
      tags, tag_source = [[] for _ in loaded], ["none"] * len(loaded)
    results = []
    for i, photo in enumerate(loaded):
      truth = self._true_location(photo, true_locations[i], places[i], coarse)
      used = tag_locations[i] if tag_source[i] == "locsens" else None
      results.append(Prediction(
          source=photo.name, places=places[i],
          granularities=self._granularities(out, i, coarse),
          tags=tags[i], tag_source=tag_source[i], tag_location=used,
          landmark=None if coarse else self._landmark(out, i),
      within_km=None if coarse or not places[i] else within[i],
          neighbours=None if coarse else self._neighbours(out, i),
          true_location=truth, coarse=coarse, five_crop=five_crop,
          warning=self.card.warning if self.card is not None else "",
          method="hybrid" if matches[i] is not None else HIERARCHY,
          gallery=self.gallery.spec if matches[i] is not None else "",
          gallery_matches=matches[i],
          image_embedding=out["tag/embedding"][i] if "tag/embedding" in out else None,
          heat=(self._heat(out["hierarchy/probs"][i]) if heat and not coarse
                and self.hierarchy is not None else None)))
    if seconds is not None:
      seconds["model"] = seconds.get("model", 0.0) + model_done - start
      seconds["answers"] = seconds.get("answers", 0.0) + time.perf_counter() - model_done
    return results

  def probabilities(self, photo: Photo, *, five_crop: bool | None = None
                    ) -> dict[str, np.ndarray]:
    """Whole distributions for one photo: each partition's and the hierarchy's (over the
    finest classes), the tags' and the landmarks' where the heads exist. For maps and tests."""
    out = self.run_batch([photo], five_crop=five_crop, full=True)
    names = {f"geo/{n}/probs": n for n in self.partition_names}
    names.update({"hierarchy/probs": HIERARCHY, "tag/probs": "tags",
                  "landmark/probs": "landmarks"})
    return {names[k]: v[0] for k, v in out.items() if k in names}

  # -- assembling the answers

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

  def tags_at(self, prediction: Prediction, location: tuple[float, float]) -> list[Tag]:
    """The photo's tags re-ranked by LocSens for another location, without running the CNN.

    Without a LocSens scorer the tag head's ranking does not depend on the location, so the
    prediction's own tags come back.
    """
    if self.tag_ranker is None or prediction.image_embedding is None or prediction.coarse:
      return list(prediction.tags)
    ids, scores = self.tag_ranker.rank_tags(prediction.image_embedding, location[0],
                                            location[1], k=self.num_tags)
    return [Tag(self.tags[int(t)], float(s)) for t, s in zip(ids, scores)]

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
