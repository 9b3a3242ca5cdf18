"""A collection through `python -m jaxgeo.predict` as one process, as two, and stopped halfway.

Every run answers the same inputs (a file list, a built split and a broken file) in shards of 8
on two devices per process; whatever the number of processes or stops, the files must be the
same bytes.
"""

from __future__ import annotations

import csv
import filecmp
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import portpicker
import pytest

from jaxgeo.data import pipeline
from tests import processes

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARD_SIZE = 8
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def collection(runlocal_workdir, tmp_path_factory):
  """(the command's arguments after the flags, the number of inputs) of a mixed collection."""
  root = tmp_path_factory.mktemp("collection")
  photos = sorted((runlocal_workdir / "toy_world" / "im2gps3k" / "images").glob("*.jpg"))
  broken = root / "broken.jpg"
  broken.write_bytes(photos[0].read_bytes()[:200])
  listing = root / "photos.txt"
  paths = [str(p) for p in photos] * 3 + [str(broken)]  # a list may name a photo twice
  listing.write_text("\n".join(paths) + "\n")
  split = len(pipeline.open_split("geo_testsets/yfcc4k", "test",
                                  str(runlocal_workdir / "tfds")))
  return ["--input_list", str(listing), "tfds:geo_testsets/yfcc4k:test"], len(paths) + split


def _start(workdir, out, args, *, process=None, port=None):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  if process is not None:
    env.update(JAXGEO_COORDINATOR=f"127.0.0.1:{port}", JAXGEO_NUM_PROCESSES="2",
               JAXGEO_PROCESS_ID=str(process))
  log = open(f"{out}.process{process or 0}.log", "w")  # a file: a full pipe would block
  return subprocess.Popen(
      [sys.executable, "-m", "jaxgeo.predict", "--workdir", str(workdir), "--output_dir",
       str(out), "--batch_size", "4", "--shard_size", str(SHARD_SIZE), *args],
      cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log.name


def _finish(started):
  """The logs of processes started together, once all have exited 0."""
  outcome = processes.wait_all(started, TIMEOUT_S)
  for code, log in outcome:
    assert code == 0, log[-4000:]
  return [log for _, log in outcome]


@pytest.fixture(scope="module")
def one_process(runlocal_workdir, collection, tmp_path_factory):
  out = tmp_path_factory.mktemp("one") / "out"
  logs = _finish([_start(runlocal_workdir, out, collection[0])])
  return out, logs[0]


def _files(out):
  """Every answer file of a run, by its path inside the output folder."""
  return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                if p.is_file() and p.suffix in (".csv", ".geojson", ".jsonl"))


def _assert_same_answers(out, reference):
  names = _files(reference)
  assert _files(out) == names
  assert len(names) > 10
  _, mismatch, errors = filecmp.cmpfiles(reference, out, names, shallow=False)
  assert not mismatch and not errors, (mismatch, errors)


def test_one_process_answers_every_input_once_and_reports_the_time(one_process, collection):
  out, log = one_process
  args, count = collection
  report = json.loads((out / "report.json").read_text())
  assert (report["inputs"], report["predicted"], report["skipped"]) == (count, count - 1, 1)
  assert report["skipped_files"][0]["reason"] == "corrupt_image"
  assert report["shards"] == -(-count // SHARD_SIZE) and report["processes"] == 1
  seconds = report["seconds"]
  assert seconds["wall"] > 0 and all(seconds[k] > 0 for k in ("decode", "model", "writing"))
  assert seconds["model"] + seconds["answers"] + seconds["writing"] <= seconds["wall"] * 1.01
  assert "Collection: " in log and "0 finished before" in log
  text = (out / "report.txt").read_text()
  assert "photos/s a process; decoding" in text and "model waited" in text
  with open(out / "predictions.csv", encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == count - 1
  labelled = [r for r in rows if r["source"].startswith("geo_testsets/yfcc4k/")]
  assert len(labelled) == count - 1 - (len(rows) - len(labelled))
  assert all(r["true_source"] == "label" and r["distance_km"] for r in labelled)
  repeated = [r for r in rows if not r["source"].startswith("geo_testsets/")]
  first = {r["source"]: r for r in repeated[:len(repeated) // 3]}
  for r in repeated:  # the same photo gets the same answer in any shard or batch position
    assert r == first[r["source"]]
  geo = json.loads((out / "predictions.geojson").read_text())
  assert [f["properties"]["source"] for f in geo["features"]] == [r["source"] for r in rows]


def test_two_processes_write_exactly_the_files_of_one(runlocal_workdir, collection,
                                                       one_process, tmp_path):
  out = tmp_path / "out"
  port = portpicker.pick_unused_port()
  logs = _finish([_start(runlocal_workdir, out, collection[0], process=i, port=port)
                  for i in range(2)])
  assert "Distributed: explicit; process 1 of 2, 2 local of 4 devices." in logs[1]
  shards = json.loads((out / "plan.json").read_text())["num_shards"]
  assert f"process 0 of 2 takes {(shards + 1) // 2} shards" in logs[0]
  assert f"process 1 of 2 takes {shards // 2} shards" in logs[1]
  assert "Process 1: " in logs[1] and "Predicted " in logs[0]
  reports = [json.loads(p.read_text()) for p in sorted((out / "shards").glob("report-*"))]
  assert [r["process"] for r in reports] == [k % 2 for k in range(shards)]
  _assert_same_answers(out, one_process[0])
  assert json.loads((out / "report.json").read_text())["processes"] == 2


def test_a_killed_run_resumes_to_the_same_files(runlocal_workdir, collection, one_process,
                                                 tmp_path):
  out = tmp_path / "out"
  proc, log = _start(runlocal_workdir, out, collection[0])
  deadline = time.monotonic() + TIMEOUT_S
  while len(list((out / "shards").glob("report-*"))) < 2:
    assert proc.poll() is None, pathlib.Path(log).read_text()[-3000:]
    assert time.monotonic() < deadline
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  plan = json.loads((out / "plan.json").read_text())
  done = len(list((out / "shards").glob("report-*")))
  assert 2 <= done < plan["num_shards"], "the run ended before it could be stopped"
  assert not (out / "predictions.csv").exists()
  logs = _finish([_start(runlocal_workdir, out, collection[0])])
  assert f"{done} finished before, {plan['num_shards'] - done} to do" in logs[0]
  _assert_same_answers(out, one_process[0])
  assert not list(out.rglob("*.tmp"))
  # Once finished, the same command only merges; other inputs are refused, naming the change.
  again = _finish([_start(runlocal_workdir, out, collection[0])])[0]
  assert f"{plan['num_shards']} finished before, 0 to do" in again
  _assert_same_answers(out, one_process[0])
  other, log = _start(runlocal_workdir, out, collection[0][:2])
  assert other.wait(TIMEOUT_S) != 0
  assert "holds a run that asked for something else (inputs:" in pathlib.Path(log).read_text()
