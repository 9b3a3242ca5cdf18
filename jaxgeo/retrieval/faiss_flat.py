"""Exact cosine search on the CPU through FAISS' `IndexFlatIP`, when faiss-cpu is installed.

XLA's CPU matmul and top-k trail FAISS' BLAS search (0.6-0.7x at 100k-1M x 512 on an
AVX-512/AMX Xeon, `benchmarks/retrieval.py`), so `knn.ExactIndex` serves a float32 gallery on
CPU devices from here, with the same answers: FAISS keeps the smaller row among tied scores but
lists tied rows in reverse, so each query's k are sorted again by (score, row).
"""

from __future__ import annotations

import importlib.util
import logging as std_logging

import numpy as np


def available() -> bool:
  """Whether faiss-cpu is installed (the `retrieval` extra)."""
  return importlib.util.find_spec("faiss") is not None


class FlatIndex:
  """Unit-length rows in FAISS' own storage, written a chunk at a time (no second copy).

  Args:
    embeddings: (N, D) rows, any array-like that slices rows (e.g. a memory map); normalised
      here, never in place.
    chunk: rows normalised at once.
  """

  def __init__(self, embeddings, chunk: int = 16384):
    # FAISS' loader logs each CPU build it tries at INFO; only its warnings matter here.
    std_logging.getLogger("faiss.loader").setLevel(std_logging.WARNING)
    import faiss  # pylint: disable=g-import-not-at-top  (an optional extra)
    self.size, self.dim = embeddings.shape
    self.index = faiss.IndexFlatIP(self.dim)
    nbytes = self.size * self.dim * 4
    self.index.codes.resize(nbytes)
    rows = faiss.rev_swig_ptr(self.index.codes.data(), nbytes).view(np.float32).reshape(
        self.size, self.dim) if nbytes else np.zeros((0, self.dim), np.float32)
    for first in range(0, self.size, chunk):
      part = np.asarray(embeddings[first:first + chunk], np.float32)
      rows[first:first + len(part)] = part / np.maximum(
          np.linalg.norm(part, axis=1, keepdims=True), 1e-12)
    self.index.ntotal = self.size

  def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of the k best rows of each unit-length query: score first, then row."""
    scores, rows = self.index.search(np.ascontiguousarray(queries, np.float32), k)
    order = np.lexsort((rows, -scores), axis=-1)
    return (np.take_along_axis(scores, order, -1),
            np.take_along_axis(rows, order, -1).astype(np.int32))
