"""The retrieval gallery of the session's runlocal run (its config names the training split):
built by training from every training photo, with photographers and the near-copy threshold;
and the leakage report of a gallery that holds the test photos themselves."""

import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxgeo.data import pipeline
from jaxgeo.retrieval import gallery as gallery_lib, near_copies
from jaxgeo.run import embeddings as embeddings_lib, restore
from tests.conftest import REPO


@pytest.fixture(scope="module")
def run(runlocal_workdir):
  return restore.load_trained_run(str(runlocal_workdir))


def test_training_built_the_gallery_of_every_training_photo(run):
  gallery = gallery_lib.load_run_gallery(run, build=False)
  assert gallery is not None and gallery.spec == "yfcc100m_geo/yfcc100m:train"
  source = pipeline.open_split("yfcc100m_geo/yfcc100m", "train", run.data_dir)
  assert len(gallery) == len(source)  # every training photo has coordinates
  for row in (0, 7, len(source) - 1):
    example = source[int(gallery.record[row])]
    assert gallery.photo_id[row] == example["photo_id"].decode()
    # Coordinates went through the model's float32 batch: 1e-6 degrees is 0.1 m.
    assert (gallery.latitude[row], gallery.longitude[row]) == pytest.approx(
        (float(example["latitude"]), float(example["longitude"])), abs=1e-5)
    assert gallery.user[row] == example["user"].decode() and "@N0" in gallery.user[row]
    assert gallery.photo(gallery.record[row]) == example["image"]
  np.testing.assert_array_equal(
      gallery.cell, run.hierarchy.finest.classify(gallery.latitude, gallery.longitude))
  calibration = gallery.near_copies
  assert calibration["num_photos"] == 256 and calibration["perturbation"] == (
      near_copies.PERTURBATION)
  assert 0 <= calibration["near_copies_caught"] <= 1
  assert calibration["distinct_flagged"] <= 0.02  # at most ~1% of 256 (ties aside)


def test_a_gallery_photo_finds_itself_first(run):
  gallery = gallery_lib.load_run_gallery(run, build=False)
  path = gallery_lib.gallery_dir(run, "yfcc100m_geo/yfcc100m", "train")
  own = embeddings_lib.load_embeddings(path).image[[3, 500, 1200]]
  found = gallery.search(own, k=5)
  np.testing.assert_array_equal(found.row[:, 0], [3, 500, 1200])
  np.testing.assert_allclose(found.similarity[:, 0], 1.0, atol=1e-5)
  np.testing.assert_array_equal(found.latitude[:, 0], gallery.latitude[[3, 500, 1200]])


def test_near_copies_are_what_a_reupload_makes():
  original = io.BytesIO()
  Image.new("RGB", (200, 150), (200, 30, 30)).save(original, format="JPEG", quality=95)
  copy = Image.open(io.BytesIO(near_copies.near_copy(original.getvalue())))
  # 4% (8 px, 6 px) off each side of 200 x 150: 184 x 138, then 80%.
  assert copy.format == "JPEG" and copy.size == (147, 110)


def test_a_gallery_holding_the_test_photos_leaks_every_one(runlocal_workdir, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(runlocal_workdir, workdir, symlinks=True)  # the shared run stays as it is
  result = subprocess.run(
      [sys.executable, "-m", "jaxgeo.evaluate", "--workdir", str(workdir), "--eval", "im2gps3k",
       "--gallery", "geo_testsets/im2gps3k:test"], cwd=REPO, capture_output=True, text=True,
      timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  manifest = json.loads((workdir / "toy_world" / "manifest.json").read_text())
  n = 60 - len(manifest["im2gps3k_unlabelled"])
  # Each test photo is its own nearest gallery photo (cosine 1), and its photographer is in it.
  match = re.search(r"Leakage of geo_testsets/im2gps3k into the gallery geo_testsets/im2gps3k:"
                    r"test: (\d+) of (\d+) test photos have a near-duplicate .*?, (\d+) share a "
                    r"photographer", result.stderr)
  assert match and [int(g) for g in match.groups()] == [n, n, n]
  # The per-image results of every method, each scored by --results_csv as it is.
  for method in ("", ".retrieval", ".hybrid"):
    path = workdir / "eval" / f"geo_testsets_im2gps3k{method}.csv"
    header = path.read_text().splitlines()[0]
    assert header.endswith(",neighbours") == bool(method)
    scored = subprocess.run([sys.executable, "-m", "jaxgeo.evaluate", "--results_csv", str(path)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0 and f"{n} results" in scored.stderr, scored.stderr[-2000:]
