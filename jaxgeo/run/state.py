"""The state of a run: created born sharded, and described abstractly for restoring.

A state is a plain pytree (`params`, the model's other variables, the optimizer state, `step`),
so orbax saves it and the jitted steps take it as is. Creating it whole on one device and then
moving it would not fit the large heads; so shapes come from `jax.eval_shape`, shardings from
the shapes, and a jitted init writes every array straight to its devices.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging
from flax import nnx

from jaxgeo.models import geolocator
from jaxgeo.run import sharding

State = dict[str, Any]


def create_sharded(init: Callable[[], State], mesh: jax.sharding.Mesh,
                   fsdp_min_size: int) -> tuple[State, Any]:
  """`init()`'s state, born sharded over `mesh`, and its shardings."""
  shardings = sharding.param_shardings(jax.eval_shape(init), mesh, fsdp_min_size)
  return jax.jit(init, out_shardings=shardings)(), shardings


def abstract_like(state: State) -> Any:
  """Shapes, dtypes and shardings of a state: what orbax restores into."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)


def create_geolocator_state(config: ml_collections.ConfigDict, num_classes: Mapping[str, int],
                            vocabulary_size: int, tx: optax.GradientTransformation,
                            mesh: jax.sharding.Mesh,
                            num_landmarks: int = 0) -> tuple[nnx.GraphDef, State, Any]:
  """The geolocation model's graph and its state (params, BatchNorm statistics, optimizer,
  step), born sharded, and the state's shardings."""
  make = functools.partial(geolocator.make_model, config.model, num_classes, vocabulary_size,
                           num_landmarks, config.seed)

  def init_state() -> State:
    _, params, rest = nnx.split(make(), nnx.Param, ...)
    return {"params": params, "rest": rest, "opt_state": tx.init(params),
            "step": jnp.zeros((), jnp.int32)}

  state, shardings = create_sharded(init_state, mesh, config.mesh.get("fsdp_min_size", 2**18))
  num_params = sum(x.size for x in jax.tree.leaves(state["params"]))
  logging.info("Model %s: %.2fM parameters.", config.model.backbone, num_params / 1e6)
  return nnx.graphdef(nnx.eval_shape(make)), state, shardings
