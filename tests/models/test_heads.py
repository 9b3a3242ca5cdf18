"""The heads' pooling: GeM between average and max pooling, and stable wherever p is driven."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxgeo.models import heads


def _feature_map(seed=0):
  x = np.random.default_rng(seed).normal(size=(2, 4, 4, 8)).astype(np.float32)
  x[:, :, :, 0] = 0.0  # a dead channel, as ReLU leaves them
  return jnp.maximum(x, 0.0)


def test_gem_is_the_generalized_mean():
  x = _feature_map()
  gem = heads.GeM(p=3.0)
  expected = np.mean(np.maximum(np.asarray(x), 1e-6) ** 3, axis=(1, 2)) ** (1 / 3)
  np.testing.assert_allclose(gem(x), expected, rtol=1e-5)
  # Between average and max pooling.
  assert np.all(np.asarray(gem(x)) >= np.asarray(x.mean(axis=(1, 2))) - 1e-6)
  assert np.all(np.asarray(gem(x)) <= np.asarray(x.max(axis=(1, 2))) + 1e-6)


def test_gem_below_one_is_average_pooling_with_finite_gradients():
  x = _feature_map()
  for p in (0.5, 0.0, -5.2):  # -5.2: where the quickstart's p was when its loss became NaN
    gem = heads.GeM(p=p)
    np.testing.assert_allclose(gem(x), np.maximum(np.asarray(x), 1e-6).mean(axis=(1, 2)),
                               rtol=1e-5)
    graphdef, params = nnx.split(gem)

    def loss(params, feature_map, graphdef=graphdef):
      return jnp.sum(nnx.merge(graphdef, params)(feature_map))

    grads = jax.grad(loss, argnums=(0, 1))(params, x)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
