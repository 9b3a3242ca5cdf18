"""The CPU trainer restarts itself once with glibc's malloc tuned, and only when it should."""

import os
import subprocess
import sys

import pytest

from jaxgeo.run import host_memory

_PROGRAM = ("import os, sys; from jaxgeo.run import host_memory; "
            "host_memory.reexec_with_malloc_tuning(); "
            "print(os.environ.get('GLIBC_TUNABLES'), sys.argv[1:])")


def _run(**env) -> str:
  base = {k: v for k, v in os.environ.items()
          if k not in ("GLIBC_TUNABLES", host_memory.ENV_VAR, "JAX_PLATFORMS")}
  out = subprocess.run([sys.executable, "-c", _PROGRAM, "--flag=1", "two"], check=True,
                       capture_output=True, text=True, env={**base, **env}, timeout=120)
  return out.stdout.strip()


@pytest.mark.skipif(not host_memory.platform.libc_ver()[0] == "glibc", reason="needs glibc")
def test_restarts_once_with_the_tunables_and_the_same_arguments():
  assert _run(JAX_PLATFORMS="cpu") == f"{host_memory.TUNABLES} ['--flag=1', 'two']"
  assert "arena_max" not in host_memory.TUNABLES  # one arena slows in-process input pipelines


@pytest.mark.skipif(not host_memory.platform.libc_ver()[0] == "glibc", reason="needs glibc")
def test_single_arena_on_request():
  assert _run(JAX_PLATFORMS="cpu", **{host_memory.ENV_VAR: "single_arena"}) == (
      f"{host_memory.SINGLE_ARENA} ['--flag=1', 'two']")
  assert host_memory.SINGLE_ARENA.startswith("glibc.malloc.arena_max=1:")


def test_an_unknown_setting_is_named(monkeypatch):
  monkeypatch.setenv(host_memory.ENV_VAR, "fast")
  with pytest.raises(ValueError, match="JAXGEO_MALLOC_TUNING='fast': use 0"):
    host_memory.chosen_tunables()


def test_opt_out_accelerators_and_user_settings_are_respected():
  assert _run(JAX_PLATFORMS="cpu", **{host_memory.ENV_VAR: "0"}) == "None ['--flag=1', 'two']"
  assert _run(JAX_PLATFORMS="cuda") == "None ['--flag=1', 'two']"
  assert _run(JAX_PLATFORMS="cpu", GLIBC_TUNABLES="glibc.malloc.arena_max=2") == (
      "glibc.malloc.arena_max=2 ['--flag=1', 'two']")
