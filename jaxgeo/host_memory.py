"""glibc malloc settings for training on the CPU, applied by re-executing the process once.

XLA:CPU allocates each execution's temporary buffer afresh (1.3 GB for the ResNet-50 train step
at batch 8, 224 px). glibc serves anything over 32 MB with a new `mmap` and unmaps it on `free`,
so every step faulted 1.3 GB of zeroed pages back in (334k minor faults per step). With one
arena that neither maps nor trims, freed memory is reused from the heap instead: the ResNet-50
step went from 1.84 to 1.46 s on the development machine (`benchmarks/train_step.py`; PyTorch
gains as much, see there). The price is that the process keeps its peak heap until it exits.

`GLIBC_TUNABLES` is read only when a process starts, hence the re-exec. It is skipped where an
accelerator plugin is installed (the host only feeds the device there), on non-glibc systems,
when `GLIBC_TUNABLES` is already set, and when `JAXGEO_MALLOC_TUNING=0`.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys

from absl import logging

TUNABLES = ("glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:"
            "glibc.malloc.trim_threshold=68719476736")
OPT_OUT = "JAXGEO_MALLOC_TUNING"


def _cpu_only() -> bool:
  """Whether JAX will run on the CPU, decided without initialising a backend.

  (Initialising one here would break a later `jax.distributed.initialize()`.)
  """
  platforms = os.environ.get("JAX_PLATFORMS") or os.environ.get("JAX_PLATFORM_NAME")
  if platforms:
    return platforms.split(",")[0].strip() == "cpu"
  return not any(importlib.util.find_spec(name) for name in ("jax_plugins", "libtpu"))


def wanted() -> bool:
  """Whether `reexec_with_malloc_tuning` would restart this process."""
  return (os.environ.get(OPT_OUT, "1") != "0" and "GLIBC_TUNABLES" not in os.environ
          and platform.libc_ver()[0] == "glibc" and _cpu_only())


def reexec_with_malloc_tuning() -> None:
  """Restarts this process with `GLIBC_TUNABLES=TUNABLES` if `wanted()`; returns otherwise.

  Call it first thing in a program's main, before any work that a restart would repeat.
  """
  if not wanted():
    return
  logging.info("Restarting with GLIBC_TUNABLES=%s (XLA:CPU's per-step buffers; see "
               "jaxgeo/host_memory.py; %s=0 turns this off).", TUNABLES, OPT_OUT)
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],
            dict(os.environ, GLIBC_TUNABLES=TUNABLES))
