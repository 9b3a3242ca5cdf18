"""CI's rule that a skipped test fails the run (jaxgeo/testing/strict_skips.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _pytest(tmp_path, strict: bool, *args: str) -> subprocess.CompletedProcess:
  (tmp_path / "test_some.py").write_text(
      "import pytest\n\n"
      "def test_runs():\n  assert 1 + 1 == 2\n\n"
      "def test_needs_an_extra():\n  pytest.importorskip('no_such_module_x', reason='extra x "
      "missing')\n")
  env = {k: v for k, v in os.environ.items() if k != "JAXGEO_FAIL_ON_SKIP"}
  if strict:
    env["JAXGEO_FAIL_ON_SKIP"] = "1"
  return subprocess.run([sys.executable, "-m", "pytest", "-p", "jaxgeo.testing.strict_skips",
                         "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_skip_passes_on_a_users_machine(tmp_path):
  result = _pytest(tmp_path, strict=False)
  assert result.returncode == 0, result.stdout[-2000:]
  assert "1 passed, 1 skipped" in result.stdout


@pytest.mark.parametrize("workers", [(), ("-n", "2")])
def test_a_skip_fails_ci(tmp_path, workers):
  result = _pytest(tmp_path, True, *workers)
  assert result.returncode == 1, result.stdout[-2000:]
  assert "JAXGEO_FAIL_ON_SKIP=1: 1 test(s) skipped" in result.stdout
  assert "test_some.py::test_needs_an_extra: extra x missing" in result.stdout
