"""A run's files: named once (Workdir), and read and written alike in a bucket (gs://)."""

import json
import os
import types

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from etils import epath

from jaxgeo import prepare
from jaxgeo.data import landmark_ids, vocab as vocab_lib
from jaxgeo.evaluators import geolocation
from jaxgeo.geo import coordinate_csv, distance, partitions as partitions_lib

from jaxgeo.locsens import inputs as stage2_inputs
from jaxgeo.predict import landmark_index, model_card
from jaxgeo.run import workdir as workdir_lib
from jaxgeo.testing import fake_bucket

# Photos around four real places: (latitude, longitude).
PLACES = {"paris": (48.8584, 2.2945), "tokyo": (35.6586, 139.7454),
          "sydney": (-33.8568, 151.2153), "rio": (-22.9519, -43.2105)}


def test_every_name_of_a_run():
  run = workdir_lib.Workdir("runs/x")
  names = {
      run.config: "runs/x/config.json", run.log(): "runs/x/log.txt",
      run.log(3): "runs/x/log.process3.txt", run.summary: "runs/x/summary.json",
      run.results: "runs/x/results.json", run.metrics: "runs/x/metrics.jsonl",
      run.tensorboard: "runs/x/tensorboard", run.checkpoints: "runs/x/checkpoints",
      run.partitions: "runs/x/partitions", run.vocabulary: "runs/x/vocabulary.txt",
      run.landmark_ids: "runs/x/landmark_ids.csv", run.toy_world: "runs/x/toy_world",
      run.tfds: "runs/x/tfds", run.landmark_index: "runs/x/landmark_index",
      run.eval_csv("geo_testsets/im2gps3k"): "runs/x/eval/geo_testsets_im2gps3k.csv",
      run.eval_csv("yfcc100m_geo/mp16:validation"): "runs/x/eval/yfcc100m_geo_mp16_validation.csv",
      run.locsens.config: "runs/x/locsens/config.json",
      run.locsens.tag_embeddings: "runs/x/locsens/tag_embeddings.npy",
      run.locsens.embeddings("yfcc100m_geo/yfcc100m", "train"):
          "runs/x/locsens/embeddings/yfcc100m_geo_yfcc100m_train",
  }
  assert [str(path) for path in names] == list(names.values())
  assert workdir_lib.Workdir(run).root == run.root
  assert workdir_lib.is_remote("gs://b/runs/x") and not workdir_lib.is_remote("runs/x")


def test_append_continues_a_file_locally_and_in_a_bucket(tmp_path):
  for where in (tmp_path / "local" / "metrics.jsonl", "gs://bucket/run/metrics.jsonl"):
    with fake_bucket.fake_gcs(tmp_path / "gcs"):
      path = epath.Path(where)
      path.parent.mkdir(parents=True, exist_ok=True)
      for line in ('{"step": 1}\n', '{"step": 2}\n'):
        with workdir_lib.open_for_append(path) as f:
          f.write(line)
      assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
  assert (tmp_path / "gcs" / "bucket" / "run" / "metrics.jsonl").exists()


def _coordinates(rng, per_place=40):
  lat, lon = [], []
  for place_lat, place_lon in PLACES.values():
    lat.append(place_lat + rng.normal(0, 0.05, per_place))
    lon.append(place_lon + rng.normal(0, 0.05, per_place))
  return np.concatenate(lat), np.concatenate(lon)


def test_a_bucket_workdir_holds_what_a_local_one_does(tmp_path, monkeypatch):
  """Partitions (built from a meta CSV in the bucket, with their stamp), vocabulary, landmark
  ids, per-image results, results.json for the model card, the LocSens tag table and the
  landmark index: each written to `gs://...` and read back, landing where the bucket is."""
  monkeypatch.chdir(tmp_path)  # a path that bypassed epath would make ./gs:/...
  bucket_root = tmp_path / "gcs"
  rng = np.random.default_rng(0)
  lat, lon = _coordinates(rng)
  with fake_bucket.fake_gcs(bucket_root):
    run = workdir_lib.Workdir("gs://bucket/runs/q").make()
    meta = epath.Path("gs://bucket/data/mp16_places365.csv")
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text("IMG_ID,LAT,LON\n" + "".join(
        f"p{i}.jpg,{a:.6f},{o:.6f}\n" for i, (a, o) in enumerate(zip(lat, lon))))

    # Partitions from the bucket's meta CSV into the bucket's workdir; a rerun reuses them.
    config = ml_collections.ConfigDict({"partitions": {
        "input_csv": str(meta), "coordinate_columns": "auto", "tau_min": 5,
        "tau_max": (100, 50), "min_level": 2}})
    out_dir, names = prepare.make_partitions(config, run, data_dir="")
    assert str(out_dir) == "gs://bucket/runs/q/partitions"
    parts = partitions_lib.load_partitions(run.partitions, names)
    assert [p.num_classes for p in parts] == [4, 4]  # one cell a place at both levels
    for place_lat, place_lon in PLACES.values():  # each cell's centre is its place
      assert distance.great_circle_km(parts[0].latitudes, parts[0].longitudes, place_lat,
                                      place_lon).min() < 5
    stamp = (run.partitions / prepare._STAMP).stat().mtime
    assert prepare.make_partitions(config, run, data_dir="") == (out_dir, names)
    assert (run.partitions / prepare._STAMP).stat().mtime == stamp

    # The tag vocabulary and the landmark ids.
    vocab_lib.TagVocabulary(["eiffeltower", "shibuya", "opera"]).save(run.vocabulary)
    assert vocab_lib.TagVocabulary.load(run.vocabulary).tags == ["eiffeltower", "shibuya",
                                                                 "opera"]
    landmark_ids.write(run.landmark_ids,
                       [(0, 1001, "", 12), (1, 2002, "x/Category:Tower_Bridge", 5)])
    assert landmark_ids.read(run.landmark_ids).ids.tolist() == [1001, 2002]
    assert landmark_ids.read(run.landmark_ids).names == {2002: "Tower Bridge"}

    # Per-image results (the hierarchy's guesses), and results.json read by the model card.
    paris, tokyo = PLACES["paris"], PLACES["tokyo"]
    run.eval_dir.mkdir(parents=True, exist_ok=True)
    geolocation.write_results_csv(run.eval_csv("geo_testsets/im2gps3k"), np.array(["a", "b"]),
                                  np.array([paris[0], tokyo[0]]), np.array([paris[1], tokyo[1]]),
                                  np.array([paris[0], paris[0]]), np.array([paris[1], paris[1]]))
    workdir_lib.write_json(run.results, {"geo_testsets/im2gps3k": {"hierarchy": {
        "num_examples": 2, **{f"acc@{km}km": 0.5 for km in (1, 25, 200, 750, 2500)}}}})
    card = model_card.load_model_card(run, ml_collections.ConfigDict(
        {"data": {"train": "yfcc100m_geo/yfcc100m"}, "toy_world": {"enabled": False}}),
        data_dir=str(tmp_path / "no_data"), step=7)
    assert card.tests[0].dataset == "geo_testsets/im2gps3k" and card.tests[0].num_photos == 2

    # Stage 2's tag table, from a tag head's classifier (kernel (E, V), bias (V,)).
    kernel = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    stage1 = types.SimpleNamespace(
        state={"params": {"tag_head": {"classify": {"kernel": kernel,
                                                    "bias": jnp.array([0.5, 0.0, -0.5])}}}},
        vocabulary=vocab_lib.TagVocabulary(["eiffeltower", "shibuya", "opera"]))
    stage2_inputs.save_tag_embeddings(stage1, run.locsens)
    table, bias = stage2_inputs.load_tag_table(run.locsens)
    np.testing.assert_array_equal(table, np.asarray(kernel).T)
    np.testing.assert_array_equal(bias, [0.5, 0.0, -0.5])

    # The landmark index.
    index = landmark_index.LandmarkIndex(
        embeddings=np.eye(2, 4, dtype=np.float32), image_ids=["img_a", "img_b"],
        landmark_ids=np.array([1001, 2002]), rows=np.array([0, 1]), dataset="gldv2/index:index",
        data_dir="", step=7)
    assert str(index.save(run)) == "gs://bucket/runs/q/landmark_index"
    loaded = landmark_index.LandmarkIndex.load_if_built(run, data_dir="", step=7)
    assert [m.image_id for m in loaded.search(np.array([0, 1, 0, 0], np.float32), k=1)] == [
        "img_b"]

  # Everything is in the bucket, nothing bypassed it.
  assert not os.path.exists(tmp_path / "gs:")
  files = sorted(str(p.relative_to(bucket_root / "bucket" / "runs" / "q"))
                 for p in (bucket_root / "bucket" / "runs" / "q").rglob("*") if p.is_file())
  assert files == [
      "eval/geo_testsets_im2gps3k.csv", "landmark_ids.csv", "landmark_index/embeddings.npy",
      "landmark_index/images.csv", "landmark_index/index.json", "locsens/tag_bias.npy",
      "locsens/tag_embeddings.npy", "locsens/vocabulary.txt", "partitions/assignments.csv",
      "partitions/cells_5_100.csv", "partitions/cells_5_50.csv",
      f"partitions/{prepare._STAMP}", "results.json", "vocabulary.txt"]
  # The per-image results are a results file like any other: the Paris photo is found at 0 km.
  results = coordinate_csv.read_results(
      bucket_root / "bucket" / "runs" / "q" / "eval" / "geo_testsets_im2gps3k.csv")
  assert results.image_ids.tolist() == ["a", "b"]
  assert results.predicted_lat.tolist() == pytest.approx([paris[0], paris[0]])
  assert json.loads((bucket_root / "bucket" / "runs" / "q" / "results.json").read_text())[
      "geo_testsets/im2gps3k"]["hierarchy"]["num_examples"] == 2
