"""LocSens stage 2 end to end: the quickstart's runlocal run trains it after stage 1."""

import json
import os
import shutil

import ml_collections
import numpy as np
import pytest

from jaxgeo.locsens import evaluate as locsens_evaluate, ranking
from jaxgeo.locsens import train as train_locsens
from jaxgeo.run import embeddings
from jaxgeo.run import restore


def test_quickstart_trains_and_evaluates_stage_2(runlocal_workdir):
  stage2 = runlocal_workdir / "locsens"
  summary = json.loads((runlocal_workdir / "summary.json").read_text())
  results = json.loads((stage2 / "results.json").read_text())
  assert summary["locsens"] == results
  assert list(results["tagging"]) == [
      "locsens", "locsens two-stage (top 20)", "locsens, no location",
      "tag head (location-agnostic)", "tag frequency"]
  test = embeddings.load_embeddings(str(stage2 / "embeddings" /
                                        "yfcc100m_geo_yfcc100m_validation"))
  tagged = int(((test.tag_ids >= 0).any(1) & np.isfinite(test.latitude)).sum())
  for metrics in results["tagging"].values():
    assert metrics["num_photos"] == tagged
    assert 0 <= metrics["a@1"] <= metrics["a@10"] <= 1
  for metrics in results["retrieval"].values():
    assert 0 <= metrics["p@10/1km"] <= metrics["p@10/25km"] <= metrics["p@10/2500km"] <= (
        metrics["p@10/any"]) <= 1
  assert (stage2 / "checkpoints" / "20").is_dir()
  logged = [json.loads(line) for line in (stage2 / "metrics.jsonl").read_text().splitlines()]
  assert [m["step"] for m in logged if "locsens/train/loss" in m] == [10, 20]


def test_scorer_api_tags_and_searches(runlocal_workdir, tmp_path):
  scorer = ranking.load_locsens(str(runlocal_workdir), required=True)
  assert ranking.load_locsens(str(tmp_path)) is None
  with pytest.raises(FileNotFoundError, match="No trained LocSens scorer"):
    ranking.load_locsens(str(tmp_path), required=True)
  photos = scorer.load_index("test")
  images = photos.image[:5]
  full_ids, full_scores = scorer.rank_tags(images, photos.latitude[:5], photos.longitude[:5],
                                           mode="full", k=7)
  assert full_ids.shape == full_scores.shape == (5, 7)
  assert np.all(np.diff(full_scores, axis=1) <= 0)
  # Two-stage over the whole vocabulary is the full ranking.
  vocab = len(scorer.vocabulary)
  all_ids, all_scores = scorer.rank_tags(images, photos.latitude[:5], photos.longitude[:5],
                                         candidates=vocab, k=7)
  np.testing.assert_array_equal(all_ids, full_ids)
  np.testing.assert_allclose(all_scores, full_scores, rtol=1e-5, atol=1e-6)
  # The scores are the scorer's own on those (image, tag, place) triplets.
  model = scorer.model
  direct = model(np.repeat(images[:1], 7, 0), np.asarray(scorer.tag_embeddings)[full_ids[0]],
                 np.full(7, photos.latitude[0]), np.full(7, photos.longitude[0]))
  np.testing.assert_allclose(direct, full_scores[0], rtol=1e-4, atol=1e-5)
  one = scorer.tags(images[0], None, None, k=3)
  assert len(one) == 3 and all(tag in scorer.vocabulary.ids for tag, _ in one)

  index = scorer.make_index(photos)
  tag = scorer.vocabulary.tags[0]
  hits = scorer.search(tag, 48.86, 2.35, index=index, k=4)
  assert len(hits["photo_id"]) == 4 and np.all(np.diff(hits["score"]) <= 0)
  row = {pid: i for i, pid in enumerate(index.photo_id)}[hits["photo_id"][0]]
  assert hits["latitude"][0] == index.latitude[row]
  # Each index row names its record in the split: the same photo, with its coordinates.
  located = np.isfinite(photos.latitude) & np.isfinite(photos.longitude)
  np.testing.assert_array_equal(index.record, np.flatnonzero(located))
  assert photos.photo_id[index.record[row]] == index.photo_id[row]
  assert photos.latitude[index.record[row]] == index.latitude[row]
  # Two-stage search over the whole index is the full search.
  rows, scores = scorer.search_ids(np.arange(3), photos.latitude[:3], photos.longitude[:3],
                                   index=index, k=4, exclude=np.array([0, 1, 2]))
  two_rows, two_scores = scorer.search_ids(np.arange(3), photos.latitude[:3],
                                           photos.longitude[:3], index=index, k=4,
                                           exclude=np.array([0, 1, 2]),
                                           candidates=len(index) - 1)
  np.testing.assert_allclose(two_scores, scores, rtol=1e-5, atol=1e-6)
  assert not np.any(rows == np.array([[0], [1], [2]]))
  with pytest.raises(KeyError, match="not in the vocabulary"):
    scorer.search("no such tag", 0.0, 0.0, index=index)


def test_extraction_is_resumable_and_matches_the_run(runlocal_workdir, tmp_path):
  run = restore.load_trained_run(str(runlocal_workdir))
  out = str(tmp_path / "emb")
  embeddings.extract_embeddings(run, "yfcc100m_geo/yfcc100m", "validation", out, batch_size=8,
                                shard_size=8)
  manifest = json.loads((tmp_path / "emb" / "manifest.json").read_text())
  assert manifest["shards"] == ["shard-00000", "shard-00001", "shard-00002"]
  first = embeddings.load_embeddings(out)
  shutil.rmtree(tmp_path / "emb" / "shard-00001")
  with pytest.raises(FileNotFoundError, match="shard-00001"):
    embeddings.load_embeddings(out)
  kept = os.path.getmtime(tmp_path / "emb" / "shard-00000" / "image.npy")
  embeddings.extract_embeddings(run, "yfcc100m_geo/yfcc100m", "validation", out, batch_size=8,
                                shard_size=8)
  assert os.path.getmtime(tmp_path / "emb" / "shard-00000" / "image.npy") == kept
  again = embeddings.load_embeddings(out)
  np.testing.assert_array_equal(again.image, first.image)
  # The same photos and embeddings as the run's own extraction (one shard of 8192).
  own = embeddings.load_embeddings(str(runlocal_workdir / "locsens" / "embeddings" /
                                       "yfcc100m_geo_yfcc100m_validation"))
  np.testing.assert_array_equal(again.photo_id, own.photo_id)
  np.testing.assert_array_equal(again.tag_ids, own.tag_ids)
  np.testing.assert_allclose(again.image, own.image, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="other settings"):
    embeddings.extract_embeddings(run, "yfcc100m_geo/yfcc100m", "validation", out,
                                  batch_size=8, shard_size=4)


def test_rerun_reuses_stage_2(runlocal_workdir, tmp_path):
  stage2 = tmp_path / "locsens"
  shutil.copytree(runlocal_workdir / "locsens", stage2)
  config = ml_collections.ConfigDict(json.loads((stage2 / "config.json").read_text()))
  before = json.loads((stage2 / "results.json").read_text())
  shard = stage2 / "embeddings" / "yfcc100m_geo_yfcc100m_train" / "shard-00000" / "image.npy"
  mtime = os.path.getmtime(shard)
  results = train_locsens.train_and_evaluate(config, str(stage2))
  assert os.path.getmtime(shard) == mtime  # extraction reused
  assert sorted(os.listdir(stage2 / "checkpoints")) == sorted(
      os.listdir(runlocal_workdir / "locsens" / "checkpoints"))  # no step trained again
  assert locsens_evaluate.flatten_results(results) == pytest.approx(
      locsens_evaluate.flatten_results(before))
  # Interrupted after step 10: the resumed run sees the same batches (functions of the step)
  # and ends where the uninterrupted one did.
  shutil.rmtree(stage2 / "checkpoints" / "20")
  resumed = train_locsens.train_and_evaluate(config, str(stage2))
  assert sorted(os.listdir(stage2 / "checkpoints")) == ["10", "20"]
  assert locsens_evaluate.flatten_results(resumed) == pytest.approx(
      locsens_evaluate.flatten_results(before), rel=1e-4, abs=1e-6)
