"""Exact k-nearest-neighbour search by cosine similarity, the gallery sharded over the devices.

Each device holds a slice of the (L2-normalised) gallery rows. A batch of queries, replicated,
meets its slice chunk by chunk: one matmul and one top-k a chunk, the running top-k merged with
each chunk's, so memory stays at queries x chunk whatever the gallery size. The per-device
top-k are then gathered and merged once more. Ties are broken by the smaller gallery row, so
the answer does not depend on how many devices hold the gallery.

On the CPU, where XLA's matmul trails BLAS, a float32 gallery is searched by FAISS when it is
installed (`faiss_flat`), with the same answers; `backend` chooses explicitly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgeo.retrieval import faiss_flat

AXIS = "gallery"
BACKENDS = ("auto", "xla", "faiss")


def _aligned_zeros(shape: tuple[int, int], dtype, alignment: int = 64) -> np.ndarray:
  """A zeroed array whose data starts on an `alignment`-byte boundary: XLA's CPU client takes
  such an array as a device buffer without copying it."""
  size = shape[0] * shape[1] * np.dtype(dtype).itemsize
  raw = np.zeros(size + alignment, np.uint8)
  offset = -raw.ctypes.data % alignment
  return raw[offset:offset + size].view(dtype).reshape(shape)


def normalize(x: np.ndarray | jax.Array, eps: float = 1e-12):
  """Rows of unit length (cosine similarity becomes a dot product)."""
  norm = jnp.linalg.norm(x.astype(jnp.float32), axis=-1, keepdims=True)
  return (x / jnp.maximum(norm, eps).astype(x.dtype)).astype(x.dtype)


def _best(scores, ids, k: int):
  """The k best (score, id) pairs per query: higher score first, then the smaller id."""
  order = jnp.lexsort((ids, -scores), axis=-1)[..., :k]  # the last key is the primary one
  return jnp.take_along_axis(scores, order, -1), jnp.take_along_axis(ids, order, -1)


def _local_search(queries, gallery, valid, offset, *, k: int, chunk: int):
  """Top-k over this device's gallery rows (chunked), with global row ids."""
  num_chunks = gallery.shape[0] // chunk
  q = queries.astype(gallery.dtype)

  def step(carry, c):
    best_scores, best_ids = carry
    # Tied to the loop counter by a barrier, the gallery is no loop invariant for XLA: on a CPU,
    # which computes a bfloat16 matmul in float32, XLA otherwise hoists one float32 copy of the
    # whole gallery out of the loop (twice the memory a bfloat16 gallery is meant to take).
    rows_of, c = jax.lax.optimization_barrier((gallery, c))
    rows = jax.lax.dynamic_slice_in_dim(rows_of, c * chunk, chunk)
    ok = jax.lax.dynamic_slice_in_dim(valid, c * chunk, chunk)
    scores = jnp.dot(q, rows.T, preferred_element_type=jnp.float32)
    scores = jnp.where(ok[None, :], scores, -jnp.inf)
    top, where = jax.lax.top_k(scores, min(k, chunk))  # a tiny shard's chunk may hold fewer
    ids = (offset + c * chunk + where).astype(jnp.int32)
    return _best(jnp.concatenate([best_scores, top], -1),
                 jnp.concatenate([best_ids, ids], -1), k), None

  init = (jnp.full((q.shape[0], k), -jnp.inf, jnp.float32),
          jnp.full((q.shape[0], k), jnp.iinfo(jnp.int32).max, jnp.int32))
  (scores, ids), _ = jax.lax.scan(step, init, jnp.arange(num_chunks))
  return scores, ids


class ExactIndex:
  """A gallery of unit vectors, sharded by rows over `mesh`'s devices; exact top-k search.

  Args:
    embeddings: (N, D) gallery vectors (normalised here), float32 or already bfloat16.
    mesh: the devices to spread the rows over (default: all devices, one axis).
    dtype: storage and matmul dtype (bfloat16 halves the memory; scores accumulate in float32).
    chunk: gallery rows a device scores at once per query batch.
    backend: "xla" (the sharded search above), "faiss" (one process's CPU devices, float32),
      or "auto": FAISS where it can serve (installed, CPU devices of this process, float32),
      else XLA. The chosen one is `self.backend`.

  Each device's rows are normalised, cast and written into its buffer a chunk at a time, so
  building needs no copy of the gallery beyond the devices' own: MP-16's 4.7M x 768 takes 7 GB
  as bfloat16 (`embeddings` may be any array-like that slices rows, e.g. a memory map).
  """

  def __init__(self, embeddings: np.ndarray, mesh: Mesh | None = None, dtype=jnp.float32,
               chunk: int = 16384, backend: str = "auto"):
    self.mesh = mesh or jax.make_mesh((jax.device_count(),), (AXIS,))
    devices = self.mesh.devices.size
    self.size, self.dim = embeddings.shape
    self.backend = self._backend(backend, dtype)
    if self.backend == "faiss":
      self._flat = faiss_flat.FlatIndex(embeddings, chunk)
      return
    per_device = -(-self.size // devices)
    self.chunk = min(chunk, max(per_device, 1))
    per_device = -(-per_device // self.chunk) * self.chunk  # whole chunks on every device
    padded = per_device * devices
    axes = tuple(self.mesh.axis_names)

    sharding = NamedSharding(self.mesh, P(axes, None))
    shape = (padded, self.dim)
    self.gallery = jax.make_array_from_single_device_arrays(shape, sharding, [
        self._device_rows(embeddings, device, index[0].indices(padded)[0], per_device, dtype)
        for device, index in sharding.addressable_devices_indices_map(shape).items()])
    self.valid = jax.device_put(np.arange(padded) < self.size, NamedSharding(self.mesh, P(axes)))
    self.offsets = jax.device_put(np.arange(devices, dtype=np.int32) * per_device,
                                  NamedSharding(self.mesh, P(axes)))
    self._search = jax.jit(self._make_search(axes), static_argnames=("k",))

  def _backend(self, backend: str, dtype) -> str:
    if backend not in BACKENDS:
      raise ValueError(f"ExactIndex backend {backend!r}: choose one of {', '.join(BACKENDS)}.")
    # What keeps FAISS from serving this index, if anything.
    missing = [why for why, ok in (
        ("faiss-cpu installed (pip install 'jaxgeo[retrieval]')", faiss_flat.available()),
        (f"a float32 gallery (this one is {np.dtype(dtype).name})",
         np.dtype(dtype) == np.float32),
        ("this process's CPU devices", all(
            d.platform == "cpu" and d.process_index == jax.process_index()
            for d in self.mesh.devices.flat))) if not ok]
    if backend == "faiss" and missing:
      raise ValueError(f"ExactIndex backend 'faiss' needs {' and '.join(missing)}; or use "
                       "backend='xla'.")
    if backend == "auto":
      return "xla" if missing else "faiss"
    return backend

  def _device_rows(self, embeddings, device: jax.Device, start: int, rows: int,
                   dtype) -> jax.Array:
    """Gallery rows [start, start + rows) on `device`, normalised, zero past the end.

    Filled a chunk at a time into one 64-byte-aligned host buffer, which a CPU device then uses
    as it is (no copy) and an accelerator copies once.
    """
    buffer = _aligned_zeros((rows, self.dim), dtype)
    for first in range(start, min(start + rows, self.size), self.chunk):
      last = min(first + self.chunk, self.size)
      part = np.asarray(embeddings[first:last], np.float32)  # may be the caller's: not in place
      norms = np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12)
      buffer[first - start:last - start] = (part / norms).astype(dtype)
    return jax.device_put(buffer, device, may_alias=True)

  def _make_search(self, axes):
    def search(gallery, valid, offsets, queries, k):
      def per_device(gallery, valid, offset, queries):
        scores, ids = _local_search(queries, gallery, valid, offset[0], k=k, chunk=self.chunk)
        # Every device's k best, then the k best of those.
        all_scores = jax.lax.all_gather(scores, axes, axis=1, tiled=True)
        all_ids = jax.lax.all_gather(ids, axes, axis=1, tiled=True)
        return _best(all_scores, all_ids, k)

      return jax.shard_map(per_device, mesh=self.mesh,
                           in_specs=(P(axes, None), P(axes), P(axes), P()),
                           out_specs=(P(), P()), check_vma=False)(gallery, valid, offsets,
                                                                  queries)
    return search

  def search(self, queries: np.ndarray, k: int = 10,
             batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(cosine similarities, gallery rows) of the k nearest rows of each query, best first."""
    k = min(k, self.size)
    queries = np.asarray(normalize(jnp.asarray(queries, jnp.float32)))
    if self.backend == "faiss":
      return self._flat.search(queries, k)
    scores, ids = [], []
    for start in range(0, len(queries), batch_size):
      batch = queries[start:start + batch_size]
      pad = (-len(batch)) % batch_size if len(queries) > batch_size else 0
      batch = np.pad(batch, ((0, pad), (0, 0)))
      s, i = self._search(self.gallery, self.valid, self.offsets, jnp.asarray(batch), k=k)
      scores.append(np.asarray(s)[:len(batch) - pad])
      ids.append(np.asarray(i)[:len(batch) - pad])
    return np.concatenate(scores), np.concatenate(ids)
