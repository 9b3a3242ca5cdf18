"""glibc malloc settings for training on the CPU, applied by re-executing the process once.

XLA:CPU allocates each execution's temporary buffer afresh (1.3 GB for the ResNet-50 train step
at batch 8, 224 px). glibc serves anything over 32 MB with a new `mmap` and unmaps it on `free`,
so every step faulted the buffer's zeroed pages back in (334k minor faults per step). Two
settings, chosen by `JAXGEO_MALLOC_TUNING` (`benchmarks/train_step.py` and the quickstart's
steps/s measured them, 2026-11-24):

  * `default` (unset or 1), TUNABLES: no mmap, no trimming, so freed memory is reused from the
    heap. The quickstart trains 1.1x faster than under glibc's defaults (48 vs 52-54 s for 500
    steps); the ResNet-50 step is unchanged (1.65 vs 1.64 s): XLA allocates its buffer on one of
    its threads, and only with a single arena was the buffer reused.
  * `single_arena`, SINGLE_ARENA: the same in one arena, where the 1.3 GB buffer is reused too:
    the ResNet-50 step 1.64 -> 1.42 s. But every thread then shares that arena's lock, and the
    quickstart, whose input pipeline decodes JPEGs on threads of the training process, trains
    1.5x slower (73 vs 48 s for 500 steps). For large models fed by grain worker processes.
  * `0`: glibc's defaults.

The price of both settings is that the process keeps its peak heap until it exits.
`GLIBC_TUNABLES` is read only when a process starts, hence the re-exec. It is skipped where an
accelerator plugin is installed (the host only feeds the device there), on non-glibc systems,
and when `GLIBC_TUNABLES` is already set (the user's own settings win).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys

from absl import logging

TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
SINGLE_ARENA = "glibc.malloc.arena_max=1:" + TUNABLES
ENV_VAR = "JAXGEO_MALLOC_TUNING"  # 0, 1 / default, or single_arena
_SETTINGS = {"1": TUNABLES, "default": TUNABLES, "single_arena": SINGLE_ARENA}


def _cpu_only() -> bool:
  """Whether JAX will run on the CPU, decided without initialising a backend.

  (Initialising one here would break a later `jax.distributed.initialize()`.)
  """
  platforms = os.environ.get("JAX_PLATFORMS") or os.environ.get("JAX_PLATFORM_NAME")
  if platforms:
    return platforms.split(",")[0].strip() == "cpu"
  return not any(importlib.util.find_spec(name) for name in ("jax_plugins", "libtpu"))


def chosen_tunables() -> str | None:
  """The GLIBC_TUNABLES that `JAXGEO_MALLOC_TUNING` asks for; None for glibc's defaults."""
  choice = os.environ.get(ENV_VAR, "default").strip().lower()
  if choice == "0":
    return None
  if choice not in _SETTINGS:
    raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r}: use 0 (glibc's defaults), 1 or "
                     "default (no mmap, no trimming), or single_arena (also one arena; see "
                     "jaxgeo/run/host_memory.py).")
  return _SETTINGS[choice]


def wanted() -> bool:
  """Whether `reexec_with_malloc_tuning` would restart this process."""
  return (chosen_tunables() is not None and "GLIBC_TUNABLES" not in os.environ
          and platform.libc_ver()[0] == "glibc" and _cpu_only())


def reexec_with_malloc_tuning() -> None:
  """Restarts this process with the chosen `GLIBC_TUNABLES` if `wanted()`; returns otherwise.

  Call it first thing in a program's main, before any work that a restart would repeat.
  """
  if not wanted():
    return
  tunables = chosen_tunables()
  logging.info("Restarting with GLIBC_TUNABLES=%s (XLA:CPU's per-step buffers; see "
               "jaxgeo/run/host_memory.py; %s=0 turns this off).", tunables, ENV_VAR)
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],
            dict(os.environ, GLIBC_TUNABLES=tunables))
