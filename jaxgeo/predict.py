r"""Predictions for your own photos: where, how sure at each granularity, tags and landmark.

  python -m jaxgeo.predict --workdir runs/quickstart photos/ more.jpg tfds:geo_testsets/im2gps3k:test

One `Predictor`, loaded from a training workdir, serves the batch CLI below and the demo. For
each photo it gives the top-k places under the hierarchy's product rule (with an offline place
name), each partition's confidence, tags (the tag head's, or ranked by the workdir's LocSens
scorer for the given place, the EXIF GPS or the predicted place), the landmark (or "no landmark"
below a threshold), the nearest landmark-index photos when `python -m jaxgeo.landmark_index` has
built an index, and, if the photo carries EXIF GPS, the true place and the distance to the
prediction.

Photos are prepared as evaluation prepares them (upright RGB, shorter side resized to
image_size / 0.875, centre crop; or five crops with averaged softmax). The model runs in one
jitted function over a few fixed batch shapes (powers of two up to `batch_size`), so a stream of
photos never recompiles per batch size. `coarse=True` answers with the coarsest partition's cells,
coordinates rounded to whole degrees and country names only, and leaves out the landmark, the
index photos (they pin a place to metres) and the tags (they name places): for photos of people
and public share links.

The CLI writes `predictions.csv`, `predictions.geojson` and `report.txt`/`report.json` (files
skipped, with the reason) to `--output_dir`; bad files never stop it.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import functools
import io
import json
import math
import os
import sys
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jaxgeo.data import images as images_lib, transforms
from jaxgeo.geo import distance, gazetteer as gazetteer_lib, s2
from jaxgeo.geo.hierarchy import Hierarchy

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic",
                    ".heif")
HIERARCHY = "hierarchy"
# Coarse answers: whole degrees (at most ~111 km off) and no finer partition than the coarsest.
COARSE_DECIMALS = 0
COARSE_MAX_LEVEL = 6  # S2 level-6 cells are ~150 km across
DEFAULT_LANDMARK_THRESHOLD = 0.5

Photo = Union[str, os.PathLike, bytes, Image.Image, "LoadedPhoto"]


# ------------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True)
class Place:
  """One candidate place: a partition class, its coordinate and probability, a readable name."""
  latitude: float
  longitude: float
  probability: float  # hierarchy: product rule renormalised over the finest classes
  partition: str  # the partition of `class_id` (the finest; the coarsest in coarse mode)
  class_id: int
  cell: str  # S2 cell token of the class
  name: str  # offline gazetteer: "City, Country" ("Country" in coarse mode)
  country_code: str
  online_name: str | None = None  # Nominatim's address, only when asked for


@dataclasses.dataclass(frozen=True)
class Granularity:
  """How sure one partition (or the hierarchy) is: its top class and that class's probability."""
  name: str  # partition name, or "hierarchy"
  num_classes: int
  class_id: int
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
  image_embedding: np.ndarray | None = dataclasses.field(default=None, repr=False)  # tag head

  @property
  def top(self) -> Place | None:
    return self.places[0] if self.places else None

  def to_dict(self) -> dict[str, Any]:
    """Plain JSON-able values (the embedding left out)."""
    out = dataclasses.asdict(self)
    out.pop("image_embedding")
    if self.landmark is not None:
      out["landmark"]["label"] = self.landmark.label
    return out


# ------------------------------------------------------------------------------------------------
# Photos in


@dataclasses.dataclass
class LoadedPhoto:
  """A decoded photo: upright RGB, and its EXIF GPS position if it has one."""
  name: str
  image: Image.Image
  gps: tuple[float, float] | None = None


def _dms_to_degrees(value) -> float:
  if isinstance(value, (tuple, list)):
    parts = [float(v) for v in value] + [0.0, 0.0]
    return parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
  return float(value)


def exif_gps(exif: Image.Exif) -> tuple[float, float] | None:
  """(latitude, longitude) in degrees from an EXIF GPS block; None if absent or unusable.

  (0, 0) is treated as absent: cameras without a fix often write it.
  """
  try:
    gps = exif.get_ifd(0x8825)  # GPSInfo
  except (KeyError, TypeError, ValueError, OSError):
    return None
  if not gps or 2 not in gps or 4 not in gps:
    return None
  try:
    lat, lon = _dms_to_degrees(gps[2]), _dms_to_degrees(gps[4])
  except (TypeError, ValueError, ZeroDivisionError):
    return None
  ref = lambda v: (v.decode("ascii", "ignore") if isinstance(v, bytes) else str(v)).strip().upper()
  if ref(gps.get(1, "N")) == "S":
    lat = -lat
  if ref(gps.get(3, "E")) == "W":
    lon = -lon
  if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
    return None
  if lat == 0 and lon == 0:
    return None
  return lat, lon


def _to_rgb(image: Image.Image) -> Image.Image:
  if image.mode == "RGB":
    return image
  if image.mode in ("RGBA", "LA", "P", "PA"):  # composite transparency on white, as builders do
    image = image.convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
  return image.convert("RGB")


def load_photo(photo: Photo, name: str | None = None, min_side: int = 0) -> LoadedPhoto:
  """Decodes a photo (path, bytes or PIL image) upright in RGB, with its EXIF GPS.

  `min_side` lets JPEG decoding downscale (libjpeg's 1/2, 1/4, 1/8) while both sides stay at
  least that large, as evaluation's decoder does; 0 decodes at full size.

  Raises:
    images_lib.BadImage: with a short reason (`missing_image`, `unreadable_file`, `empty_image`,
      `not_an_image`, `corrupt_image`, `too_large_image`) and the photo's name.
  """
  if isinstance(photo, LoadedPhoto):
    return photo
  if isinstance(photo, Image.Image):
    name = name or "<image>"
    gps = exif_gps(photo.getexif())
    return LoadedPhoto(name, _to_rgb(ImageOps.exif_transpose(photo)), gps)
  if isinstance(photo, (bytes, bytearray, memoryview)):
    data, name = bytes(photo), name or "<bytes>"
  else:
    name = name or os.fspath(photo)
    try:
      with open(photo, "rb") as f:
        data = f.read()
    except FileNotFoundError:
      raise images_lib.BadImage("missing_image", f"{name} does not exist") from None
    except OSError as e:
      raise images_lib.BadImage("unreadable_file", f"{name} cannot be read ({e})") from None
  if not data:
    raise images_lib.BadImage("empty_image", f"{name} is empty (0 bytes)")
  try:
    image = Image.open(io.BytesIO(data))
    if image.width * image.height > images_lib.MAX_PIXELS:
      raise images_lib.BadImage(
          "too_large_image",
          f"{name} is {image.width}x{image.height}, over {images_lib.MAX_PIXELS:,} pixels")
    gps = exif_gps(image.getexif())
    if min_side and image.format == "JPEG":
      image.draft("RGB", (min_side, min_side))
    image.load()  # decodes everything now, so a truncated file is found here
    image = _to_rgb(ImageOps.exif_transpose(image))
  except images_lib.BadImage:
    raise
  except UnidentifiedImageError:
    raise images_lib.BadImage("not_an_image",
                              f"{name} is not an image Pillow can read") from None
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise images_lib.BadImage("corrupt_image", f"{name} cannot be decoded ({e})") from None
  return LoadedPhoto(name, image, gps)


# ------------------------------------------------------------------------------------------------
# The jitted forward pass


def forward(params, rest, images: jax.Array, *, graphdef, tree: Hierarchy | None, crops: int,
            top_k: int, num_tags: int, full: bool = False) -> dict[str, jax.Array]:
  """Every head's answer for a batch of photos (B * crops images in, B answers out).

  The backbone runs once; the landmark head's GeM descriptor (its input) comes out with its
  logits, for the landmark index. Softmax probabilities are averaged over crops (five-crop
  voting). With `full`, the whole distributions come back too (tests, maps).
  """
  from flax import nnx  # pylint: disable=g-import-not-at-top
  model = nnx.merge(graphdef, params, rest, copy=True)
  model.eval()
  feature_map = model.backbone.features(model.preprocess(images, model.dtype))
  pooled = jnp.mean(feature_map, axis=(1, 2), dtype=jnp.float32).astype(model.dtype)

  def vote(x):  # (B * crops, ...) -> (B, ...), mean over crops
    x = x.astype(jnp.float32)
    return jnp.mean(x.reshape(-1, crops, *x.shape[1:]), axis=1)

  out = {}
  if tree is not None:
    logits = model.geo(pooled)
    probs = [vote(jax.nn.softmax(logits[p.name].astype(jnp.float32), -1)) for p in tree.partitions]
    for part, p in zip(tree.partitions, probs):
      out[f"geo/{part.name}/class"] = jnp.argmax(p, -1)
      out[f"geo/{part.name}/prob"] = jnp.max(p, -1)
      if full:
        out[f"geo/{part.name}/probs"] = p
    # The product rule in log space, renormalised over the finest classes.
    hier = jax.nn.softmax(tree.combine_log_probs([jnp.log(p) for p in probs]), -1)
    out["hierarchy/probs_top"], out["hierarchy/classes_top"] = jax.lax.top_k(
        hier, min(top_k, hier.shape[-1]))
    coarsest = probs[0]
    out["coarse/probs_top"], out["coarse/classes_top"] = jax.lax.top_k(
        coarsest, min(top_k, coarsest.shape[-1]))
    if full:
      out["hierarchy/probs"] = hier
  if model.tag_head is not None:
    tag_logits, embedding = model.tag_head(pooled)
    tag_probs = vote(jax.nn.softmax(tag_logits.astype(jnp.float32), -1))
    out["tag/probs_top"], out["tag/ids_top"] = jax.lax.top_k(
        tag_probs, min(num_tags, tag_probs.shape[-1]))
    out["tag/embedding"] = vote(embedding)
    if full:
      out["tag/probs"] = tag_probs
  if model.landmark_head is not None:
    head = model.landmark_head
    descriptor = head.pool(feature_map)  # GeM, float32; dropout is off in eval mode
    landmark = vote(jax.nn.softmax(head.classify(descriptor.astype(model.dtype))
                                   .astype(jnp.float32), -1))
    out["landmark/class"], out["landmark/prob"] = jnp.argmax(landmark, -1), jnp.max(landmark, -1)
    descriptor = vote(descriptor)
    out["landmark/descriptor"] = descriptor / jnp.maximum(
        jnp.linalg.norm(descriptor, axis=-1, keepdims=True), 1e-12)
    if full:
      out["landmark/probs"] = landmark
  return out


def load_tag_ranker(where: str, *, required: bool, tags: Sequence[str]):
  """The trained LocSens scorer of a workdir (jaxgeo.locsens), or None if there is none.

  Its vocabulary must be the tag head's (the scorer ranks the same tag ids); a scorer trained
  over another run is refused with a warning (or an error when `required`).
  """
  from absl import logging  # pylint: disable=g-import-not-at-top
  from jaxgeo import locsens  # pylint: disable=g-import-not-at-top
  scorer = locsens.load_locsens(where, required=required)
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
def _decode_pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
  return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="jaxgeo-decode")


def bucket_sizes(batch_size: int) -> tuple[int, ...]:
  """The padded batch shapes: 1, 2, 4, ... up to batch_size (at most log2 + 1 compilations)."""
  sizes, b = [], 1
  while b < batch_size:
    sizes.append(b)
    b *= 2
  return (*sizes, batch_size)


def landmark_names_of(path: str) -> dict[int, str]:
  """Readable names by GLDv2 landmark id from a `landmark_ids.csv` with a `category` column."""
  names = {}
  if not os.path.exists(path):
    return names
  with open(path, encoding="utf-8", newline="") as f:
    for row in csv.DictReader(f):
      category = (row.get("category") or "").strip()
      original = row.get("original_landmark_id") or row.get("landmark_id")
      if not category or not original:
        continue
      title = urllib.parse.unquote(category.rsplit("/", 1)[-1])
      title = title.split(":", 1)[1] if title.startswith("Category:") else title
      try:
        names[int(original)] = title.replace("_", " ")
      except ValueError:
        continue
  return names


# ------------------------------------------------------------------------------------------------
# The Predictor


class Predictor:
  """A trained model with its partitions, vocabulary and landmark names, ready for photos.

  Use `Predictor.from_workdir`; the constructor takes the pieces (benchmarks build a model
  directly). Not thread-safe for concurrent calls that change options; predictions are.
  """

  def __init__(self, graphdef, params, rest, *, image_size: int, tree: Hierarchy | None,
               tags: Sequence[str] | None = None, landmark_ids: np.ndarray | None = None,
               landmark_names: dict[int, str] | None = None, batch_size: int = 16,
               top_k: int = 5, num_tags: int = 10,
               landmark_threshold: float = DEFAULT_LANDMARK_THRESHOLD,
               five_crop: bool = False, landmark_index=None, tag_ranker=None, step: int = 0,
               workdir: str | None = None, device: jax.Device | None = None):
    # Inference runs on one device: a photo batch is too small to shard, and replicated params
    # over several (fake CPU) devices would only repeat the work.
    self.device = device or jax.devices()[0]
    self.graphdef = graphdef
    self.params = jax.device_put(params, self.device)
    self.rest = jax.device_put(rest, self.device)
    self.image_size = int(image_size)
    self.tree = tree
    self.tags = list(tags) if tags is not None else []
    self.landmark_ids = landmark_ids
    self.landmark_names = landmark_names or {}
    self.batch_size = int(batch_size)
    self.top_k = int(top_k)
    self.num_tags = int(num_tags)
    self.landmark_threshold = float(landmark_threshold)
    self.five_crop = bool(five_crop)
    self.landmark_index = landmark_index
    self.tag_ranker = tag_ranker
    self.step = step
    self.workdir = workdir
    self._tokens = {}
    self.decode_threads = min(4, os.cpu_count() or 1)
    self._forward = jax.jit(forward, static_argnames=("graphdef", "tree", "crops", "top_k",
                                                      "num_tags", "full"))

  @classmethod
  def from_workdir(cls, workdir: str, *, data_dir: str | None = None, step: int | None = None,
                   locsens: str | bool | None = None, **options) -> "Predictor":
    """The latest (or `step`'s) checkpoint of a training workdir, with everything it needs.

    Args:
      workdir: a finished or running training's workdir.
      data_dir: the TFDS data dir (default: the run's), for landmark names and index photos.
      step: a checkpoint step (default: the latest).
      locsens: where the trained LocSens scorer is: None looks in the workdir (`<workdir>/
        locsens`) and goes without one if there is none; a path requires one there (a stage-2
        workdir or its `locsens/` folder); False never uses one.
      **options: the constructor's options (batch_size, top_k, num_tags,
        landmark_threshold, five_crop).
    """
    from jaxgeo import landmark_index, trained  # pylint: disable=g-import-not-at-top
    run = trained.load_trained_run(workdir, data_dir, step)
    names = {}
    if run.landmark_ids is not None:
      names = landmark_names_of(trained.landmark_ids_path(run.config, workdir, run.data_dir))
    index = landmark_index.LandmarkIndex.load_if_built(workdir, run.data_dir, run.step)
    scorer = None
    if locsens is not False and run.vocabulary is not None:
      scorer = load_tag_ranker(workdir if locsens is None else locsens,
                               required=locsens is not None, tags=run.vocabulary.tags)
    return cls(run.graphdef, run.state["params"], run.state["rest"],
               image_size=run.config.image_size, tree=run.tree,
               tags=run.vocabulary.tags if run.vocabulary is not None else None,
               landmark_ids=run.landmark_ids, landmark_names=names, landmark_index=index,
               tag_ranker=scorer, step=run.step, workdir=workdir, **options)

  # -- what the model has

  @property
  def has_geo(self) -> bool:
    return self.tree is not None

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
  def partition_names(self) -> tuple[str, ...]:
    return self.tree.names if self.tree is not None else ()

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
      size = next(b for b in bucket_sizes(self.batch_size) if b >= len(part))
      pixels = np.zeros((size, crops, self.image_size, self.image_size, 3), np.uint8)
      for i, photo in enumerate(part):
        pixels[i] = transforms.eval_crops(photo.image, self.image_size, five_crop).reshape(
            crops, self.image_size, self.image_size, 3)
      images = jax.device_put(pixels.reshape(size * crops, *pixels.shape[2:]), self.device)
      out = self._forward(self.params, self.rest, images, graphdef=self.graphdef,
                          tree=self.tree, crops=crops, top_k=self.top_k,
                          num_tags=self.num_tags, full=full)
      for key, value in jax.device_get(out).items():
        chunks.setdefault(key, []).append(np.asarray(value)[:len(part)])
    return {k: np.concatenate(v) for k, v in chunks.items()}

  @property
  def min_decode_side(self) -> int:
    return transforms.eval_decode_side(self.image_size)

  def load_photos(self, photos: Sequence[Photo]) -> list[LoadedPhoto]:
    """Decodes photos on a few threads (Pillow decodes outside the GIL); BadImage on the first
    bad one, in order."""
    if all(isinstance(p, LoadedPhoto) for p in photos):
      return list(photos)
    load = functools.partial(load_photo, min_side=self.min_decode_side)
    if len(photos) < 2 or self.decode_threads < 2:
      return [load(p) for p in photos]
    return list(_decode_pool(self.decode_threads).map(load, photos))

  def predict(self, photo: Photo, *, location: tuple[float, float] | None = None,
              coarse: bool = False, five_crop: bool | None = None,
              online_names: bool = False, name: str | None = None) -> Prediction:
    """The prediction for one photo (path, bytes, PIL image).

    Args:
      photo: the photo; EXIF orientation is applied and EXIF GPS read.
      location: (lat, lon) to rank tags for (LocSens); default the EXIF GPS, else the predicted
        top-1 place. Ignored when tags come from the tag head.
      coarse: coarse region only (see the module docstring).
      five_crop: vote over five crops (default: the Predictor's setting).
      online_names: also ask OpenStreetMap's Nominatim for addresses (network; off by default).
      name: how the photo is named in the result (default: its path).

    Raises:
      jaxgeo.data.images.BadImage: the photo cannot be read; the message names it.
    """
    photo = load_photo(photo, name, self.min_decode_side)
    return self.predict_batch([photo], locations=[location], coarse=coarse,
                              five_crop=five_crop, online_names=online_names)[0]

  def predict_batch(self, photos: Sequence[Photo], *,
                    locations: Sequence[tuple[float, float] | None] | None = None,
                    coarse: bool = False, five_crop: bool | None = None,
                    online_names: bool = False,
                    true_locations: Sequence[tuple[float, float] | None] | None = None
                    ) -> list[Prediction]:
    """Predictions for many photos, run in jitted batches. Raises BadImage on the first bad one.

    `true_locations` gives known coordinates (e.g. a data set's labels) for photos without EXIF
    GPS; they get the distance to the prediction like EXIF GPS does.
    """
    loaded = self.load_photos(photos)
    five_crop = self.five_crop if five_crop is None else five_crop
    out = self.run_batch(loaded, five_crop=five_crop)
    locations = list(locations) if locations is not None else [None] * len(loaded)
    true_locations = (list(true_locations) if true_locations is not None
                      else [None] * len(loaded))
    places = self._places(out, coarse, online_names)
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
          source=photo.name, places=places[i], granularities=self._granularities(out, i),
          tags=tags[i], tag_source=tag_source[i], tag_location=used,
          landmark=None if coarse else self._landmark(out, i),
          neighbours=None if coarse else self._neighbours(out, i),
          true_location=truth, coarse=coarse, five_crop=five_crop,
          image_embedding=out["tag/embedding"][i] if "tag/embedding" in out else None))
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

  def _coarse_tokens(self, partition) -> list[str]:
    """Cell tokens cut to at most COARSE_MAX_LEVEL: a small "coarsest" cell (few training
    photos) must not give a fine location away through its token."""
    key = ("coarse", partition.name)
    if key not in self._tokens:
      ids = partition.cell_ids
      levels = s2.cell_levels(ids)
      cut = ids.copy()
      deep = levels > COARSE_MAX_LEVEL
      cut[deep] = s2.cell_parents(ids[deep], COARSE_MAX_LEVEL)
      self._tokens[key] = s2.cell_ids_to_tokens(cut)
    return self._tokens[key]

  def _places(self, out, coarse: bool, online_names: bool) -> list[list[Place]]:
    if self.tree is None:
      return [[] for _ in range(len(next(iter(out.values()))))]
    part = self.tree.partitions[0] if coarse else self.tree.finest
    prefix = "coarse" if coarse else HIERARCHY
    classes, probs = out[f"{prefix}/classes_top"], out[f"{prefix}/probs_top"]
    lat, lon = part.latitudes[classes], part.longitudes[classes]
    if coarse:
      lat, lon = np.round(lat, COARSE_DECIMALS), np.round(lon, COARSE_DECIMALS)
    names = gazetteer_lib.default_gazetteer().lookup(lat.ravel(), lon.ravel())
    tokens = self._coarse_tokens(part) if coarse else self._cell_tokens(part)
    places = []
    for i in range(classes.shape[0]):
      row = []
      for j in range(classes.shape[1]):
        name = names[i * classes.shape[1] + j]
        online = None
        if online_names and not coarse and j == 0:  # Nominatim allows 1 request/s: top-1 only
          online = gazetteer_lib.online_name(float(lat[i, j]), float(lon[i, j]))
        row.append(Place(latitude=float(lat[i, j]) + 0.0, longitude=float(lon[i, j]) + 0.0,
                         probability=float(probs[i, j]), partition=part.name,
                         class_id=int(classes[i, j]), cell=tokens[classes[i, j]],
                         name=name.country_label if coarse else name.label,
                         country_code=name.country_code, online_name=online))
      places.append(row)
    return places

  def _granularities(self, out, i: int) -> list[Granularity]:
    if self.tree is None:
      return []
    rows = [Granularity(p.name, p.num_classes, int(out[f"geo/{p.name}/class"][i]),
                        float(out[f"geo/{p.name}/prob"][i])) for p in self.tree.partitions]
    rows.append(Granularity(HIERARCHY, self.tree.finest.num_classes,
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
    km = (float(distance.great_circle_km(lat, lon, places[0].latitude, places[0].longitude))
          if places else None)
    if coarse:  # the photo's own position is as sensitive as the prediction
      lat, lon = round(lat, COARSE_DECIMALS), round(lon, COARSE_DECIMALS)
      km = None if km is None else float(round(km, -1))
    return TrueLocation(lat, lon, source, km)


# ------------------------------------------------------------------------------------------------
# The batch CLI

TFDS_PREFIX = "tfds:"


@dataclasses.dataclass
class _Input:
  name: str
  photo: Any  # a path or JPEG bytes
  truth: tuple[float, float] | None = None


def _walk(root: str) -> Iterator[str]:
  for folder, dirs, files in os.walk(root):
    dirs.sort()
    for f in sorted(files):
      if f.lower().endswith(PHOTO_EXTENSIONS):
        yield os.path.join(folder, f)


def collect_inputs(specs: Sequence[str], data_dir: str | None) -> tuple[int, Iterator[_Input]]:
  """(how many, the photos) of files, folders (recursive, photo extensions) and `tfds:name:split`.

  A named file is taken whatever its extension (it is reported if it is not a photo); a missing
  path is passed on so that it is reported, not silently dropped.
  """
  from jaxgeo.data import pipeline  # pylint: disable=g-import-not-at-top
  counted, parts = 0, []
  for spec in specs:
    if spec.startswith(TFDS_PREFIX):
      name, _, split = spec[len(TFDS_PREFIX):].partition(":")
      if not data_dir:
        raise ValueError(f"{spec}: a built split needs a data dir (the run's <workdir>/tfds).")
      source = pipeline.open_split(name, split or "test", data_dir)
      counted += len(source)
      parts.append(_split_inputs(source, name))
    elif os.path.isdir(spec):
      files = list(_walk(spec))
      counted += len(files)
      parts.append(_Input(f, f) for f in files)
    else:
      counted += 1
      parts.append(iter([_Input(spec, spec)]))
  return counted, (x for part in parts for x in part)


def _split_inputs(source, name: str) -> Iterator[_Input]:
  for row in range(len(source)):
    example = source[row]
    key = next((k for k in ("image_id", "photo_id", "id") if k in example), None)
    ident = example[key] if key else str(row)
    ident = ident.decode() if isinstance(ident, bytes) else str(ident)
    lat, lon = example.get("latitude"), example.get("longitude")
    truth = ((float(lat), float(lon)) if lat is not None and lon is not None
             and np.isfinite(lat) and np.isfinite(lon) else None)
    yield _Input(f"{name}/{ident}", example["image"], truth)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
  chunk = []
  for item in items:
    chunk.append(item)
    if len(chunk) == size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


def _levels(partition_names: Sequence[str]) -> tuple[str, ...]:
  return (*partition_names, HIERARCHY) if partition_names else ()


def csv_header(partition_names: Sequence[str]) -> list[str]:
  return (["source", "latitude", "longitude", "probability", "place", "cell"]
          + [f"prob_{n}" for n in _levels(partition_names)]
          + ["tags", "landmark_id", "landmark", "landmark_confidence", "true_latitude",
             "true_longitude", "true_source", "distance_km"])


def _fmt(x, digits: int = 6) -> str:
  return "" if x is None else f"{x:.{digits}f}"


def csv_row(p: Prediction, partition_names: Sequence[str]) -> list[str]:
  top, by_name = p.top, {g.name: g.probability for g in p.granularities}
  landmark, truth = p.landmark, p.true_location
  return ([p.source, _fmt(top and top.latitude), _fmt(top and top.longitude),
           _fmt(top and top.probability), top.name if top else "", top.cell if top else ""]
          + [_fmt(by_name.get(n)) for n in _levels(partition_names)]
          + [";".join(t.tag for t in p.tags),
             "" if landmark is None or not landmark.found else str(landmark.landmark_id),
             "" if landmark is None else (landmark.name if landmark.found else "no landmark"),
             _fmt(landmark and landmark.confidence, 4),
             _fmt(truth and truth.latitude), _fmt(truth and truth.longitude),
             truth.source if truth else "", _fmt(truth and truth.distance_km, 3)])


def geojson_feature(p: Prediction) -> dict[str, Any]:
  """A GeoJSON Feature (RFC 7946: [longitude, latitude]) at the top-1 place; null geometry
  when the run predicts no places."""
  props = p.to_dict()
  top = p.top
  geometry = {"type": "Point", "coordinates": [top.longitude, top.latitude]} if top else None
  props.update({"place": top.name if top else None,
                "probability": top.probability if top else None})
  return {"type": "Feature", "geometry": geometry, "properties": props}


def predict_files(predictor: Predictor, specs: Sequence[str], output_dir: str, *,
                  data_dir: str | None = None, coarse: bool = False,
                  five_crop: bool | None = None, online_names: bool = False,
                  progress: bool = True) -> dict[str, Any]:
  """Predicts every photo of `specs`; writes CSV, GeoJSON and the report; returns the report.

  Photos that cannot be read are reported by name with the reason and skipped.
  """
  import tqdm  # pylint: disable=g-import-not-at-top
  os.makedirs(output_dir, exist_ok=True)
  total, inputs = collect_inputs(specs, data_dir)
  names = predictor.partition_names
  csv_path = os.path.join(output_dir, "predictions.csv")
  geojson_path = os.path.join(output_dir, "predictions.geojson")
  skipped: list[dict[str, str]] = []
  done = 0
  with open(csv_path, "w", encoding="utf-8", newline="") as csv_file, \
       open(geojson_path, "w", encoding="utf-8") as geo_file, \
       tqdm.tqdm(total=total, unit="photo", dynamic_ncols=True, disable=not progress) as bar:
    writer = csv.writer(csv_file)
    writer.writerow(csv_header(names))
    geo_file.write('{"type": "FeatureCollection", "features": [\n')
    first = True

    def flush(batch: list[tuple[LoadedPhoto, Any]]) -> None:
      nonlocal done, first
      if not batch:
        return
      results = predictor.predict_batch([b[0] for b in batch], coarse=coarse,
                                        five_crop=five_crop, online_names=online_names,
                                        true_locations=[b[1] for b in batch])
      for p in results:
        writer.writerow(csv_row(p, names))
        geo_file.write(("" if first else ",\n") + json.dumps(geojson_feature(p)))
        first = False
      done += len(results)
      bar.update(len(results))
      batch.clear()

    def load(item: _Input):
      try:
        return load_photo(item.photo, item.name, predictor.min_decode_side)
      except images_lib.BadImage as e:
        return e

    batch = []
    pool = _decode_pool(max(1, predictor.decode_threads))
    for items in _chunks(inputs, predictor.batch_size):
      for item, photo in zip(items, pool.map(load, items)):
        if isinstance(photo, images_lib.BadImage):
          skipped.append({"source": item.name, "reason": photo.reason, "detail": photo.detail})
          bar.update(1)
          continue
        batch.append((photo, item.truth))
        if len(batch) == predictor.batch_size:
          flush(batch)
    flush(batch)
    geo_file.write("\n]}\n")
  reasons: dict[str, int] = {}
  for s in skipped:
    reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
  report = {"inputs": total, "predicted": done, "skipped": len(skipped),
            "skipped_by_reason": reasons, "skipped_files": skipped, "csv": csv_path,
            "geojson": geojson_path, "coarse": coarse, "checkpoint_step": predictor.step}
  with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2)
  with open(os.path.join(output_dir, "report.txt"), "w", encoding="utf-8") as f:
    f.write(format_report(report))
  return report


def format_report(report: dict[str, Any]) -> str:
  lines = [f"Predicted {report['predicted']} of {report['inputs']} photos; skipped "
           f"{report['skipped']}" + (" (" + ", ".join(
               f"{k}: {v}" for k, v in sorted(report["skipped_by_reason"].items())) + ")"
               if report["skipped"] else "") + "."]
  lines += [f"  skipped {s['source']}: {s['reason']}: {s['detail']}"
            for s in report["skipped_files"]]
  lines += [f"CSV: {report['csv']}", f"GeoJSON: {report['geojson']}"]
  return "\n".join(lines) + "\n"


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("workdir", None, "Workdir of a training run (its latest checkpoint).")
  flags.DEFINE_string("output_dir", "predictions", "Where predictions.csv/.geojson and the "
                      "report go.")
  flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the run's).")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
  flags.DEFINE_integer("batch_size", 16, "Photos per jitted batch.")
  flags.DEFINE_integer("top_k", 5, "Places (and index photos) per photo.")
  flags.DEFINE_integer("num_tags", 5, "Tags per photo.")
  flags.DEFINE_float("landmark_threshold", DEFAULT_LANDMARK_THRESHOLD,
                     "Below this confidence the answer is 'no landmark'.")
  flags.DEFINE_bool("five_crop", False, "Average the softmax over five crops.")
  flags.DEFINE_bool("coarse", False, "Coarse regions only: coarsest cells, whole degrees, "
                    "countries; no landmark or index photos.")
  flags.DEFINE_bool("online_names", False, "Also ask OpenStreetMap's Nominatim for addresses "
                    "(sends coordinates over the network; 1 request/s).")
  flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  from jaxgeo import trained  # pylint: disable=g-import-not-at-top
  args = flags.FLAGS
  specs = argv[1:]
  if not specs:
    raise app_usage_error("Give photos, folders or tfds:name:split after the flags.")
  predictor = Predictor.from_workdir(
      args.workdir, data_dir=args.data_dir, step=args.step, batch_size=args.batch_size,
      top_k=args.top_k, num_tags=args.num_tags, landmark_threshold=args.landmark_threshold,
      five_crop=args.five_crop)
  data_dir = args.data_dir or trained.data_dir_of(trained.load_config(args.workdir),
                                                  args.workdir)
  report = predict_files(predictor, specs, args.output_dir, data_dir=data_dir,
                         coarse=args.coarse, online_names=args.online_names)
  sys.stdout.write(format_report(report))


def app_usage_error(message: str) -> Exception:
  from absl import app  # pylint: disable=g-import-not-at-top
  return app.UsageError(message)


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
