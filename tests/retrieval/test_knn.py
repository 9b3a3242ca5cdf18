"""Exact nearest neighbours over a gallery sharded on the devices: the same answers as a brute
force, on one device and on eight."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.retrieval import knn


def _unit(x):
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def _one_device():
  return jax.make_mesh((1,), (knn.AXIS,), devices=jax.devices()[:1])


@pytest.fixture(scope="module")
def data():
  rng = np.random.default_rng(0)
  # 1,003 rows: not a multiple of 8 devices x the chunk, so every device holds padding.
  return rng.normal(size=(1003, 24)).astype(np.float32), rng.normal(size=(37, 24)).astype(
      np.float32)


def test_the_nearest_rows_by_cosine_on_one_and_eight_devices(data):
  gallery, queries = data
  assert jax.device_count() == 8
  expected_scores = _unit(queries) @ _unit(gallery).T
  expected = np.argsort(-expected_scores, axis=1, kind="stable")[:, :5]
  before = gallery.copy()
  one = knn.ExactIndex(gallery, mesh=_one_device(), chunk=64, backend="xla")
  eight = knn.ExactIndex(gallery, chunk=64, backend="xla")
  np.testing.assert_array_equal(gallery, before)  # normalised copies, never in place
  for index in (one, eight):
    scores, ids = index.search(queries, k=5, batch_size=16)  # batches with a short last one
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(expected_scores, expected, 1),
                               atol=1e-5)
    assert ids.max() < len(gallery)  # never a padding row
  np.testing.assert_array_equal(one.search(queries, 5)[0], eight.search(queries, 5)[0])


def test_ties_go_to_the_smaller_row_whatever_the_sharding():
  """Rows 3, 500 and 900 are the same vector: equal scores, listed by row."""
  rng = np.random.default_rng(1)
  gallery = rng.normal(size=(1000, 8)).astype(np.float32)
  gallery[[500, 900]] = gallery[3]
  query = gallery[3:4] * 2.0  # the length does not matter to cosine
  for index in (knn.ExactIndex(gallery, mesh=_one_device(), chunk=128, backend="xla"),
                knn.ExactIndex(gallery, chunk=32, backend="xla")):
    scores, ids = index.search(query, k=3)
    assert ids[0].tolist() == [3, 500, 900]
    np.testing.assert_allclose(scores[0], [1.0, 1.0, 1.0], atol=1e-6)


def test_a_small_gallery_and_bfloat16_storage(data):
  gallery, queries = data
  small = knn.ExactIndex(gallery[:3], chunk=64, backend="xla")
  _, ids = small.search(queries[:2], k=10)  # k larger than the gallery: all of it
  assert ids.shape == (2, 3) and sorted(ids[0].tolist()) == [0, 1, 2]
  bf16 = knn.ExactIndex(gallery, dtype=jnp.bfloat16, chunk=64)
  assert bf16.gallery.dtype == jnp.bfloat16
  exact = knn.ExactIndex(gallery, chunk=64, backend="xla").search(queries, k=10)[1]
  found = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(bf16.search(queries, k=10)[1],
                                                             exact)])
  assert found > 0.9  # bf16 reorders near ties only


def test_an_unknown_backend_is_refused_by_name(data):
  with pytest.raises(ValueError, match="choose one of auto, xla, faiss"):
    knn.ExactIndex(data[0], backend="scann")


def test_a_bfloat16_gallery_is_never_copied_whole_in_float32():
  """The CPU computes bfloat16 matmuls in float32; the search converts a chunk at a time, never
  the gallery (XLA would otherwise hoist one float32 copy of it out of the loop)."""
  rows, dim, chunk = 65536, 256, 2048
  gallery = np.ones((rows, dim), jnp.bfloat16)  # built from a bfloat16 array as it is
  index = knn.ExactIndex(gallery, mesh=_one_device(), dtype=jnp.bfloat16, chunk=chunk)
  np.testing.assert_allclose(np.asarray(index.gallery[:2, :2], np.float32), 1 / 16)  # unit rows
  queries = jnp.ones((100, dim), jnp.float32)
  search = index._search  # pylint: disable=protected-access
  compiled = search.lower(index.gallery, index.valid, index.offsets, queries, k=10).compile()
  float32_copy = rows * dim * 4
  assert compiled.memory_analysis().temp_size_in_bytes < float32_copy / 8
