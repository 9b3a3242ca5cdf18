"""Every command-line entry point's --help lists its own flags (absl shows only the main
module's unless told otherwise, and `python -m jaxgeo.predict` defines them in its cli module)."""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module, flags", [
    ("jaxgeo.main", ["--config", "--workdir"]),
    ("jaxgeo.predict", ["--workdir", "--output_dir", "--coarse", "--write_xmp", "--shard_size"]),
    ("jaxgeo.evaluate", ["--workdir", "--results_csv", "--gallery"]),
    ("jaxgeo.predict.build_index", ["--workdir"]),
    ("jaxgeo.toy_world", ["--seed"]),
])
def test_help_lists_the_entry_points_own_flags(module, flags):
  result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  shown = result.stdout + result.stderr
  assert result.returncode in (0, 1), shown[-2000:]  # absl's --help exits with 1
  listed = {line.split(":")[0].strip().replace("[no]", "") for line in shown.splitlines()
            if line.startswith("  --")}
  assert set(flags) <= listed, (module, sorted(listed))
