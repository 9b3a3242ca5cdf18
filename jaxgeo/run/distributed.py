"""Multi-host set-up: one call at the start of the main job, before anything touches JAX.

`jax.distributed.initialize` must run before the first JAX computation, in every process, and
must NOT run in a plain single-process job (it would wait for a coordinator). So the launch
decides, through the environment:

  JAXGEO_COORDINATOR=host:port JAXGEO_NUM_PROCESSES=N JAXGEO_PROCESS_ID=i   any cluster, a laptop
  SLURM (srun, >1 task), Open MPI (mpirun, >1 rank)                        detected by JAX itself
  JAXGEO_DISTRIBUTED=auto                                                  TPU pods, other clusters
                                                                           that JAX auto-detects
  nothing of the above                                                     single process, untouched
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils
from absl import logging
import orbax.checkpoint as ocp

T = TypeVar("T")


def _launch_mode() -> str | None:
  env = os.environ
  if env.get("JAXGEO_COORDINATOR"):
    return "explicit"
  if env.get("JAXGEO_DISTRIBUTED", "").lower() == "auto":
    return "auto-detected (JAXGEO_DISTRIBUTED=auto)"
  if "SLURM_JOB_ID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
    return "auto-detected (SLURM)"
  if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
    return "auto-detected (Open MPI)"
  return None


def initialize_from_environment() -> str:
  """Starts the JAX distributed system when the launch is multi-process; returns the mode."""
  mode = _launch_mode()
  if mode is None:
    logging.info("Distributed: single process (no JAXGEO_COORDINATOR, SLURM or MPI launch).")
    return "single"
  # CPU collectives across processes need gloo (the default has none); harmless on TPU/GPU.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if mode == "explicit":
    jax.distributed.initialize(coordinator_address=os.environ["JAXGEO_COORDINATOR"],
                               num_processes=int(os.environ["JAXGEO_NUM_PROCESSES"]),
                               process_id=int(os.environ["JAXGEO_PROCESS_ID"]))
  else:
    jax.distributed.initialize()  # TPU pods, SLURM, Open MPI: JAX reads the cluster itself.
  logging.info("Distributed: %s; process %d of %d, %d local of %d devices.", mode,
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count())
  return mode


def main_process_first(fn: Callable[..., T], *args: Any, timeout_s: int = 4 * 3600,
                       **kwargs: Any) -> T:
  """Runs `fn` on process 0 while the others wait, then on the others.

  For the resumable preparation stages: process 0 does the work once, and the others then find
  its outputs (on a shared file system) and reuse them, so no two processes write the same
  files at once. Without a shared file system the others prepare their own copies.
  The barrier is the coordination service's, not `multihost_utils.sync_global_devices`: that
  one is a device collective, and on CPU (gloo) it fails after 30 s of waiting. A process that
  dies is still noticed within the service's heartbeat timeout.
  """
  if jax.process_count() == 1:
    return fn(*args, **kwargs)
  result = fn(*args, **kwargs) if jax.process_index() == 0 else None
  wait_for_all(f"jaxgeo:{getattr(fn, '__name__', 'fn')}", timeout_s)
  return result if jax.process_index() == 0 else fn(*args, **kwargs)


def wait_for_all(key: str, timeout_s: int = 24 * 3600) -> None:
  """Blocks until every process has reached the same `key` (a no-op in a single process)."""
  if jax.process_count() > 1:
    ocp.multihost.get_barrier_sync_fn()(key=key, timeout_ms=timeout_s * 1000)


def local_fingerprint(tree: Any) -> str:
  """SHA-256 of this process's copy of the replicated leaves: equal on every process iff the
  replicas agree bit for bit (sharded leaves are left out: their local parts differ)."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    if isinstance(leaf, jax.Array) and leaf.is_fully_replicated:
      digest.update(np.asarray(leaf.addressable_data(0)).tobytes())
  return digest.hexdigest()[:16]


def log_final_state(state: Any, last_metrics: dict[str, jax.Array] | None) -> None:
  """Logs, on every process, what its replicas of the trained state hold (tests compare them)."""
  loss = (float(np.asarray(last_metrics["loss"].addressable_data(0)))
          if last_metrics is not None else float("nan"))
  logging.info("Final state on process %d of %d: step %d, last loss %r, fingerprint %s.",
               jax.process_index(), jax.process_count(),
               int(np.asarray(state["step"].addressable_data(0))), loss, local_fingerprint(state))


def on_this_process(tree):
  """A copy of a restored pytree that this process can use alone.

  A model restored in a multi-process run lives on every process's devices; one process's batch
  needs the whole of it locally: a replicated array's local replica, a sharded one gathered.
  """
  def local(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
      return x
    if x.is_fully_replicated:
      return x.addressable_data(0)
    return multihost_utils.process_allgather(x, tiled=True)
  return jax.tree.map(local, tree)
