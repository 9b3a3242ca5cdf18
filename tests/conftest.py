"""Test set-up: JAX sees 8 CPU devices, so sharding code runs as on an 8-accelerator host."""

import os

# Must happen before JAX initialises its backends.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402  (after the XLA flags on purpose)
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

# With JAXGEO_FAIL_ON_SKIP=1 (CI), a skipped test fails the run.
from jaxgeo.testing.strict_skips import pytest_sessionfinish  # noqa: E402,F401

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def runlocal_workdir(tmp_path_factory) -> pathlib.Path:
  """A finished `configs/quickstart.py:runlocal` run: toy world, data sets, partitions, model.

  Shared by every test of a session (read it; copy it before changing anything in it). Made by
  the real entry point in a subprocess, as a user would run it.
  """
  workdir = tmp_path_factory.mktemp("runlocal")
  result = subprocess.run(
      [sys.executable, "-m", "jaxgeo.main", "--config", "configs/quickstart.py:runlocal",
       "--workdir", str(workdir)], cwd=REPO, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir
