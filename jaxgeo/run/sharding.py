"""The device mesh and the shardings of parameters and batches (the pjit model).

Batches are split over every device (`data` x `fsdp`). Parameters are replicated, except arrays
of at least `fsdp_min_size` elements when the mesh has an `fsdp` axis: those are split along
their largest divisible dimension, which is what large heads (12,893 cells, 100k tags) need.
"""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

BATCH_AXES = ("data", "fsdp")


def make_mesh(config: ml_collections.ConfigDict, devices=None) -> Mesh:
  """A (data, fsdp) mesh over all devices (or `devices`); `data: -1` takes what `fsdp` leaves."""
  num_devices = len(devices) if devices is not None else jax.device_count()
  fsdp, data = config.fsdp, config.data
  if data == -1:
    data = num_devices // fsdp
  if data * fsdp != num_devices:
    raise ValueError(f"config.mesh asks for data={data} x fsdp={fsdp} devices; there are "
                     f"{num_devices}.")
  # Auto axis types: with jax 0.10's Explicit default, cross-entropy on model-sharded logits
  # raises a ShardingTypeError.
  return jax.make_mesh((data, fsdp), BATCH_AXES, axis_types=(jax.sharding.AxisType.Auto,) * 2,
                       devices=devices)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def param_spec(shape: tuple[int, ...], fsdp: int, min_size: int) -> P:
  """Splits the largest dimension divisible by `fsdp` of a large array; else replicates."""
  if fsdp == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % fsdp == 0:
      spec = [None] * len(shape)
      spec[dim] = "fsdp"
      return P(*spec)
  return P()


def param_shardings(abstract_tree, mesh: Mesh, min_size: int = 2**18):
  """NamedShardings for every array of a (shape-only) pytree of parameters/optimizer state."""
  fsdp = mesh.shape["fsdp"]
  return jax.tree.map(
      lambda x: NamedSharding(mesh, param_spec(tuple(x.shape), fsdp, min_size)), abstract_tree)
