r"""The model on devices: photos in, raw arrays out, for the Predictor to answer from.

Photos are prepared as evaluation prepares them (upright RGB, shorter side resized to
image_size / 0.875, centre crop; or five crops with averaged softmax). The model runs in one
jitted function over a few fixed batch shapes (powers of two up to `batch_size`), so a stream of
photos never recompiles per batch size.

By default the model runs on one device (a demo's photo at a time gains nothing from more);
`devices=jax.local_devices()` splits each batch over all of this process's devices, as the batch
CLI does for whole collections.

The runner knows nothing of place names, tag ranking or galleries: turning its arrays into
answers is jaxgeo.predict.assembler's job, so that another model (e.g. one that scores a gallery
of coordinates) can answer through the same Predictor with a runner of its own.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgeo.data import transforms
from jaxgeo.geo.hierarchy import Hierarchy
from jaxgeo.predict.photos import LoadedPhoto, Photo, load_photo
from jaxgeo.run import distributed


def forward(params, rest, images: jax.Array, *, graphdef, hierarchy: Hierarchy | None, crops: int,
            top_k: int, num_tags: int, full: bool = False,
            hybrid_cells: int = 0) -> dict[str, jax.Array]:
  """Every head's answer for a batch of photos (B * crops images in, B answers out).

  A thin reader of the model's `predict` (one backbone pass, crops voted there): top classes
  and their probabilities, the tag embedding and the landmark descriptor for the index. With
  `full`, the whole distributions come back too (tests, maps); with `hybrid_cells`, the pooled
  embedding and the hierarchy's best cells for the gallery search. ModelRunner lists the keys.
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


class ModelRunner:
  """A trained jaxgeo model on this process's devices: loaded photos in, raw arrays out.

  `run_batch` returns numpy arrays whose first axis is the photos, keyed by what they hold
  (k = min(top_k, classes), n = min(num_tags, vocabulary)):

    geo/<partition>/class, geo/<partition>/prob   (B,) each partition's top class
    hierarchy/classes_top, hierarchy/probs_top    (B, k) the product rule's best finest classes
    coarse/classes_top, coarse/probs_top          (B, k) the coarsest partition's best classes
    hierarchy/probs                               (B, finest classes) the product rule
    hybrid/cells, hybrid/cell_probs, embedding    with `hybrid_cells`: the hierarchy's best
                                                  cells and the pooled embedding (gallery search)
    tag/ids_top, tag/probs_top, tag/embedding     (B, n) the tag head's best tags; (B, E) its
                                                  image embedding (what LocSens ranks from)
    landmark/class, landmark/prob                 (B,) the landmark head's best class
    landmark/descriptor                           (B, D) GeM descriptor for the landmark index
    geo/<partition>/probs, tag/probs, landmark/probs   with `full`: whole distributions

  Keys of heads the model lacks are absent (no `geo/` or `hierarchy/` without a hierarchy).
  Another model answers through the Predictor with a runner offering the same methods
  (`run_batch`, `prepare`, `load_photos`, `min_decode_side`, `batch_size`, `five_crop`,
  `devices`, `replicated`) and keys the answer assembly reads.
  """

  def __init__(self, graphdef, params, rest, *, image_size: int, hierarchy: Hierarchy | None,
               top_k: int = 5, num_tags: int = 10, hybrid_cells: int = 0,
               batch_size: int = 16, five_crop: bool = False,
               devices: Sequence[jax.Device] | None = None):
    # One device unless given `devices` to split batches over; the parameters are replicated
    # on each.
    self.devices = list(devices or jax.local_devices()[:1])
    mesh = Mesh(np.array(self.devices), ("batch",))
    self.replicated = NamedSharding(mesh, PartitionSpec())
    self._split = NamedSharding(mesh, PartitionSpec("batch"))
    self.graphdef = graphdef
    self.params = jax.device_put(distributed.on_this_process(params), self.replicated)
    self.rest = jax.device_put(distributed.on_this_process(rest), self.replicated)
    self.image_size = int(image_size)
    self.hierarchy = hierarchy
    self.top_k = int(top_k)
    self.num_tags = int(num_tags)
    self.hybrid_cells = int(hybrid_cells)
    # Each device gets the same share of a batch.
    self.batch_size = -(-int(batch_size) // len(self.devices)) * len(self.devices)
    self.five_crop = bool(five_crop)
    self.decode_threads = min(4, os.cpu_count() or 1)
    # Its cache holds one compilation per batch shape (and crops, full) met so far.
    self.compiled_forward = jax.jit(forward, static_argnames=(
        "graphdef", "hierarchy", "crops", "top_k", "num_tags", "full", "hybrid_cells"))

  def run_batch(self, photos: Sequence[Photo], *, five_crop: bool | None = None,
                full: bool = False) -> dict[str, np.ndarray]:
    """Raw outputs (see the class) for any number of photos, in padded fixed-size batches."""
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
      out = self.compiled_forward(self.params, self.rest, images, graphdef=self.graphdef,
                                  hierarchy=self.hierarchy, crops=crops, top_k=self.top_k,
                                  num_tags=self.num_tags, full=full,
                                  hybrid_cells=self.hybrid_cells)
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
