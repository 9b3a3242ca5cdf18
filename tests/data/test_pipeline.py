"""The grain input pipeline over a toy world built with the yfcc100m_geo builder."""

import os
import subprocess
import sys
import textwrap

import grain
import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgeo.data import pipeline, transforms, vocab
from jaxgeo.geo import partitions as partitions_lib
from jaxgeo.toy_world import generator
from jaxgeo.toy_world.config import ToyWorldConfig
from tfds_builders.yfcc100m_geo import yfcc100m_geo_dataset_builder as yfcc_builder

NAME = "yfcc100m_geo/yfcc100m_val20"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  """A 300-photo toy world, built into ArrayRecord, with partitions and a tag vocabulary."""
  root = tmp_path_factory.mktemp("pipeline")
  generator.generate_toy_world(root / "world", ToyWorldConfig(
      num_train_photos=300, num_test_photos=4, num_yfcc4k_photos=2, num_landmarks=2,
      image_size=64, gldv2_train_per_landmark=2, gldv2_index_per_landmark=1,
      gldv2_test_photos=2), num_workers=1)
  builder = yfcc_builder.Builder(
      config=yfcc_builder.BuilderConfig(name="yfcc100m_val20", source="yfcc100m",
                                        validation_fraction=0.2),
      data_dir=os.fspath(root / "tfds"), file_format="array_record")
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(root / "world" / "yfcc100m")))
  train = pipeline.open_split(NAME, "train", os.fspath(root / "tfds"))
  lat = np.array([train[i]["latitude"] for i in range(len(train))])
  lon = np.array([train[i]["longitude"] for i in range(len(train))])
  parts, _ = partitions_lib.build_partitions(lat, lon, tau_min=3, tau_max=[60, 20])
  counts = vocab.read_tag_counts(builder.data_path / "tag_counts_train.tsv")
  vocabulary = vocab.make_vocabulary(counts, size=50)
  return {"data_dir": os.fspath(root / "tfds"), "partitions": parts, "vocab": vocabulary}


def _train_loader(built, seed=0, shard=None, batch_size=16):
  return pipeline.make_train_loader(
      pipeline.open_split(NAME, "train", built["data_dir"]), batch_size=batch_size,
      image_size=32, partitions=built["partitions"], vocabulary=built["vocab"], seed=seed,
      shard_options=shard or grain.sharding.NoSharding())


def test_train_batch_shapes_and_labels(built):
  batch = next(iter(_train_loader(built)))
  assert batch["image"].shape == (16, 32, 32, 3) and batch["image"].dtype == np.uint8
  assert batch["tag_ids"].shape == (16, 15)
  for part in built["partitions"]:
    labels = batch[f"label_{part.name}"]
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(
        labels, part.classify(batch["latitude"].astype(np.float64),
                              batch["longitude"].astype(np.float64)))
  # The sampled tag is one of the photo's vocabulary tags, or -1 when it has none.
  for tag, ids in zip(batch["tag"], batch["tag_ids"]):
    known = ids[ids >= 0]
    assert (tag in known) if known.size else tag == -1
  assert np.all(batch["landmark"] == -1)  # YFCC photos carry no landmark label


def test_same_seed_same_batches_other_seed_others(built):
  a = [b["image"] for _, b in zip(range(2), _train_loader(built, seed=1))]
  b = [b["image"] for _, b in zip(range(2), _train_loader(built, seed=1))]
  c = [b["image"] for _, b in zip(range(2), _train_loader(built, seed=2))]
  np.testing.assert_array_equal(a[1], b[1])
  assert not np.array_equal(a[1], c[1])


def test_iterator_state_resumes_exactly(built):
  iterator = iter(_train_loader(built, seed=3))
  for _ in range(3):
    next(iterator)
  state = iterator.get_state()
  expected = [next(iterator) for _ in range(2)]
  resumed = iter(_train_loader(built, seed=3))
  resumed.set_state(state)
  for want in expected:
    got = next(resumed)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key])


def test_two_processes_read_disjoint_halves(built):
  source = pipeline.open_split(NAME, "train", built["data_dir"])
  seen = []
  for index in range(2):
    shard = grain.sharding.ShardOptions(shard_index=index, shard_count=2)
    ids = []
    for batch in pipeline.eval_batches(source, batch_size=32, image_size=32,
                                       partitions=built["partitions"], shard_options=shard):
      ids += batch["id"][batch[pipeline.MASK_KEY]].tolist()
    seen.append(set(ids))
    assert len(ids) == len(seen[-1])
  assert not seen[0] & seen[1]
  everything = {source[i]["photo_id"] for i in range(len(source))}
  assert seen[0] | seen[1] == everything
  # Training shards are disjoint too: one shard's epoch never shows the other's photos.
  coords = []
  for index in range(2):
    shard = grain.sharding.ShardOptions(shard_index=index, shard_count=2, drop_remainder=True)
    batches = [b for _, b in zip(range(len(source) // 2 // 8), _train_loader(
        built, shard=shard, batch_size=8))]
    coords.append({(a, b) for batch in batches
                   for a, b in zip(batch["latitude"], batch["longitude"])})
  assert not coords[0] & coords[1]


def test_eval_padding_and_equal_batch_counts(built):
  source = pipeline.open_split(NAME, "validation", built["data_dir"])
  n = len(source)
  per_shard = []
  for index in range(3):
    shard = grain.sharding.ShardOptions(shard_index=index, shard_count=3)
    batches = list(pipeline.eval_batches(source, batch_size=8, image_size=32,
                                         partitions=built["partitions"], shard_options=shard))
    per_shard.append(batches)
  # Every process runs the same number of batches; padding is masked out and zero.
  assert len({len(b) for b in per_shard}) == 1
  assert len(per_shard[0]) == pipeline.num_eval_batches(n, 8, 3)
  masks = np.concatenate([b[pipeline.MASK_KEY] for shard in per_shard for b in shard])
  assert masks.sum() == n
  # Each real row knows its record number (results from several hosts go back in split order).
  real = [(b[pipeline.INDEX_KEY][b[pipeline.MASK_KEY]], b["id"][b[pipeline.MASK_KEY]])
          for shard in per_shard for b in shard]
  indices = np.concatenate([i for i, _ in real])
  assert sorted(indices.tolist()) == list(range(n))
  ids = np.concatenate([d for _, d in real]).tolist()
  assert [source[int(i)]["photo_id"] for i in indices] == ids
  last = per_shard[0][-1]
  assert np.all(last["image"][~last[pipeline.MASK_KEY]] == 0)


def test_record_ranges_and_shards_cover_each_record_once():
  source = list(range(10))
  shards = [pipeline.RecordRange.shard(source, i, 3) for i in range(3)]
  assert [len(s) for s in shards] == [3, 3, 4]
  assert [s[j] for s in shards for j in range(len(s))] == source
  middle = pipeline.RecordRange(source, 4, 7)
  assert len(middle) == 3 and [middle[j] for j in range(3)] == [4, 5, 6]


def test_five_crop_centre_is_the_eval_crop(built):
  source = pipeline.open_split(NAME, "validation", built["data_dir"])
  kwargs = dict(batch_size=4, image_size=32, partitions=built["partitions"],
                shard_options=grain.sharding.NoSharding())
  centre = next(pipeline.eval_batches(source, **kwargs))
  five = next(pipeline.eval_batches(source, five_crop=True, **kwargs))
  assert five["image"].shape == (4, 5, 32, 32, 3)
  np.testing.assert_array_equal(five["image"][:, 4], centre["image"])


def test_global_arrays_on_the_mesh(built):
  mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  batch = next(pipeline.eval_batches(
      pipeline.open_split(NAME, "validation", built["data_dir"]), batch_size=16,
      image_size=32, partitions=built["partitions"], shard_options=grain.sharding.NoSharding()))
  arrays = pipeline.to_global_arrays(batch, sharding)
  assert "id" not in arrays  # text stays on the host
  assert arrays["image"].shape == (16, 32, 32, 3)
  assert len(arrays["image"].sharding.device_set) == 8
  np.testing.assert_array_equal(np.asarray(arrays["image"]), batch["image"])


def test_pipeline_never_imports_tensorflow(built):
  script = textwrap.dedent(f"""
      import sys
      import grain
      from jaxgeo.data import pipeline
      source = pipeline.open_split({NAME!r}, "train", {built["data_dir"]!r})
      loader = pipeline.make_train_loader(source, batch_size=4, image_size=32, partitions=[],
                                          shard_options=grain.sharding.NoSharding())
      batch = next(iter(loader))
      print("batch", batch["image"].shape)
      print("tensorflow imported:", "tensorflow" in sys.modules)
      """)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "batch (4, 32, 32, 3)" in result.stdout
  assert "tensorflow imported: False" in result.stdout


def test_landmark_photos_without_coordinates(built):
  # GLDv2 examples have a landmark id but no coordinates.
  labels = transforms.GeoLabels(built["partitions"], built["vocab"])
  out = labels.map({"image": np.zeros((2, 2, 3), np.uint8), "landmark_id": 7, "image_id": b"x"})
  assert out["landmark"] == 7 and np.isnan(out["latitude"])
  assert all(out[f"label_{p.name}"] == -1 for p in built["partitions"])
  assert np.all(out["tag_ids"] == -1)


def test_mixed_source_adds_the_landmark_share_and_keeps_both_label_kinds(built):
  photos = pipeline.open_split(NAME, "train", built["data_dir"])
  landmarks = [{"image": photos[i]["image"], "image_id": b"l%d" % i, "landmark_id": i % 3}
               for i in range(7)]
  mixed = pipeline.MixedSource(photos, landmarks, extra_share=0.25)
  assert mixed.num_extra == round(len(photos) / 3)
  assert len(mixed) == len(photos) + mixed.num_extra
  assert mixed[len(photos) + 8]["image_id"] == b"l1"  # the extra source repeats
  loader = pipeline.make_train_loader(
      mixed, batch_size=len(mixed) // 2, image_size=32, partitions=built["partitions"],
      vocabulary=built["vocab"], seed=0, shard_options=grain.sharding.NoSharding())
  batch = next(iter(loader))
  is_landmark = batch["landmark"] >= 0
  assert 0.1 < is_landmark.mean() < 0.4  # about the share, in a shuffled batch
  # Landmark photos train no geo or tag head; geolocation photos no landmark head.
  assert np.all(batch["tag"][is_landmark] == -1)
  for part in built["partitions"]:
    assert np.all(batch[f"label_{part.name}"][is_landmark] == -1)
    assert np.any(batch[f"label_{part.name}"][~is_landmark] >= 0)
  with pytest.raises(ValueError, match="extra_share"):
    pipeline.MixedSource(photos, landmarks, extra_share=1.0)


def test_vocabulary_drops_most_frequent_and_numeric_tags(tmp_path):
  counts = [(f"t{i}", 100 - i) for i in range(12)] + [("2012", 50), ("3.5", 40), ("paris", 30),
                                                      ("rare", 1)]
  v = vocab.make_vocabulary(counts, size=3)
  assert v.tags == ["t10", "t11", "paris"]
  np.testing.assert_array_equal(v.encode([b"paris", b"t0", "t11"], max_tags=4), [2, 1, -1, -1])
  v.save(tmp_path / "vocab.txt")
  assert vocab.TagVocabulary.load(tmp_path / "vocab.txt").tags == v.tags
  (tmp_path / "bad.tsv").write_text("paris\t3\nno count here\n")
  with pytest.raises(ValueError, match="bad.tsv:2"):
    vocab.read_tag_counts(tmp_path / "bad.tsv")


def test_built_data_sets_are_found_through_tfds(built):
  data_dir = built["data_dir"]
  folder = pipeline.dataset_dir(NAME, data_dir)
  assert str(folder) == os.path.join(data_dir, "yfcc100m_geo", "yfcc100m_val20", "1.1.0")
  assert vocab.tag_counts_path(folder) == folder / "tag_counts_train.tsv"
  assert vocab.tag_counts_path(folder).exists()
  assert pipeline.split_size(NAME, "train", data_dir) == len(
      pipeline.open_split(NAME, "train", data_dir))
  with pytest.raises(FileNotFoundError, match="Built data set yfcc100m_geo/mp16 not found in "):
    pipeline.dataset_dir("yfcc100m_geo/mp16", data_dir)
  assert pipeline.parse_dataset("gldv2/index:index") == ("gldv2/index", "index")
  assert pipeline.parse_dataset("geo_testsets/im2gps3k") == ("geo_testsets/im2gps3k", "test")
