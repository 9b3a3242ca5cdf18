"""The train step: losses, masking, and the same result on 8 sharded devices as on one."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from jaxgeo import train
from jaxgeo.models import geolocator
from jaxgeo.run import config_base, sharding

NUM_CLASSES = {"coarse": 7, "fine": 13}


def test_masked_cross_entropy():
  logits = jnp.array([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
  labels = jnp.array([0, 0, -1])
  ce, acc = train.masked_cross_entropy(logits, labels)
  expected = np.mean([-jax.nn.log_softmax(logits[0])[0], -jax.nn.log_softmax(logits[1])[0]])
  assert float(ce) == pytest.approx(float(expected), rel=1e-6)
  assert float(acc) == pytest.approx(0.5)
  ce, acc = train.masked_cross_entropy(logits, jnp.array([-1, -1, -1]))
  assert float(ce) == 0.0 and float(acc) == 0.0  # no labels: no loss, no NaN


def test_loss_is_weighted_sum_with_geo_heads_averaged():
  outputs = {"geo/coarse": jnp.zeros((2, 7)), "geo/fine": jnp.zeros((2, 13)),
             "tag": jnp.zeros((2, 5))}
  batch = {"label_coarse": jnp.array([1, 2]), "label_fine": jnp.array([3, -1]),
           "tag": jnp.array([0, 4])}
  weights = ml_collections.ConfigDict({"geo": 2.0, "tag": 0.5})
  loss, metrics = train.compute_loss(outputs, batch, ("coarse", "fine"), weights)
  expected = 2.0 * (np.log(7) + np.log(13)) / 2 + 0.5 * np.log(5)
  assert float(loss) == pytest.approx(expected, rel=1e-6)
  assert float(metrics["loss/fine"]) == pytest.approx(np.log(13), rel=1e-6)


def _batch(n=16, size=32, seed=0):
  rng = np.random.default_rng(seed)
  return {
      "image": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
      "label_coarse": rng.integers(-1, 7, n).astype(np.int32),
      "label_fine": rng.integers(-1, 13, n).astype(np.int32),
      "tag": rng.integers(-1, 11, n).astype(np.int32),
      "landmark": rng.integers(-1, 3, n).astype(np.int32),
  }


def _run_two_steps(mesh):
  model_config = config_base.base().model
  model_config.update(backbone="tiny", tag_head=True, landmark_head=True)
  make = functools.partial(geolocator.make_model, model_config, NUM_CLASSES, 11, 3, 0)
  tx = optax.sgd(0.05, momentum=0.9)

  def init_state():
    _, params, rest = nnx.split(make(), nnx.Param, ...)
    return {"params": params, "rest": rest, "opt_state": tx.init(params),
            "step": jnp.zeros((), jnp.int32)}

  abstract = jax.eval_shape(init_state)
  shardings = sharding.param_shardings(abstract, mesh, min_size=1000)
  state = jax.jit(init_state, out_shardings=shardings)()
  step = jax.jit(functools.partial(
      train.train_step, graphdef=nnx.graphdef(nnx.eval_shape(make)), tx=tx,
      partition_names=tuple(NUM_CLASSES), loss_weights=config_base.base().loss, seed=0),
      in_shardings=(shardings, sharding.batch_sharding(mesh)),
      out_shardings=(shardings, sharding.replicated(mesh)))
  losses = []
  for seed in range(2):
    batch = jax.device_put(_batch(seed=seed), sharding.batch_sharding(mesh))
    state, metrics = step(state, batch)
    losses.append(float(metrics["loss"]))
  return state, losses, shardings


def test_sharded_step_matches_one_device():
  assert jax.device_count() == 8
  one = sharding.make_mesh(ml_collections.ConfigDict({"data": 1, "fsdp": 1}),
                           devices=jax.devices()[:1])
  eight = sharding.make_mesh(ml_collections.ConfigDict({"data": 4, "fsdp": 2}))
  state1, losses1, _ = _run_two_steps(one)
  state8, losses8, shardings8 = _run_two_steps(eight)
  # Some parameters really are split over the fsdp axis.
  assert any("fsdp" in s.spec for s in jax.tree.leaves(shardings8["params"]))
  np.testing.assert_allclose(losses8, losses1, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(state8["params"]), jax.tree.leaves(state1["params"])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
  # BatchNorm statistics are computed over the global batch, not per device.
  for a, b in zip(jax.tree.leaves(state8["rest"]), jax.tree.leaves(state1["rest"])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
  assert int(state8["step"]) == 2
