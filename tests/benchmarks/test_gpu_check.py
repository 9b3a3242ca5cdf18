"""The accelerator check runs end to end on the CPU at tiny sizes (`--smoke`)."""

import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_prints_every_row_with_its_anchor():
  result = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout
  assert "SMOKE (tiny sizes)" in out and "matmul peak" in out
  rows = {line.split("  ")[0]: line for line in out.splitlines()}
  for name, anchor in (("train step tiny", "MLPerf ResNet-50: ~7,950 img/s per H200"),
                       ("train step vit_tiny", "ViT-B/16 (JAX): ~1,460 img/s per H100")):
    assert re.search(r"32 px, batch 8\s+[\d,.]+ img/s\s+\d+\.\d%\s+" + re.escape(anchor),
                     rows[name]), rows.get(name)
  assert re.search(r"[\d,.]+ img/s", rows["extraction vit_tiny"])
  latency = float(re.search(r"([\d.]+) ms", rows["Predictor, one photo"]).group(1))
  assert 0 < latency < 10_000
  assert re.search(r"64 JPEGs, batch 8\s+[\d,.]+ photos/s\s+\d device\(s\), \d+ decode threads: "
                   r"decode [\d.]+ s", rows["batch path, photos/s"]), rows.get(
                       "batch path, photos/s")
