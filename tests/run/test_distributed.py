"""The main job as two JAX processes on this machine (2 fake CPU devices each, 4 in all).

Both processes run the real entry point with `JAXGEO_COORDINATOR` & co., as two hosts of a pod
would: process 0 prepares the data while process 1 waits, both train one model over the four
devices, and the files that exist once per run are written once.
"""

import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import portpicker
import pytest

from tests import processes

pytestmark = pytest.mark.trains

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 2))
NUM_PROCESSES = 2

TIMEOUT_S = 400  # a hung collective fails the test instead of hanging CI
FINAL = re.compile(r"Final state on process (\d) of 2: step (\d+), last loss (\S+), "
                   r"fingerprint (\w+)\.")


def _launch(workdir, *extra):
  """Starts the processes; returns them with the paths of their logs (console output)."""
  port = portpicker.pick_unused_port()
  procs = []
  for i in range(NUM_PROCESSES):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAXGEO_COORDINATOR=f"127.0.0.1:{port}",
               JAXGEO_NUM_PROCESSES=str(NUM_PROCESSES), JAXGEO_PROCESS_ID=str(i))
    out = workdir.parent / f"{workdir.name}.process{i}.out"
    with open(out, "w") as f:  # a file, not a pipe: a full pipe would block the process
      proc = subprocess.Popen(
          [sys.executable, "-m", "jaxgeo.main", "--config", "configs/quickstart.py:runlocal",
           "--workdir", str(workdir), *extra],
          cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    procs.append((proc, out))
  return procs


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
  """The runlocal main job as two processes, uninterrupted: (workdir, console logs, seconds)."""
  workdir = tmp_path_factory.mktemp("multihost") / "run"
  start = time.monotonic()
  outcome = processes.wait_all(_launch(workdir), TIMEOUT_S)
  seconds = time.monotonic() - start
  for i, (code, log) in enumerate(outcome):
    assert code == 0, f"process {i} exited with {code} after {seconds:.0f} s:\n{log[-4000:]}"
  return workdir, [log for _, log in outcome], seconds


def test_two_processes_train_one_model(two_process_run):
  workdir, logs, seconds = two_process_run
  for i, log in enumerate(logs):
    assert f"Distributed: explicit; process {i} of 2, 2 local of 4 devices." in log
  # Process 0 prepared the data; process 1 waited, then found it ready.
  assert "Toy world: generating" in logs[0]
  assert "Toy world: generating" not in logs[1] and "Toy world: reusing" in logs[1]
  assert "Partitions: reusing" in logs[1]

  # Both processes hold the same trained model and saw the same final loss.
  finals = [FINAL.search(log) for log in logs]
  assert all(finals), "no 'Final state' line"
  assert [int(m.group(1)) for m in finals] == [0, 1]
  assert {m.group(2) for m in finals} == {"30"}
  losses = {float(m.group(3)) for m in finals}
  assert len(losses) == 1 and math.isfinite(losses.pop())
  assert finals[0].group(4) == finals[1].group(4)

  # Files of the run, written once (by process 0); a log per process.
  results = json.loads((workdir / "results.json").read_text())
  assert json.loads((workdir / "summary.json").read_text())["results"] == results
  im2gps3k = results["geo_testsets/im2gps3k"]["hierarchy"]
  manifest = json.loads((workdir / "toy_world" / "manifest.json").read_text())
  # Every test photo was evaluated exactly once over the two processes' shards.
  assert im2gps3k["num_examples"] == 60 - len(manifest["im2gps3k_unlabelled"])
  logged = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  train = [m for m in logged if "train/loss" in m]
  assert [m["step"] for m in train] == [10, 20, 30]  # once, not once per process
  assert all(math.isfinite(m["train/loss"]) for m in train)
  assert (workdir / "checkpoints" / "30").is_dir()
  assert (workdir / "log.txt").exists() and (workdir / "log.process1.txt").exists()
  assert not list(workdir.rglob("*.tmp"))

  # LocSens (stage 2) ran over both processes: each extracted half of the train split's
  # embeddings, and the shard holds every photo once, in split order, next to its label.
  from jaxgeo.run import embeddings  # pylint: disable=g-import-not-at-top
  from jaxgeo.data import pipeline  # pylint: disable=g-import-not-at-top
  extracted = embeddings.load_embeddings(
      str(workdir / "locsens" / "embeddings" / "yfcc100m_geo_yfcc100m_train"))
  split = pipeline.open_split("yfcc100m_geo/yfcc100m", "train", str(workdir / "tfds"))
  examples = [split[i] for i in range(len(split))]
  assert list(extracted.photo_id) == [e["photo_id"].decode() for e in examples]
  np.testing.assert_allclose(extracted.latitude, [e["latitude"] for e in examples], rtol=1e-6)
  assert np.isfinite(extracted.image).all() and np.abs(extracted.image).sum(axis=1).min() > 0
  locsens_results = json.loads((workdir / "locsens" / "results.json").read_text())
  assert {"tagging", "retrieval"} <= set(locsens_results)
  print(f"two-process runlocal: {seconds:.0f} s")


def test_two_processes_killed_then_resumed_equal_an_uninterrupted_run(two_process_run, tmp_path):
  reference, reference_logs, _ = two_process_run
  workdir = tmp_path / "run"
  reuse = [f"--config.toy_world.dir={reference / 'toy_world'}",
           f"--config.data.dir={reference / 'tfds'}", "--config.checkpoint_every_steps=10",
           "--config.locsens.enabled=False"]  # stage 2 (tested above) writes nothing compared here
  procs = _launch(workdir, *reuse)
  try:
    deadline = time.monotonic() + TIMEOUT_S
    # Both hosts die (SIGKILL, no clean-up) once the step-10 checkpoint is complete.
    while not (workdir / "checkpoints" / "10" / "_CHECKPOINT_METADATA").exists():
      assert all(p.poll() is None for p, _ in procs), "a process ended before the kill"
      assert time.monotonic() < deadline, "no step-10 checkpoint in time"
      time.sleep(0.02)
  finally:
    for p, _ in procs:
      p.kill()
      p.wait()
  assert not (workdir / "results.json").exists()

  outcome = processes.wait_all(_launch(workdir, *reuse), TIMEOUT_S)
  for i, (code, log) in enumerate(outcome):
    assert code == 0, f"process {i} exited with {code}:\n{log[-4000:]}"
    assert re.search(r"Resumed from step (10|20)", log), f"process {i} did not resume"
  # Same data order on each host, same updates: the model and results of the uninterrupted run.
  finals = [FINAL.search(log) for _, log in outcome]
  expected = [FINAL.search(log) for log in reference_logs]
  assert [m.group(4) for m in finals] == [m.group(4) for m in expected]
  assert [m.group(3) for m in finals] == [m.group(3) for m in expected]
  assert (json.loads((workdir / "results.json").read_text())
          == json.loads((reference / "results.json").read_text()))
