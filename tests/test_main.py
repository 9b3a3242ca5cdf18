"""The main job end to end on the shrunken quickstart, and its command-line errors."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import optax
import pytest
from flax import nnx

from jaxgeo.data import pipeline
from jaxgeo.geo import partitions as partitions_lib
from jaxgeo.predict import predictor as predictor_lib
from jaxgeo.run import restore, sharding, state as state_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _built(workdir, name):
  """The folder of a built data set, at its builder's version."""
  return pipeline.dataset_dir(name, str(workdir / "tfds"))


def _run_main(*args, cwd=REPO, devices=8):
  """The main job in a subprocess. The shared run and the resumed one (compared with it) use the
  suite's 8 CPU devices; the runs that test a config or a stage take one, where XLA's programs
  compile and run fastest on these 2 cores: sharding is tested by the shared run,
  tests/run/test_distributed.py and the sharded-step tests."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return subprocess.run([sys.executable, "-m", "jaxgeo.main", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=600)


# Stages a test does not look at, left out to save its time (each has tests of its own).
NO_LOCSENS = "--config.locsens.enabled=False"
NO_GALLERY = "--config.retrieval.gallery="
NO_MIDWAY_EVAL = "--config.eval_every_steps=0"  # the final evaluation stays


def test_runlocal_builds_data_trains_and_evaluates(runlocal_workdir):
  workdir = runlocal_workdir
  names = ["cells_5_200", "cells_5_80", "cells_5_30"]
  parts = partitions_lib.load_partitions(workdir / "partitions", names)
  counts = [p.num_classes for p in parts]
  assert counts[0] < counts[1] < counts[2]  # coarse to fine
  assert (workdir / "toy_world" / "manifest.json").exists()
  # The toy world went through the real TFDS builders.
  for name in ("yfcc100m_geo/yfcc100m", "geo_testsets/im2gps3k", "geo_testsets/yfcc4k",
               "gldv2/train_clean", "gldv2/index", "gldv2/test"):
    assert (_built(workdir, name) / "build_report.json").exists(), name
  report = json.loads((_built(workdir, "yfcc100m_geo/yfcc100m") /
                       "build_report.json").read_text())
  manifest = json.loads((workdir / "toy_world" / "manifest.json").read_text())
  kept = report["train"]["kept"] + report["validation"]["kept"]
  assert kept == manifest["counts"]["yfcc100m_good_photos"]
  # Partitions are built from the training split only.
  assert parts[0].counts.sum() <= report["train"]["kept"]

  # Trained and evaluated: every predictor and both baselines on every test set.
  summary = json.loads((workdir / "summary.json").read_text())
  results = summary["results"]
  assert set(results) == {"geo_testsets/im2gps3k", "geo_testsets/yfcc4k", "gldv2/test"}
  # The landmark head trained on GLDv2 photos mixed into the stream, scored by GAP.
  assert "Mixing 164 photos of gldv2/train_clean" in (workdir / "stderr.txt").read_text()
  landmark = results["gldv2/test"]["landmark"]
  # Scored as the official scorer does: images the solution marks Ignored are left out.
  solution = (workdir / "toy_world" / "gldv2" / "recognition_solution_v2.1.csv").read_text()
  rows = [line.split(",") for line in solution.splitlines()[1:]]
  ignored = sum(r[2] == "Ignored" for r in rows)
  assert ignored > 0 and landmark["num_ignored"] == ignored
  assert landmark["num_examples"] + ignored == manifest["counts"]["gldv2_test"]
  assert 0 <= landmark["gap"] <= 1
  assert {"gap_public", "gap_private"} <= set(landmark)
  # Retrieval over the built index split: the queries the retrieval solution scores.
  retrieval = (workdir / "toy_world" / "gldv2" / "retrieval_solution_v2.1.csv").read_text()
  queries = [r for r in (line.split(",") for line in retrieval.splitlines()[1:])
             if r[2] != "Ignored" and r[1]]
  assert landmark["num_queries"] == len(queries) > 0
  assert landmark["index_size"] == manifest["counts"]["gldv2_index"]
  assert 0 <= landmark["map@100"] <= 1
  # The toy Im2GPS3k labels are in the 2018 header variant: read from the values, and said so.
  im2gps_report = json.loads((_built(workdir, "geo_testsets/im2gps3k") /
                              "build_report.json").read_text())["test"]
  assert im2gps_report["coordinate_columns"]["order"] == "swapped"
  assert (workdir / "landmark_ids.csv").read_text() == (
      _built(workdir, "gldv2/train_clean") / "landmark_ids.csv").read_text()
  im2gps3k = results["geo_testsets/im2gps3k"]
  # The training split is the retrieval gallery: retrieval and hybrid rows, and the leakage
  # report with every method's metrics without the leaked photos.
  methods = ["hierarchy", "retrieval", "hybrid"]
  baselines = ["baseline: most frequent cell", "baseline: random training photo"]
  assert list(im2gps3k) == names + methods + baselines + ["calibration", "leakage"] + [
      f"{m} (leaked photos left out)" for m in methods]
  # The hierarchy's P(within r km) against what happened, and its reliability diagram.
  observed = {f"observed@{r}km": im2gps3k["hierarchy"][f"acc@{r}km"] for r in (25, 200, 750)}
  assert {k: im2gps3k["calibration"][k] for k in observed} == pytest.approx(observed)
  assert all(0 <= im2gps3k["calibration"][f"ece@{r}km"] <= 1 for r in (25, 200, 750))
  assert (workdir / "eval" / "geo_testsets_im2gps3k.reliability.png").exists()
  unlabelled = len(manifest["im2gps3k_unlabelled"])
  for name in names + methods + baselines:
    assert im2gps3k[name]["num_examples"] == 60 - unlabelled
    assert 0 <= im2gps3k[name]["acc@25km"] <= im2gps3k[name]["acc@750km"] <= 1
  leakage = im2gps3k["leakage"]
  assert leakage["num_photos"] == 60 - unlabelled
  # The toy world keeps its test sets' photographers out of training, as MP-16 does.
  assert leakage["same_photographer"] == 0
  assert leakage["left_out"] == leakage["near_duplicates"]
  assert im2gps3k["hybrid (leaked photos left out)"]["num_examples"] == (
      60 - unlabelled - leakage["left_out"])
  assert json.loads((workdir / "results.json").read_text()) == results
  logged = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [m["step"] for m in logged if "train/loss" in m] == [10, 20, 30]
  # Evaluated during training (step 20) and at the end (step 30).
  assert [m["step"] for m in logged if "eval/geo_testsets/im2gps3k/hierarchy/acc@25km" in m] == [
      20, 30]
  assert all(np.isfinite(m["train/loss"]) for m in logged if "train/loss" in m)
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  assert (workdir / "checkpoints" / "30").is_dir()
  assert (workdir / "vocabulary.txt").exists()
  # Stage 2 (LocSens) followed stage 1 in the same run (tests/locsens/test_stage2.py checks it).
  assert set(summary["locsens"]) == {"tagging", "retrieval"}
  log = (workdir / "log.txt").read_text()
  assert "Evaluation on geo_testsets/im2gps3k" in log and "LocSens tagging" in log
  assert json.loads((workdir / "config.json").read_text())["partitions"]["tau_min"] == 5


@pytest.mark.trains
def test_rerun_reuses_finished_stages(runlocal_workdir, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(runlocal_workdir, workdir, symlinks=True)  # the shared run stays as it is
  before = os.path.getmtime(workdir / "toy_world" / "manifest.json")
  result = _run_main("--config", "configs/quickstart.py:runlocal", "--workdir", str(workdir),
                     NO_LOCSENS)  # stage 2's own rerun: tests/locsens/test_stage2.py
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Toy world: reusing" in result.stderr
  assert "Partitions: reusing" in result.stderr
  assert "Data set yfcc100m_geo/yfcc100m: reusing" in result.stderr
  assert "Resumed from step 30" in result.stderr  # training was finished: nothing redone
  assert os.path.getmtime(workdir / "toy_world" / "manifest.json") == before


@pytest.mark.trains
def test_override_changes_partitions(runlocal_workdir, tmp_path):
  workdir = runlocal_workdir
  # Point at the existing toy world and data sets; only the partitions are rebuilt.
  result = _run_main("--config", "configs/quickstart.py:runlocal", "--workdir", str(tmp_path),
                     f"--config.toy_world.dir={workdir / 'toy_world'}",
                     f"--config.data.dir={workdir / 'tfds'}",
                     "--config.partitions.tau_min=12", "--config.train_steps=1", NO_LOCSENS,
                     NO_GALLERY, NO_MIDWAY_EVAL, devices=1)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Toy world: reusing" in result.stderr
  assert sorted(f for f in os.listdir(tmp_path / "partitions") if f.endswith(".csv")) == [
      "cells_12_200.csv", "cells_12_30.csv", "cells_12_80.csv"]
  assert not (tmp_path / "tfds").exists()


def test_evaluate_cli_reproduces_results_and_writes_per_image_csv(runlocal_workdir):
  workdir = runlocal_workdir
  csv = workdir / "eval" / "geo_testsets_im2gps3k.csv"
  header, *rows = csv.read_text().splitlines()
  assert header == "img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance"
  manifest = json.loads((workdir / "toy_world" / "manifest.json").read_text())
  assert len(rows) == 60 - len(manifest["im2gps3k_unlabelled"])
  labels = {line.split(",")[0]: line.split(",")[2:4] for line in (
      workdir / "toy_world" / "im2gps3k" / "im2gps3k_places365.csv").read_text().splitlines()[1:]}
  for row in rows:
    img_id, gt_lat, _, gt_lon, _, km = row.split(",")
    assert np.allclose([float(gt_lat), float(gt_lon)], [float(v) for v in labels[img_id]],
                       atol=1e-4)
    assert 0 <= float(km) <= 20016
  before = json.loads((workdir / "results.json").read_text())
  result = subprocess.run(
      [sys.executable, "-m", "jaxgeo.evaluate", "--workdir", str(workdir),
       "--dataset", "geo_testsets/yfcc4k"], cwd=REPO, capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Evaluation on geo_testsets/yfcc4k" in result.stderr
  # The restored checkpoint gives the trainer's final numbers.
  table = before["geo_testsets/yfcc4k"]["hierarchy"]
  m = re.search(r"\nhierarchy\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", result.stderr)
  assert [float(v) for v in m.groups()] == pytest.approx(
      [round(100 * table[k], 1) for k in ("acc@1km", "acc@25km", "acc@200km")], abs=0.05)


@pytest.mark.trains
def test_kill_and_resume_equals_an_uninterrupted_run(runlocal_workdir, tmp_path):
  workdir = runlocal_workdir
  args = [sys.executable, "-m", "jaxgeo.main", "--config", "configs/quickstart.py:runlocal",
          "--workdir", str(tmp_path), f"--config.toy_world.dir={workdir / 'toy_world'}",
          f"--config.data.dir={workdir / 'tfds'}", "--config.checkpoint_every_steps=10",
          NO_LOCSENS]  # stage 2 writes nothing into results.json
  process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 300
    # Killed (SIGKILL, no clean-up) as soon as the step-10 checkpoint is complete.
    while not (tmp_path / "checkpoints" / "10" / "_CHECKPOINT_METADATA").exists():
      assert process.poll() is None, "the run ended before it could be killed"
      assert time.time() < deadline
      time.sleep(0.02)
    process.kill()
  finally:
    process.wait(timeout=60)
  assert not (tmp_path / "results.json").exists()
  result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert re.search(r"Resumed from step (10|20)", result.stderr)
  # Same data order, same dropout keys, same updates: the same model and the same numbers.
  assert (json.loads((tmp_path / "results.json").read_text())
          == json.loads((workdir / "results.json").read_text()))

  def final_loss(run):
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [m["train/loss"] for m in logged if m["step"] == 30 and "train/loss" in m][-1]

  assert final_loss(tmp_path) == final_loss(workdir)


@pytest.mark.trains
def test_gldv2_landmarks_config_trains_and_reports_gap(runlocal_workdir, tmp_path):
  workdir = runlocal_workdir
  result = _run_main("--config", "configs/gldv2_landmarks.py:runlocal", "--workdir", str(tmp_path),
                     f"--config.toy_world.dir={workdir / 'toy_world'}",
                     f"--config.data.dir={workdir / 'tfds'}", NO_MIDWAY_EVAL, devices=1)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  test = results["gldv2/test"]["landmark"]
  manifest = json.loads((workdir / "toy_world" / "manifest.json").read_text())
  assert test["num_examples"] + test["num_ignored"] == manifest["counts"]["gldv2_test"]
  assert 0 < test["gap"] <= 1 and 0 <= test["map@100"] <= 1
  # 8 toy landmarks in the runlocal world: the head learnt more than chance in 40 steps.
  assert test["top1"] > 1 / 8
  assert not (tmp_path / "partitions").exists()  # no partitions in a landmarks-only run


@pytest.mark.trains
def test_non_finite_loss_stops_the_run_naming_the_step(runlocal_workdir, tmp_path):
  workdir = runlocal_workdir
  result = _run_main("--config", "configs/quickstart.py:runlocal", "--workdir", str(tmp_path),
                     f"--config.toy_world.dir={workdir / 'toy_world'}",
                     f"--config.data.dir={workdir / 'tfds'}",
                     "--config.optim.learning_rate=1e30", devices=1)
  assert result.returncode != 0
  assert re.search(r"Non-finite loss \S+ at step \d+", result.stderr)


def test_unknown_config_key_is_named(tmp_path):
  result = _run_main("--config", "configs/quickstart.py", "--workdir", str(tmp_path),
                     "--config.partitions.tau_mn=3")
  assert result.returncode != 0
  assert ("'--config.partitions.tau_mn=3': partitions has no key 'tau_mn'. Did you mean "
          "'tau_min'?") in result.stderr


def test_missing_config_file_is_named(tmp_path):
  result = _run_main("--config", "configs/nope.py", "--workdir", str(tmp_path))
  assert result.returncode != 0
  assert "config file 'configs/nope.py' not found" in result.stderr


def test_unknown_config_argument(tmp_path):
  result = _run_main("--config", "configs/quickstart.py:fast", "--workdir", str(tmp_path))
  assert result.returncode != 0
  assert result.stderr.strip() == (
      "error: configs/quickstart.py has no config argument 'fast' (in 'fast'); its arguments: "
      "runlocal (default False).")  # the message alone, no traceback


@pytest.mark.trains
def test_a_tiny_vit_trains_and_predicts_end_to_end(runlocal_workdir, tmp_path):
  """configs/toy_vit.py:runlocal: the same stages, heads, evaluations and LocSens on a ViT; the
  Predictor answers from its workdir as from a ResNet's."""
  workdir = runlocal_workdir
  result = _run_main("--config", "configs/toy_vit.py:runlocal", "--workdir", str(tmp_path),
                     f"--config.toy_world.dir={workdir / 'toy_world'}",
                     f"--config.data.dir={workdir / 'tfds'}", NO_MIDWAY_EVAL, devices=1)
  assert result.returncode == 0, result.stderr[-3000:]
  assert re.search(r"Model vit_tiny: 0\.\d+M parameters", result.stderr)
  summary = json.loads((tmp_path / "summary.json").read_text())
  hierarchy = summary["results"]["geo_testsets/im2gps3k"]["hierarchy"]
  assert 0 <= hierarchy["acc@25km"] <= hierarchy["acc@2500km"] <= 1
  assert 0 <= summary["results"]["gldv2/test"]["landmark"]["gap"] <= 1
  assert set(summary["locsens"]) == {"tagging", "retrieval"}
  predictor = predictor_lib.Predictor.from_workdir(str(tmp_path), data_dir=str(workdir / "tfds"))
  photos = sorted((workdir / "toy_world" / "im2gps3k" / "images").glob("*.jpg"))[:3]
  answer = predictor.predict(str(photos[0]))
  assert answer.places and -90 <= answer.places[0].latitude <= 90
  cli = subprocess.run(
      [sys.executable, "-m", "jaxgeo.predict", "--workdir", str(tmp_path), "--data_dir",
       str(workdir / "tfds"), "--output_dir", str(tmp_path / "out"), *map(str, photos)],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert cli.returncode == 0, cli.stderr[-3000:]
  assert "Predicted 3 of 3 photos" in cli.stdout
  with open(tmp_path / "out" / "predictions.csv", encoding="utf-8", newline="") as f:
    assert len(list(csv.DictReader(f))) == 3


@pytest.mark.trains
def test_heads_train_on_a_frozen_backbone(runlocal_workdir, tmp_path):
  """configs/toy_vit.py:runlocal,frozen: embeddings extracted once, the heads trained on them,
  the tower left exactly as it was built; a rerun reuses the extraction."""
  workdir = runlocal_workdir
  args = ("--config", "configs/toy_vit.py:runlocal,frozen", "--workdir", str(tmp_path),
          f"--config.toy_world.dir={workdir / 'toy_world'}",
          f"--config.data.dir={workdir / 'tfds'}", NO_LOCSENS, NO_GALLERY, NO_MIDWAY_EVAL)
  result = _run_main(*args, devices=1)
  assert result.returncode == 0, result.stderr[-3000:]
  manifest = json.loads((tmp_path / "embeddings" / "yfcc100m_geo_yfcc100m_train" /
                         "manifest.json").read_text())
  assert manifest["backbone"] == "vit_tiny" and manifest["stage1_step"] == 0
  assert re.search(rf"Frozen backbone: {manifest['num_records']} embeddings of "
                   r"yfcc100m_geo/yfcc100m:train \(96 wide\)", result.stderr)
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert set(summary["results"]) == {"geo_testsets/im2gps3k", "geo_testsets/yfcc4k"}
  logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  losses = [m["train/loss"] for m in logged if "train/loss" in m]
  assert len(losses) == 3 and losses[-1] < losses[0]  # the heads learn
  # The backbone of the final checkpoint is bit for bit the one training started from (made as
  # training makes it: jitted, from the seed); the heads are not.
  run = restore.load_trained_run(tmp_path)
  _, initial, _ = state_lib.create_geolocator_state(
      run.config, {p.name: p.num_classes for p in run.hierarchy.partitions}, len(run.vocabulary),
      optax.identity(), sharding.make_mesh(run.config.mesh))
  final = run.state["params"]
  start = dict(nnx.to_flat_state(initial["params"]["backbone"]))
  end = dict(nnx.to_flat_state(final["backbone"]))
  assert start.keys() == end.keys() and len(start) > 20
  for path in start:
    np.testing.assert_array_equal(start[path].get_value(), end[path].get_value(),
                                  err_msg=str(path))
  assert not np.array_equal(initial["params"]["geo"]["head_cells_5_30"]["kernel"].get_value(),
                            final["geo"]["head_cells_5_30"]["kernel"].get_value())
  rerun = _run_main(*args, devices=1)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert "reused" in rerun.stderr or "Resumed from step 30" in rerun.stderr
