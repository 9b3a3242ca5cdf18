"""LocSens for callers (the Predictor, the demo, the evaluator): tag photos and search photos.

  scorer = load_locsens("runs/quickstart")     # None if the workdir has no trained stage 2
  ids, scores = scorer.rank_tags(image_embeddings, latitude, longitude, k=10)
  index = scorer.make_index(scorer.load_index())  # the test split's photos, image sides precomputed
  hits = scorer.search("beach", 41.39, 2.17, index=index, k=10)

Image embeddings are the stage-1 model's `tag_embedding` output (`Geolocator(images)
["tag_embedding"]`, 300-d), which the Predictor computes anyway. Tagging is two-stage by default
(the tag head's top `candidates` tags re-ranked by LocSens: milliseconds per photo on a CPU);
`mode="full"` scores the whole vocabulary through the scorer, with the tag projections
precomputed once.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from jaxgeo.data import vocab as vocab_lib
from jaxgeo.locsens import inputs as stage2_inputs, scorer as scorer_lib
from jaxgeo.run import checkpointing, config_base, distributed, embeddings as embeddings_lib
from jaxgeo.run import sharding, workdir as workdir_lib
DEFAULT_CANDIDATES = 100


@dataclasses.dataclass
class PhotoIndex:
  """Photos to search: ids, coordinates, tag ids, and their image sides (precomputed)."""
  photo_id: np.ndarray  # (N,) str
  latitude: np.ndarray  # (N,) float64
  longitude: np.ndarray
  tag_ids: np.ndarray  # (N, 15) int32, -1 padded (for evaluation; may be all -1)
  image: np.ndarray  # (N, E) float32 image embeddings (for the tag-head baseline)
  image_sides: jax.Array  # (N, H)
  record: np.ndarray  # (N,) int64: each photo's record number in its split (for its JPEG)

  def __len__(self) -> int:
    return len(self.photo_id)


def _location_inputs(latitude, longitude, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(lat, lon, present) arrays of length n; None or NaN means no location."""
  if latitude is None or longitude is None:
    zeros = np.zeros(n, np.float32)
    return zeros, zeros, zeros
  lat = np.broadcast_to(np.asarray(latitude, np.float32), (n,))
  lon = np.broadcast_to(np.asarray(longitude, np.float32), (n,))
  present = (np.isfinite(lat) & np.isfinite(lon)).astype(np.float32)
  return np.nan_to_num(lat), np.nan_to_num(lon), present


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _tag_sides(graphdef, params, tag_embeddings):
  return nnx.merge(graphdef, params).tag_side(tag_embeddings)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _image_sides(graphdef, params, images):
  return nnx.merge(graphdef, params).image_side(images)


@functools.partial(jax.jit, static_argnames=("graphdef", "k", "candidates", "chunk"))
def _rank(graphdef, params, tag_sides, tag_embeddings, tag_bias, images, lat, lon, present, *,
          k: int, candidates: int, chunk: int):
  """Top-k tags: whole vocabulary (candidates 0) or the tag head's top `candidates` re-ranked."""
  model = nnx.merge(graphdef, params)
  if not candidates:
    scores = scorer_lib.score_tags(model, images, lat, lon, present, tag_sides, chunk=chunk)
    top, ids = jax.lax.top_k(scores, k)
    return ids, top
  logits = images @ tag_embeddings.T + tag_bias
  _, ids = jax.lax.top_k(logits, candidates)
  scores = scorer_lib.score_tags(model, images, lat, lon, present, tag_sides, candidates=ids)
  top, where = jax.lax.top_k(scores, k)
  return jnp.take_along_axis(ids, where, -1), top


@functools.partial(jax.jit, static_argnames=("graphdef", "k", "chunk"))
def _search(graphdef, params, image_sides, tags, lat, lon, present, exclude, *, k: int,
            chunk: int):
  model = nnx.merge(graphdef, params)
  scores = scorer_lib.score_photos(model, image_sides, tags, lat, lon, present, chunk=chunk)
  scores = jnp.where(jnp.arange(scores.shape[1])[None] == exclude[:, None], -jnp.inf, scores)
  return jax.lax.top_k(scores, k)


@functools.partial(jax.jit, static_argnames=("graphdef", "k", "candidates"))
def _search_two_stage(graphdef, params, images, image_sides, tags, tag_bias, lat, lon, present,
                      exclude, *, k: int, candidates: int):
  """The tag head's top `candidates` photos per query (a dot product), re-ranked by LocSens."""
  model = nnx.merge(graphdef, params)
  logits = tags @ images.T + tag_bias[:, None]  # (Q, N)
  logits = jnp.where(jnp.arange(logits.shape[1])[None] == exclude[:, None], -jnp.inf, logits)
  _, rows = jax.lax.top_k(logits, candidates)  # (Q, C)
  query = model.tag_side(tags) + model.location_side(lat, lon, present)
  scores = model.after_first_layer(query[:, None, :] + image_sides[rows])
  scores = jnp.where(rows == exclude[:, None], -jnp.inf, scores)
  top, where = jax.lax.top_k(scores, k)
  return top, jnp.take_along_axis(rows, where, -1)


class LocSensScorer:
  """A trained scorer with its tag table: ranks tags for photos, photos for (tag, place)."""

  def __init__(self, model: scorer_lib.LocSens, tag_embeddings: np.ndarray,
               tag_bias: np.ndarray, vocabulary: vocab_lib.TagVocabulary,
               workdir: workdir_lib.Workdir | None = None,
               config: ml_collections.ConfigDict | None = None):
    if len(vocabulary) != len(tag_embeddings):
      raise ValueError(f"The vocabulary has {len(vocabulary)} tags, the tag table "
                       f"{len(tag_embeddings)} rows.")
    self.graphdef, self.params = nnx.split(model)
    self.tag_embeddings = jnp.asarray(tag_embeddings, jnp.float32)
    self.tag_bias = jnp.asarray(tag_bias, jnp.float32)
    self.vocabulary = vocabulary
    self.workdir, self.config = workdir, config
    self.tag_sides = _tag_sides(self.graphdef, self.params, self.tag_embeddings)  # once

  @property
  def model(self) -> scorer_lib.LocSens:
    return nnx.merge(self.graphdef, self.params)

  def place_on(self, sharding: jax.sharding.Sharding) -> None:
    """Moves the scorer onto `sharding`'s devices: a process that ranks its photos alone (the
    batch CLI's processes) must not hold arrays that span the others'."""
    self.params, self.tag_embeddings, self.tag_bias, self.tag_sides = jax.device_put(
        distributed.on_this_process((self.params, self.tag_embeddings, self.tag_bias,
                                     self.tag_sides)), sharding)

  def rank_tags(self, image_embeddings: np.ndarray, latitude=None, longitude=None, *,
                k: int = 10, mode: str = "two_stage", candidates: int = DEFAULT_CANDIDATES,
                batch_size: int = 256, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Top-k tag ids and scores for each image at its place.

    Args:
      image_embeddings: (B, E) or (E,) stage-1 `tag_embedding`s.
      latitude, longitude: scalars or (B,) degrees; None (or NaN) for no location.
      k: tags to return.
      mode: "two_stage" (tag head's top `candidates`, re-ranked) or "full" (whole vocabulary).
      batch_size: images per jitted call; chunk: tags per pass in full mode.

    Returns:
      ids (B, k) int32 and scores (B, k) float32 (or (k,) each for a single image).
    """
    if mode not in ("two_stage", "full"):
      raise ValueError(f"mode is {mode!r}; use two_stage or full.")
    images = np.asarray(image_embeddings, np.float32)
    single = images.ndim == 1
    images = images[None] if single else images
    lat, lon, present = _location_inputs(latitude, longitude, len(images))
    n_tags = len(self.vocabulary)
    k = min(k, n_tags)
    cand = 0 if mode == "full" else max(k, min(candidates, n_tags))
    ids, scores = [], []
    for s in range(0, len(images), batch_size):
      e = slice(s, s + batch_size)
      chunk_ids, chunk_scores = _rank(
          self.graphdef, self.params, self.tag_sides, self.tag_embeddings, self.tag_bias,
          images[e], lat[e], lon[e], present[e], k=k, candidates=cand, chunk=chunk)
      ids.append(np.asarray(chunk_ids))
      scores.append(np.asarray(chunk_scores))
    ids, scores = np.concatenate(ids).astype(np.int32), np.concatenate(scores)
    return (ids[0], scores[0]) if single else (ids, scores)

  def tags(self, image_embedding: np.ndarray, latitude=None, longitude=None, *, k: int = 10,
           mode: str = "two_stage") -> list[tuple[str, float]]:
    """(tag, score) pairs, best first, for one image."""
    ids, scores = self.rank_tags(image_embedding, latitude, longitude, k=k, mode=mode)
    return [(self.vocabulary.tags[i], float(s)) for i, s in zip(ids, scores)]

  def tag_head_logits(self, image_embeddings: np.ndarray) -> np.ndarray:
    """The location-agnostic stage-1 tag head's logits (V per image)."""
    return np.asarray(jnp.asarray(image_embeddings) @ self.tag_embeddings.T + self.tag_bias)

  def load_index(self, split: str = "test") -> embeddings_lib.Embeddings:
    """The extracted photos of the stage-2 config's `train` or `test` split."""
    if self.workdir is None or self.config is None:
      raise ValueError("load_index needs a scorer loaded from a workdir (load_locsens).")
    return embeddings_lib.load_embeddings(
        stage2_inputs.embeddings_dir(self.workdir, self.config[split]))

  def make_index(self, photos: embeddings_lib.Embeddings, batch_size: int = 65536) -> PhotoIndex:
    """Precomputes the image side of every photo (photos without coordinates are left out)."""
    keep = np.isfinite(photos.latitude) & np.isfinite(photos.longitude)
    image = np.asarray(photos.image[keep], np.float32)
    sides = jnp.concatenate([
        _image_sides(self.graphdef, self.params, image[s:s + batch_size])
        for s in range(0, max(len(image), 1), batch_size)]) if len(image) else jnp.zeros(
            (0, self.tag_sides.shape[1]))
    return PhotoIndex(photo_id=np.asarray(photos.photo_id)[keep], latitude=photos.latitude[keep],
                      longitude=photos.longitude[keep], tag_ids=photos.tag_ids[keep],
                      image=image, image_sides=sides, record=np.flatnonzero(keep))

  def tag_id(self, tag: str | int) -> int:
    if isinstance(tag, (int, np.integer)):
      if not 0 <= tag < len(self.vocabulary):
        raise ValueError(f"Tag id {tag} is outside the vocabulary (0..{len(self.vocabulary)-1}).")
      return int(tag)
    if tag not in self.vocabulary.ids:
      raise KeyError(f"Tag {tag!r} is not in the vocabulary of {len(self.vocabulary)} tags.")
    return self.vocabulary.ids[tag]

  def search_ids(self, tag_ids: np.ndarray, latitude, longitude, *, index: PhotoIndex,
                 k: int = 10, exclude: np.ndarray | None = None, candidates: int = 0,
                 batch_size: int = 64, chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Top-k index rows and scores for Q queries (tag id, place); `exclude`: a row per query.

    `candidates` 0 scores every photo through the scorer (from the precomputed image sides);
    N > 0 re-ranks the tag head's top N photos (for large indexes on a CPU).
    """
    tag_ids = np.asarray(tag_ids, np.int64).reshape(-1)
    lat, lon, present = _location_inputs(latitude, longitude, len(tag_ids))
    exclude = (np.full(len(tag_ids), -1, np.int32) if exclude is None
               else np.asarray(exclude, np.int32))
    k = min(k, len(index))
    rows, scores = [], []
    for s in range(0, len(tag_ids), batch_size):
      e = slice(s, s + batch_size)
      if candidates and candidates < len(index):
        top, where = _search_two_stage(
            self.graphdef, self.params, index.image, index.image_sides,
            self.tag_embeddings[tag_ids[e]], self.tag_bias[tag_ids[e]], lat[e], lon[e],
            present[e], exclude[e], k=k, candidates=max(k, candidates))
      else:
        top, where = _search(self.graphdef, self.params, index.image_sides,
                             self.tag_embeddings[tag_ids[e]], lat[e], lon[e], present[e],
                             exclude[e], k=k, chunk=chunk)
      rows.append(np.asarray(where))
      scores.append(np.asarray(top))
    return np.concatenate(rows), np.concatenate(scores)

  def search(self, tag: str | int, latitude=None, longitude=None, *, index: PhotoIndex,
             k: int = 10, candidates: int = 0) -> dict[str, np.ndarray]:
    """Photos of `index` that best match `tag` near (latitude, longitude) (None: anywhere).

    `candidates`: 0 scores the whole index; N > 0 re-ranks the tag head's top N photos.

    Returns:
      photo_id, latitude, longitude, score: arrays of k, best first.
    """
    rows, scores = self.search_ids(np.array([self.tag_id(tag)]), latitude, longitude,
                                   index=index, k=k, candidates=candidates)
    rows = rows[0]
    return {"photo_id": index.photo_id[rows], "latitude": index.latitude[rows],
            "longitude": index.longitude[rows], "score": scores[0]}


def locsens_dir(workdir: workdir_lib.PathLike | workdir_lib.Workdir) -> workdir_lib.Workdir:
  """`<workdir>/locsens` for a stage-1 workdir, or the workdir itself if it is a stage-2 one."""
  workdir = workdir_lib.Workdir(workdir)
  return workdir.locsens if workdir.locsens.root.is_dir() else workdir


def load_locsens(workdir: workdir_lib.PathLike | workdir_lib.Workdir, step: int | None = None,
                 required: bool = False) -> LocSensScorer | None:
  """The trained scorer of a workdir (its latest checkpoint, or `step`): parameters only.

  Returns None when the workdir has no trained stage 2 (no `locsens/checkpoints`), or raises
  FileNotFoundError saying what is missing when `required`.
  """
  directory = locsens_dir(workdir)
  if not (directory.config.exists() and directory.checkpoints.is_dir()
          and directory.tag_embeddings.exists()):
    if required:
      raise FileNotFoundError(
          f"No trained LocSens scorer in {workdir} (looked for {directory.config}, "
          f"{directory.checkpoints} and {directory.tag_embeddings.name}): run a config with a "
          "`locsens` section, e.g. configs/quickstart.py.")
    return None
  # The section it was trained with; one written before a key existed gets the key's default.
  config = config_base.fill_defaults(workdir_lib.read_json(directory.config),
                                     config_base.base().locsens, str(directory.config))
  tag_embeddings, tag_bias = stage2_inputs.load_tag_table(directory)
  vocabulary = vocab_lib.TagVocabulary.load(directory.vocabulary)
  mesh = sharding.make_mesh(config.mesh)
  graphdef, abstract_params = scorer_lib.abstract_scorer(config, tag_embeddings.shape[1], mesh)
  ckpt = checkpointing.Checkpointer(directory.checkpoints, 1)
  try:
    step = ckpt.latest_step() if step is None else step
    if step is None:
      if required:
        raise FileNotFoundError(f"{directory.checkpoints} holds no checkpoint: has stage 2 "
                                "trained?")
      return None
    state = ckpt.restore_model(step, abstract_params)
  finally:
    ckpt.close()
  model = nnx.merge(graphdef, state["params"])
  return LocSensScorer(model, tag_embeddings, tag_bias, vocabulary, directory, config)
