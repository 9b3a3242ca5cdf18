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


def abstract_sharded(init: Callable[[], State], mesh: jax.sharding.Mesh,
                     fsdp_min_size: int) -> Any:
  """What `create_sharded(init, ...)` would make, as shapes with shardings, nothing computed:
  what a checkpoint is restored into."""
  shapes = jax.eval_shape(init)
  shardings = sharding.param_shardings(shapes, mesh, fsdp_min_size)
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), shapes,
                      shardings)


def _geolocator_init(config: ml_collections.ConfigDict, num_classes: Mapping[str, int],
                     vocabulary_size: int, num_landmarks: int,
                     tx: optax.GradientTransformation | None
                     ) -> tuple[nnx.GraphDef, Callable[[], State]]:
  """The model's graph and a function making its state (with `tx`, the optimizer's and the step
  too: training; without, parameters and statistics only: prediction)."""
  make = functools.partial(geolocator.make_model, config.model, num_classes, vocabulary_size,
                           num_landmarks, config.seed, config.image_size)

  def init_state() -> State:
    _, params, rest = nnx.split(make(), nnx.Param, ...)
    if tx is None:
      return {"params": params, "rest": rest}
    return {"params": params, "rest": rest, "opt_state": tx.init(params),
            "step": jnp.zeros((), jnp.int32)}

  return nnx.graphdef(nnx.eval_shape(make)), init_state


def create_geolocator_state(config: ml_collections.ConfigDict, num_classes: Mapping[str, int],
                            vocabulary_size: int, tx: optax.GradientTransformation,
                            mesh: jax.sharding.Mesh,
                            num_landmarks: int = 0) -> tuple[nnx.GraphDef, State, Any]:
  """The geolocation model's graph and its training state (params, BatchNorm statistics,
  optimizer, step), born sharded, and the state's shardings."""
  graphdef, init_state = _geolocator_init(config, num_classes, vocabulary_size, num_landmarks,
                                          tx)
  state, shardings = create_sharded(init_state, mesh, config.mesh.fsdp_min_size)
  num_params = sum(x.size for x in jax.tree.leaves(state["params"]))
  logging.info("Model %s: %.2fM parameters.", config.model.backbone, num_params / 1e6)
  return graphdef, state, shardings


def abstract_geolocator_model(config: ml_collections.ConfigDict, num_classes: Mapping[str, int],
                              vocabulary_size: int, mesh: jax.sharding.Mesh,
                              num_landmarks: int = 0) -> tuple[nnx.GraphDef, Any]:
  """The model's graph and its parameters and statistics as shapes with shardings, nothing
  computed: what a checkpoint's model is restored into for prediction."""
  graphdef, init_state = _geolocator_init(config, num_classes, vocabulary_size, num_landmarks,
                                          None)
  return graphdef, abstract_sharded(init_state, mesh, config.mesh.fsdp_min_size)
