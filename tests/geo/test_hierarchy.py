"""The class hierarchy across partitionings and the product rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import s2sphere

from jaxgeo.geo import hierarchy, partitions as partitions_lib


@pytest.fixture(scope="module")
def three_partitions():
  rng = np.random.default_rng(0)
  centres = rng.uniform([-50, -180], [65, 180], size=(15, 2))
  idx = rng.integers(0, 15, 15_000)
  lat = np.clip(centres[idx, 0] + rng.normal(0, 1.5, idx.size), -90, 90)
  lon = (centres[idx, 1] + rng.normal(0, 1.5, idx.size) + 180) % 360 - 180
  parts, _ = partitions_lib.build_partitions(lat, lon, tau_min=10, tau_max=[2000, 500, 120])
  return parts


def test_parents_contain_their_children(three_partitions):
  # Given in fine-to-coarse order on purpose: make_hierarchy sorts coarse to fine.
  tree = hierarchy.make_hierarchy(three_partitions[::-1])
  assert [p.name for p in tree.partitions] == ["cells_10_2000", "cells_10_500", "cells_10_120"]
  fine = tree.finest
  assert tree.parents.shape == (fine.num_classes, 3)
  np.testing.assert_array_equal(tree.parents[:, 2], np.arange(fine.num_classes))
  for k, coarse in enumerate(tree.partitions[:2]):
    for c in range(fine.num_classes):
      parent = s2sphere.CellId.from_token(coarse.tokens[tree.parents[c, k]])
      assert parent.contains(s2sphere.CellId.from_token(fine.tokens[c]))
    # Counts add up: a coarse class holds the photos of its fine classes (or more, from fine
    # cells dropped under tau_min).
    sums = np.bincount(tree.parents[:, k], weights=fine.counts, minlength=coarse.num_classes)
    assert np.all(sums <= coarse.counts)


def test_product_rule(three_partitions):
  tree = hierarchy.make_hierarchy(three_partitions)
  rng = np.random.default_rng(1)
  probs = [jax.nn.softmax(jnp.asarray(rng.normal(size=(4, p.num_classes))), axis=-1)
           for p in tree.partitions]
  combined = np.asarray(tree.combine_probs(probs))
  c = 7
  expected = (np.asarray(probs[0])[:, tree.parents[c, 0]]
              * np.asarray(probs[1])[:, tree.parents[c, 1]] * np.asarray(probs[2])[:, c])
  np.testing.assert_allclose(combined[:, c], expected, rtol=1e-5)
  log_combined = jax.jit(tree.combine_log_probs)([jnp.log(p) for p in probs])
  np.testing.assert_allclose(np.exp(log_combined), combined, rtol=1e-4)
  # The fine scores of one coarse class's children sum to at most that class's probability.
  members = tree.parents[:, 0] == tree.parents[c, 0]
  assert np.all(combined[:, members].sum(-1) <= np.asarray(probs[0])[:, tree.parents[c, 0]] + 1e-6)


def test_top_k_coordinates(three_partitions):
  tree = hierarchy.make_hierarchy(three_partitions)
  scores = np.zeros((2, tree.finest.num_classes))
  scores[0, [5, 9, 2]] = [0.5, 0.3, 0.2]
  scores[1, 11] = 1.0
  top = tree.top_k(scores, k=3)
  np.testing.assert_array_equal(top["classes"][0], [5, 9, 2])
  np.testing.assert_allclose(top["scores"][0], [0.5, 0.3, 0.2])
  assert top["classes"][1, 0] == 11
  np.testing.assert_allclose(top["latitudes"][0], tree.finest.latitudes[[5, 9, 2]])
  np.testing.assert_allclose(top["longitudes"][1, 0], tree.finest.longitudes[11])


def test_wrong_number_of_outputs(three_partitions):
  tree = hierarchy.make_hierarchy(three_partitions)
  with pytest.raises(ValueError, match="Got 2 outputs"):
    tree.combine_log_probs([jnp.zeros(p.num_classes) for p in tree.partitions[:2]])
  with pytest.raises(ValueError, match="has 3 classes"):
    tree.combine_log_probs([jnp.zeros(3)] * 3)


def test_unrelated_partitions_fall_back_to_nearest(caplog):
  # A fine partition around Paris and a coarse one around Berlin, built from different photos.
  paris, _ = partitions_lib.build_partitions(np.full(30, 48.85), np.full(30, 2.35), 1, [100])
  berlin, _ = partitions_lib.build_partitions(np.r_[np.full(30, 52.5), np.full(30, -33.9)],
                                              np.r_[np.full(30, 13.4), np.full(30, 151.2)],
                                              1, [100])
  tree = hierarchy.make_hierarchy([paris[0], berlin[0]])
  assert tree.partitions[0] is paris[0]  # 1 class is coarser than 2.
  # Now force the other order: the Paris class has no ancestor among Berlin/Sydney cells.
  tree = hierarchy._find_parents(paris[0], berlin[0])
  berlin_class = berlin[0].classify([52.5], [13.4])[0]
  assert tree.tolist() == [berlin_class]
  assert "have no ancestor" in caplog.text
