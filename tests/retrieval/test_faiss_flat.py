"""The CPU search through FAISS gives the XLA search's answers: the same rows in the same order,
ties included, and serves only what it can (float32 on this process's CPU devices)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.retrieval import knn

pytest.importorskip("faiss", reason="needs faiss-cpu: pip install 'jaxgeo[retrieval]'")


def _one_device():
  return jax.make_mesh((1,), (knn.AXIS,), devices=jax.devices()[:1])


def test_the_same_neighbours_and_scores_as_the_sharded_xla_search():
  rng = np.random.default_rng(0)
  gallery = rng.normal(size=(1003, 24)).astype(np.float32)
  queries = rng.normal(size=(37, 24)).astype(np.float32)
  before = gallery.copy()
  flat = knn.ExactIndex(gallery, chunk=64, backend="faiss")  # rows written 64 at a time
  np.testing.assert_array_equal(gallery, before)  # normalised copies, never in place
  unit = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
  expected_scores = queries / np.linalg.norm(queries, axis=1, keepdims=True) @ unit.T
  expected = np.argsort(-expected_scores, axis=1, kind="stable")[:, :5]
  scores, ids = flat.search(queries, k=5)
  np.testing.assert_array_equal(ids, expected)
  assert ids.dtype == np.int32
  xla_scores, xla_ids = knn.ExactIndex(gallery, chunk=64, backend="xla").search(queries, k=5)
  np.testing.assert_array_equal(ids, xla_ids)
  np.testing.assert_allclose(scores, xla_scores, atol=1e-6)
  _, every = knn.ExactIndex(gallery[:3], backend="faiss").search(queries[:2], k=10)
  assert every.shape == (2, 3) and sorted(every[0].tolist()) == [0, 1, 2]


def test_ties_keep_the_smallest_rows_in_row_order_as_xla_does():
  """FAISS keeps the smaller rows of a tie but lists them in reverse; the index sorts them back.
  31 rows tie here (7 and 1000..1029), more than k."""
  rng = np.random.default_rng(2)
  gallery = rng.normal(size=(2000, 16)).astype(np.float32)
  gallery[1000:1030] = gallery[7]
  queries = np.concatenate([gallery[[7]] * 3.0, rng.normal(size=(40, 16)).astype(np.float32)])
  flat = knn.ExactIndex(gallery, backend="faiss")
  xla = knn.ExactIndex(gallery, mesh=_one_device(), chunk=256, backend="xla")
  assert flat.search(queries[:1], k=10)[1][0].tolist() == [7, *range(1000, 1009)]
  np.testing.assert_array_equal(flat.search(queries, k=10)[1], xla.search(queries, k=10)[1])


def test_auto_serves_float32_cpu_galleries_by_faiss_and_bfloat16_by_xla():
  gallery = np.random.default_rng(3).normal(size=(100, 8)).astype(np.float32)
  assert knn.ExactIndex(gallery).backend == "faiss"
  assert knn.ExactIndex(gallery, dtype=jnp.bfloat16).backend == "xla"
  with pytest.raises(ValueError, match="a float32 gallery"):
    knn.ExactIndex(gallery, dtype=jnp.bfloat16, backend="faiss")
