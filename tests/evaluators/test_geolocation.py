"""Predicted coordinates, ranks and top-k accuracy of the geolocation evaluator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.evaluators import geolocation
from jaxgeo.geo import hierarchy, partitions as partitions_lib


def test_label_rank_and_top_k():
  logits = jnp.array([[0.1, 0.5, 0.2], [3.0, 1.0, 2.0], [0.0, 0.0, 1.0]])
  ranks = np.asarray(geolocation.label_rank(logits, jnp.array([1, 1, -1])))
  np.testing.assert_array_equal(ranks, [0, 2, -1])
  acc = geolocation.top_k_accuracy(ranks, ks=(1, 2, 3))
  assert acc == {"top1": 0.5, "top2": 0.5, "top3": 1.0}


def test_predictions_use_class_coordinates_and_the_hierarchy():
  # Two clusters, Paris and Sydney; coarse = 1 cell each side, fine = split Paris in two.
  lat = np.r_[np.full(40, 48.85), np.full(40, 48.95), np.full(40, -33.87)]
  lon = np.r_[np.full(40, 2.30), np.full(40, 2.45), np.full(40, 151.21)]
  parts, _ = partitions_lib.build_partitions(lat, lon, tau_min=5, tau_max=[200, 50])
  tree = hierarchy.make_hierarchy(parts)
  coarse, fine = tree.partitions
  # The fine head alone prefers Sydney, but the coarse head is sure of France: the product rule
  # picks the better of the Paris cells.
  paris = [c for c in range(fine.num_classes) if fine.latitudes[c] > 0]
  sydney = [c for c in range(fine.num_classes) if fine.latitudes[c] < 0][0]
  fine_logits = np.zeros((1, fine.num_classes))
  fine_logits[0, sydney], fine_logits[0, paris[1]] = 2.0, 1.9
  coarse_logits = np.full((1, coarse.num_classes), -5.0)
  coarse_logits[0, tree.parents[paris[1], 0]] = 5.0
  out = geolocation.predicted_coordinates(
      tree, {f"geo/{coarse.name}": jax.nn.log_softmax(jnp.asarray(coarse_logits)),
             f"geo/{fine.name}": jax.nn.log_softmax(jnp.asarray(fine_logits))})
  assert float(out[fine.name][0][0]) == pytest.approx(fine.latitudes[sydney], abs=1e-4)
  assert float(out[geolocation.HIERARCHY][0][0]) == pytest.approx(fine.latitudes[paris[1]],
                                                                   abs=1e-4)
