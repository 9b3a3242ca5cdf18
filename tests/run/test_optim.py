"""Schedules and optimizers from config sections."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxgeo.run import config_base, optim


def _config(**kwargs):
  """An optimizer section: the base's, but for `kwargs`."""
  config = config_base.base().optim
  config.update(kwargs)
  return config


def _durations(**kwargs):
  return ml_collections.ConfigDict({"train_steps": None, "train_epochs": None, **kwargs})


def test_geoestimation_step_schedule_halves_at_epochs():
  # lr 0.01 halved at epochs 4, 8, 12, 13, 14 (GeoEstimation's recipe), 100 steps an epoch.
  cfg = _config(learning_rate=0.01, schedule="step", decay_epochs=(4, 8, 12, 13, 14),
                decay_factor=0.5)
  schedule = optim.make_learning_rate_schedule(cfg, steps_per_epoch=100, total_steps=1500)
  got = [float(schedule(s)) for s in (0, 399, 400, 799, 800, 1200, 1300, 1400, 1499)]
  np.testing.assert_allclose(
      got, [0.01, 0.01, 0.005, 0.005, 0.0025, 0.00125, 0.000625, 0.0003125, 0.0003125])


def test_cosine_with_warmup():
  cfg = _config(learning_rate=0.1, schedule="cosine", warmup_steps=10)
  schedule = optim.make_learning_rate_schedule(cfg, steps_per_epoch=7, total_steps=110)
  assert float(schedule(0)) == 0.0
  assert float(schedule(5)) == pytest.approx(0.05)
  assert float(schedule(10)) == pytest.approx(0.1)
  assert float(schedule(60)) == pytest.approx(0.05, rel=1e-5)  # half-way down the cosine
  assert float(schedule(110)) == pytest.approx(0.0, abs=1e-7)


def test_steps_or_epochs():
  assert optim.steps_of(_durations(train_epochs=2.5), "train", 40) == 100
  assert optim.steps_of(_durations(train_steps=7), "train", 40) == 7
  with pytest.raises(ValueError, match="only one of train_steps and train_epochs"):
    optim.steps_of(_durations(train_steps=7, train_epochs=1), "train", 40)
  with pytest.raises(ValueError, match="Set train_steps or train_epochs"):
    optim.steps_of(_durations(), "train", 40)


def test_sgd_momentum_and_weight_decay_match_the_formula():
  cfg = _config(optimizer="sgd", momentum=0.9, weight_decay=1e-4)
  tx = optim.make_optimizer(cfg, optax.constant_schedule(0.1))
  params = {"w": jnp.array([1.0, -2.0])}
  grads = {"w": jnp.array([0.5, 0.5])}
  state = tx.init(params)
  updates, state = tx.update(grads, state, params)
  # PyTorch SGD: d = g + wd * p; v = d (first step); p -= lr * v.
  np.testing.assert_allclose(updates["w"], -0.1 * (np.array([0.5, 0.5]) + 1e-4 * np.array(
      [1.0, -2.0])), rtol=1e-6)
  updates2, _ = tx.update(grads, state, params)
  d = np.array([0.5, 0.5]) + 1e-4 * np.array([1.0, -2.0])
  np.testing.assert_allclose(updates2["w"], -0.1 * (0.9 * d + d), rtol=1e-6)


def test_unknown_names_are_errors():
  with pytest.raises(ValueError, match="use constant, step or cosine"):
    optim.make_learning_rate_schedule(_config(learning_rate=0.1, schedule="poly"), 1, 1)
  with pytest.raises(ValueError, match="use sgd or adamw"):
    optim.make_optimizer(_config(optimizer="lamb"), optax.constant_schedule(0.1))


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_a_frozen_module_never_moves_and_holds_no_state(optimizer):
  """Weight decay would move parameters with zero gradients: the frozen backbone must not."""
  params = {"backbone": {"w": jnp.ones((3, 2))}, "geo": {"w": jnp.ones((2, 4))}}
  config = _config(optimizer=optimizer, weight_decay=0.1)
  tx = optim.freeze(optim.make_optimizer(config, optax.constant_schedule(0.1)), "backbone")
  state = tx.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  for _ in range(3):
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(params["backbone"]["w"], np.ones((3, 2)))
  assert float(params["geo"]["w"][0, 0]) < 1.0  # the heads train
  # No optimizer state (momentum, Adam's moments) is kept for the frozen part.
  assert sum(x.size for x in jax.tree.leaves(state)) < 3 * (3 * 2 + 2 * 4)
  assert not any(x.shape == (3, 2) for x in jax.tree.leaves(state))
