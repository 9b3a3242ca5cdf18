"""Test set-up: JAX sees 8 CPU devices, so sharding code runs as on an 8-accelerator host.

Tests that train (a whole run of the main job, in a subprocess, as a user would) are marked
`slow`; `pytest -m "not slow"` leaves them out for a quick check. `make test` and CI run all.
"""

import os

# Must happen before JAX initialises its backends.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402  (after the XLA flags on purpose)
import subprocess  # noqa: E402
import sys  # noqa: E402

import filelock  # noqa: E402
import pytest  # noqa: E402

# With JAXGEO_FAIL_ON_SKIP=1 (CI), a skipped test fails the run.
from jaxgeo.testing.strict_skips import pytest_sessionfinish  # noqa: E402,F401

REPO = pathlib.Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items) -> None:
  """Every test on the shared training run, or marked `trains`, is `slow`.

  The files that train run first, those that need no shared run before those that do: `make
  test` hands each of its 2 workers whole files in this order, so one starts the longest
  self-contained file (tests/run/test_distributed.py) while the other makes the shared run, and
  no worker waits idle for it or ends long after the other.
  """
  trains, shared = set(), set()
  for item in items:
    uses_shared_run = "runlocal_workdir" in getattr(item, "fixturenames", ())
    if uses_shared_run or item.get_closest_marker("trains"):
      item.add_marker(pytest.mark.slow)
    if item.get_closest_marker("trains"):
      trains.add(item.path)
    if uses_shared_run:
      shared.add(item.path)

  def rank(item) -> int:
    return 0 if item.path in trains - shared else 1 if item.path in trains else 2

  items.sort(key=rank)  # stable: each file's tests keep their order


@pytest.fixture(scope="session")
def runlocal_workdir(tmp_path_factory, worker_id) -> pathlib.Path:
  """A finished `configs/quickstart.py:runlocal` run: toy world, data sets, partitions, model,
  LocSens; its console output in `stderr.txt`.

  Made once for the whole session, whichever pytest-xdist worker asks first (the others wait for
  it), by the real entry point in a subprocess, as a user would run it. Shared: read it, and
  copy it before changing anything in it.
  """
  root = tmp_path_factory.getbasetemp()
  if worker_id != "master":
    root = root.parent  # the folder all workers' temporary folders are in
  workdir = root / "runlocal"
  with filelock.FileLock(str(root / "runlocal.lock")):
    if not (workdir / "summary.json").exists():
      result = subprocess.run(
          [sys.executable, "-m", "jaxgeo.main", "--config", "configs/quickstart.py:runlocal",
           "--workdir", str(workdir)], cwd=REPO, capture_output=True, text=True, timeout=900)
      assert result.returncode == 0, result.stderr[-3000:]
      (workdir / "stderr.txt").write_text(result.stderr)
  return workdir
