"""Optimizers and learning-rate schedules from the `optim` config section.

Durations are given as `<name>_steps` or `<name>_epochs` (epochs converted with the data set's
steps per epoch), so a config reads like the paper it reproduces: GeoEstimation halves the rate
at epochs 4, 8, 12, 13, 14 and 15.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import ml_collections
import optax


def steps_of(config: ml_collections.ConfigDict, name: str, steps_per_epoch: int) -> int:
  """`config.<name>_steps`, or `config.<name>_epochs` times the steps per epoch."""
  steps, epochs = config[f"{name}_steps"], config[f"{name}_epochs"]
  if steps is not None and epochs is not None:
    raise ValueError(f"Set only one of {name}_steps and {name}_epochs (got {steps}, {epochs}).")
  if steps is not None:
    return int(steps)
  if epochs is not None:
    return int(round(epochs * steps_per_epoch))
  raise ValueError(f"Set {name}_steps or {name}_epochs in the config.")


def _boundaries(config: ml_collections.ConfigDict, steps_per_epoch: int) -> Sequence[int]:
  if config.decay_steps is not None:
    return [int(s) for s in config.decay_steps]
  return [int(round(e * steps_per_epoch)) for e in config.decay_epochs]


def make_learning_rate_schedule(config: ml_collections.ConfigDict,
                                steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Linear warm-up, then `constant`, `step` (times `decay_factor` at each boundary) or `cosine`.

  Keys (jaxgeo.run.config_base has their defaults): `learning_rate`, `schedule`,
  `warmup_steps`/`warmup_epochs` (None: no warm-up), `decay_steps`/`decay_epochs` and
  `decay_factor` (step), `min_learning_rate` (cosine).
  """
  base = config.learning_rate
  warmup = 0
  if config.warmup_steps is not None or config.warmup_epochs is not None:
    warmup = steps_of(config, "warmup", steps_per_epoch)
  if config.schedule == "constant":
    after = optax.constant_schedule(base)
  elif config.schedule == "step":
    boundaries = [b - warmup for b in _boundaries(config, steps_per_epoch) if b > warmup]
    after = optax.piecewise_constant_schedule(
        base, {b: config.decay_factor for b in boundaries})
  elif config.schedule == "cosine":
    after = optax.cosine_decay_schedule(
        base, max(1, total_steps - warmup),
        alpha=config.min_learning_rate / base if base else 0.0)
  else:
    raise ValueError(f"config.optim.schedule is {config.schedule!r}; use constant, step or "
                     "cosine.")
  if not warmup:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, base, warmup), after], [warmup])


def make_optimizer(config: ml_collections.ConfigDict,
                   schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with (Nesterov) momentum and L2 weight decay, or AdamW (`optimizer` key).

  Weight decay is added to the gradients of every parameter, as PyTorch's SGD does (what the
  GeoEstimation and DeepLocation recipes used).
  """
  clip = [optax.clip_by_global_norm(config.grad_clip_norm)] if config.grad_clip_norm else []
  if config.optimizer == "sgd":
    return optax.chain(*clip, optax.add_decayed_weights(config.weight_decay),
                       optax.sgd(schedule, momentum=config.momentum, nesterov=config.nesterov))
  if config.optimizer == "adamw":
    return optax.chain(*clip, optax.adamw(schedule, weight_decay=config.weight_decay))
  raise ValueError(f"config.optim.optimizer is {config.optimizer!r}; use sgd or adamw.")


def freeze(tx: optax.GradientTransformation, frozen: str) -> optax.GradientTransformation:
  """`tx` for every parameter but those under the top-level module `frozen`, which never move.

  Zero gradients alone would not hold them still: weight decay is added to the gradients (SGD)
  or to the update (AdamW). Frozen parameters get no optimizer state either.
  """
  def labels(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: "frozen" if getattr(path[0], "key", None) == frozen else "trained",
        params)

  return optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, labels)
