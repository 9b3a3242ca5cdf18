"""Builds every gldv2 config from dummy_data/ as ArrayRecord, without TensorFlow, and checks values.

dummy_data/ is the toy world's GLDv2 plus the hand-made bad records listed in
make_dummy_data.py; the expected numbers below follow from them (see that docstring).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import shutil
import tarfile

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgeo.data import landmark_ids
from jaxgeo.data.raw import skips, splits
from tfds_builders import testing
from tfds_builders.gldv2 import gldv2_dataset_builder as gldv2, make_dummy_data as dummy
from tfds_builders.gldv2.gldv2_catalog import RETRIEVAL_SOLUTION

DUMMY_DIR = dummy.DUMMY_DIR
VAL = 0.3  # ~20 train images: 2% would leave validation empty
EIFFEL = "http://commons.wikimedia.org/wiki/Category:Eiffel_Tower"

CONFIGS = {
    # image_size 32 < the toy's 48 px: images are downscaled.
    "train_full": gldv2.BuilderConfig(name="train_full_32", subset="train_full", image_size=32,
                                      validation_fraction=VAL),
    # The default 320 > 48 px: images are stored as they are.
    "train_clean": gldv2.BuilderConfig(name="train_clean_val30", subset="train_clean",
                                       validation_fraction=VAL),
    "index": "index",
    "test": "test",
}
EXPECTED_SIZES = {
    "train_full": {"train": 15, "validation": 5},
    "train_clean": {"train": 11, "validation": 3},
    "index": {"index": 11},
    "test": {"test": 9},
}
EXPECTED_SKIPS = {
    "train_full": {
        # EMPTY_ID, MISSING_ID, MALFORMED_ID's row, REPEATED_ROW_ID's second row.
        "train": {"empty_image": 1, "missing_image": 1, "malformed_row": 1, "duplicate_id": 1},
        # CORRUPT_ID, DUPLICATE_ID's second member, NOT_IN_CSV_ID.
        "validation": {"corrupt_image": 1, "duplicate_id": 1, "not_in_csv": 1},
    },
    "train_clean": {
        # 6 toy images outside clean (2 noisy, 4 of the dropped landmark), NOT_IN_CSV_ID and
        # MALFORMED_ID (its bad row is in train.csv, which train_clean does not read).
        "train": {"empty_image": 1, "missing_image": 1, "not_in_csv": 5},
        "validation": {"corrupt_image": 1, "duplicate_id": 1, "not_in_csv": 3},
    },
    "index": {"index": {"corrupt_tar": 1, "missing_image": 1}},
    "test": {"test": {"no_solution": 1}},
}


def _build(config, data_dir, manual_dir=DUMMY_DIR):
  builder = gldv2.Builder(config=config, data_dir=os.fspath(data_dir),
                          file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)))
  return builder


def _examples(builder, split):
  source = builder.as_data_source(split=split)
  return {ex["image_id"].decode(): ex for ex in (source[i] for i in range(len(source)))}


def _tar_images(folder):
  """image id -> decoded image of every readable member of the dummy tars of a set."""
  out = {}
  for name in sorted(os.listdir(os.path.join(DUMMY_DIR, folder))):
    try:
      with tarfile.open(os.path.join(DUMMY_DIR, folder, name)) as tar:
        for m in tar.getmembers():
          if m.isfile() and m.size > 1024:
            image_id = os.path.basename(m.name)[:-4]
            if image_id not in out:  # the first copy of a duplicate id
              try:
                out[image_id] = Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")
              except OSError:
                pass  # the corrupt one
    except tarfile.ReadError:
      pass  # the truncated one
  return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("gldv2_data")
  return {name: _build(config, data_dir) for name, config in CONFIGS.items()}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_split_sizes_and_skip_counts(built, name):
  builder = built[name]
  sizes = {split: info.num_examples for split, info in builder.info.splits.items()}
  assert sizes == EXPECTED_SIZES[name]
  report = skips.read_report(builder.data_dir)
  assert set(report) == set(EXPECTED_SIZES[name])
  for split, expected in EXPECTED_SKIPS[name].items():
    assert report[split]["skipped"] == expected, split
    assert report[split]["kept"] == EXPECTED_SIZES[name][split]
    assert len(builder.as_data_source(split=split)) == EXPECTED_SIZES[name][split]


def test_skip_details_name_the_record(built):
  report = skips.read_report(built["train_full"].data_dir)
  train, val = report["train"]["examples"], report["validation"]["examples"]
  assert train["missing_image"] == [
      f"{dummy.MISSING_ID} (train.csv) is in no train/images_*.tar"]
  assert train["empty_image"][0].startswith(
      f"images_001.tar:e/0/e/{dummy.EMPTY_ID}.jpg has 0 bytes")
  assert train["malformed_row"][0].startswith(f"train.csv:25: ['{dummy.MALFORMED_ID}'")
  assert train["duplicate_id"] == [f"train.csv:26: {dummy.REPEATED_ROW_ID} is listed earlier"]
  assert val["corrupt_image"][0].startswith(f"images_001.tar:c/0/f/{dummy.CORRUPT_ID}.jpg")
  assert val["not_in_csv"] == [f"images_001.tar:0/d/d/{dummy.NOT_IN_CSV_ID}.jpg: "
                               f"{dummy.NOT_IN_CSV_ID} is not in train.csv"]
  index = skips.read_report(built["index"].data_dir)["index"]["examples"]
  assert index["corrupt_tar"][0].startswith("images_001.tar: unexpected end of data")
  assert index["missing_image"] == [
      f"{dummy.TRUNCATED_INDEX_ID} (index.csv) is in no index/images_*.tar"]


@pytest.mark.parametrize("name", ["train_full", "train_clean"])
def test_validation_split_is_the_id_hash(built, name):
  for split in ("train", "validation"):
    for image_id in _examples(built[name], split):
      assert splits.split_of(image_id, VAL) == split


def test_train_full_labels(built):
  examples = {**_examples(built["train_full"], "train"),
              **_examples(built["train_full"], "validation")}
  with open(os.path.join(DUMMY_DIR, "train.csv")) as f:
    rows = list(csv.DictReader(f))
  good = {r["id"]: int(r["landmark_id"]) for r in rows
          if r["id"] not in (dummy.CORRUPT_ID, dummy.EMPTY_ID, dummy.MISSING_ID,
                             dummy.MALFORMED_ID)}
  assert {i: int(ex["landmark_id"]) for i, ex in examples.items()} == good
  eiffel = examples[dummy.DUPLICATE_ID]
  assert int(eiffel["landmark_id"]) == 115331
  assert eiffel["category"].decode() == EIFFEL
  assert set(eiffel) == {"image", "image_id", "landmark_id", "category"}


def test_train_clean_relabelling_and_landmark_ids_csv(built):
  builder = built["train_clean"]
  with open(os.path.join(builder.data_dir, landmark_ids.FILE)) as f:
    table = list(csv.reader(f))
  # Sorted by original id; num_images counts train_clean.csv (incl. the 3 bad Eiffel ids).
  assert table == [
      ["landmark_id", "original_landmark_id", "category", "num_images"],
      ["0", "34109", "http://commons.wikimedia.org/wiki/Category:Tokyo_Tower", "3"],
      ["1", "115331", EIFFEL, "7"],
      ["2", "164785", "http://commons.wikimedia.org/wiki/Category:Sydney_Opera_House", "3"],
      ["3", "170764", "http://commons.wikimedia.org/wiki/Category:Big_Ben", "4"],
  ]
  examples = {**_examples(builder, "train"), **_examples(builder, "validation")}
  with open(os.path.join(DUMMY_DIR, "train_clean.csv")) as f:
    clean = {i: int(r["landmark_id"]) for r in csv.DictReader(f) for i in r["images"].split()}
  original_of = {int(r[0]): int(r[1]) for r in table[1:]}
  for image_id, ex in examples.items():
    assert int(ex["original_landmark_id"]) == clean[image_id]
    assert original_of[int(ex["landmark_id"])] == clean[image_id]
  assert sorted({int(ex["landmark_id"]) for ex in examples.values()}) == [0, 1, 2, 3]
  assert int(examples[dummy.DUPLICATE_ID]["landmark_id"]) == 1
  assert examples[dummy.DUPLICATE_ID]["category"].decode() == EIFFEL


def test_index_keeps_its_own_landmark_ids(built):
  examples = _examples(built["index"], "index")
  with open(os.path.join(DUMMY_DIR, "index_image_to_landmark.csv")) as f:
    mapping = {r["id"]: int(r["landmark_id"]) for r in csv.DictReader(f)}
  del mapping[dummy.TRUNCATED_INDEX_ID]
  mapping[dummy.UNMAPPED_INDEX_ID] = -1
  assert {i: int(ex["landmark_id"]) for i, ex in examples.items()} == mapping
  assert int(examples["90a66e8af0f684ce"]["landmark_id"]) == 92113  # index id, as given


def test_test_solutions(built):
  examples = _examples(built["test"], "test")

  def solution(image_id):
    ex = examples[image_id]
    return ([int(x) for x in ex["landmarks"]], ex["usage"].decode(),
            [x.decode() for x in ex["retrieval_images"]], ex["retrieval_usage"].decode())

  assert solution("443b256cf10aeb61") == (
      [115331], "Private", ["8fb7e9e18a6f5315", "90a66e8af0f684ce"], "Private")
  assert solution("91a4ebad022f6a16") == ([], "Public", [], "Public")  # no landmark
  assert solution(dummy.IGNORED_TEST_ID) == ([], "Ignored", [], "Ignored")  # "None" images
  assert dummy.NO_SOLUTION_TEST_ID not in examples


def _mean_abs_diff(a, b) -> float:
  return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_images_downscaled_never_upscaled(built):
  originals = _tar_images("train")
  for name, size in (("train_full", 32), ("train_clean", None)):
    for split in ("train", "validation"):
      for image_id, ex in _examples(built[name], split).items():
        h, w, _ = ex["image"].shape
        original = originals[image_id]
        assert min(original.size) == 48
        if size is None:  # 48 < 320: stored as it is, same size and pixels
          assert (w, h) == original.size
          assert _mean_abs_diff(ex["image"], original) < 1.0
        else:
          assert min(h, w) == size
          assert abs(w / h - original.width / original.height) < 0.05


def test_duplicate_id_keeps_the_first_member(built):
  first = _tar_images("train")[dummy.DUPLICATE_ID]
  stored = _examples(built["train_clean"], "validation")[dummy.DUPLICATE_ID]["image"]
  assert _mean_abs_diff(stored, first) < 1.0
  with tarfile.open(os.path.join(DUMMY_DIR, "train", "images_001.tar")) as tar:
    data = tar.extractfile(f"2/9/5/{dummy.DUPLICATE_ID}.jpg").read()
  second = Image.open(io.BytesIO(data)).convert("RGB")
  assert second.size != first.size or _mean_abs_diff(stored, second) > 10.0


def test_data_source_by_name(built):
  data_dir = os.path.dirname(os.path.dirname(os.path.dirname(built["test"].data_dir)))
  source = tfds.data_source("gldv2/test", data_dir=data_dir, split="test")
  assert len(source) == 9


def _copy_dummy(tmp_path, leave_out=()):
  manual = tmp_path / "manual"
  shutil.copytree(DUMMY_DIR, manual, ignore=shutil.ignore_patterns(*leave_out))
  return manual


@pytest.mark.parametrize("config,leave_out,missing", [
    ("train_clean", "train_clean.csv", "train_clean.csv"),
    ("train_full", "train_label_to_category.csv", "train_label_to_category.csv"),
    ("index", "index", "index"),
    ("test", RETRIEVAL_SOLUTION, RETRIEVAL_SOLUTION),
])
def test_missing_manual_file_is_named(tmp_path, config, leave_out, missing):
  manual = _copy_dummy(tmp_path, [leave_out])
  with pytest.raises(FileNotFoundError, match="MANUAL_DOWNLOAD_INSTRUCTIONS") as e:
    _build(config, tmp_path / "data", manual)
  assert str(manual / missing) in str(e.value)


def test_tar_folder_without_tars_is_an_error(tmp_path):
  manual = _copy_dummy(tmp_path, ["images_*.tar"])
  with pytest.raises(FileNotFoundError, match=r"No images_\*\.tar in .*test"):
    _build("test", tmp_path / "data", manual)


def test_unquoted_comma_in_category_and_url(tmp_path):
  manual = _copy_dummy(tmp_path)
  path = manual / "train_label_to_category.csv"
  path.write_text(path.read_text().replace("Category:Eiffel_Tower", "Category:Eiffel,_Paris"))
  path = manual / "train.csv"
  path.write_text(path.read_text().replace("Eiffel_Tower_001.jpg", "Eiffel,_Tower_001.jpg"))
  config = gldv2.BuilderConfig(name="commas", subset="train_full", validation_fraction=VAL)
  builder = _build(config, tmp_path / "data", manual)
  examples = {**_examples(builder, "train"), **_examples(builder, "validation")}
  assert examples[dummy.DUPLICATE_ID]["category"].decode() == (
      "http://commons.wikimedia.org/wiki/Category:Eiffel,_Paris")
  assert sum(int(ex["landmark_id"]) == 115331 for ex in examples.values()) == 4
  assert "malformed_row" not in skips.read_report(builder.data_dir)["validation"]["skipped"]


def test_empty_validation_split_is_a_clear_error(tmp_path):
  config = gldv2.BuilderConfig(name="tiny_val", subset="train_clean", validation_fraction=1e-9)
  with pytest.raises(skips.EmptySplitError) as error:
    _build(config, tmp_path)
  message = str(error.value)
  assert message.startswith("gldv2/tiny_val: split 'validation' would be empty: no usable image "
                            "id of train_clean.csv falls in it. validation_fraction=1e-09 ")
  assert ("""--config '{"name": "tiny_val_novalidation", "subset": "train_clean", """
          """"validation_fraction": 0}'""") in message


def test_a_split_whose_images_are_all_missing_is_a_clear_error(tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(DUMMY_DIR, manual)
  for tar in (manual / "index").glob("images_*.tar"):
    tar.unlink()
  with tarfile.open(manual / "index" / "images_000.tar", "w"):
    pass  # a tar without the index images
  config = gldv2.BuilderConfig(name="index_missing", subset="index")
  with pytest.raises(skips.EmptySplitError) as error:
    _build(config, tmp_path / "data", manual)
  assert str(error.value).startswith("gldv2/index_missing: split 'index' would be empty: all ")
  assert "missing_image: " in str(error.value)


def test_no_validation_split_with_fraction_zero(tmp_path):
  config = gldv2.BuilderConfig(name="no_val", subset="train_clean", validation_fraction=0.0)
  builder = _build(config, tmp_path)
  assert {s: i.num_examples for s, i in builder.info.splits.items()} == {"train": 14}
  assert skips.read_report(builder.data_dir)["train"]["skipped"] == {
      "corrupt_image": 1, "duplicate_id": 1, "empty_image": 1, "missing_image": 1,
      "not_in_csv": 8}


def test_shards_are_deterministic(built, tmp_path):
  again = _build(CONFIGS["train_clean"], tmp_path)
  for name in sorted(os.listdir(built["train_clean"].data_dir)):
    if name.endswith(("array_record-00000-of-00001", ".csv", "build_report.json")):
      with open(os.path.join(built["train_clean"].data_dir, name), "rb") as a, \
           open(os.path.join(again.data_dir, name), "rb") as b:
        assert a.read() == b.read(), name


def test_dummy_data_is_what_make_dummy_data_writes(tmp_path):
  dummy.make_dummy_data(os.fspath(tmp_path / "dummy"))

  def files(root):
    return {os.path.relpath(os.path.join(d, f), root): pathlib.Path(d, f).read_bytes()
            for d, _, fs in os.walk(root) for f in fs}

  assert files(tmp_path / "dummy") == files(DUMMY_DIR)
  assert sum(map(len, files(DUMMY_DIR).values())) < 500_000


def test_builds_without_tensorflow(tmp_path):
  result = testing.run_without_tensorflow("""
      import json
      import tensorflow_datasets as tfds
      from tfds_builders.gldv2 import gldv2_dataset_builder as gldv2

      config = gldv2.BuilderConfig(name="no_tf", subset="train_clean", validation_fraction=0.3)
      builder = gldv2.Builder(config=config, data_dir=sys.argv[1], file_format="array_record")
      builder.download_and_prepare(
          download_config=tfds.download.DownloadConfig(manual_dir=sys.argv[2]))
      source = builder.as_data_source(split="train")
      print(json.dumps({"train": len(source), "image_shape": list(source[0]["image"].shape)}))
      """, os.fspath(tmp_path), DUMMY_DIR)
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-2])
  assert out["train"] == 11
  assert out["image_shape"][2] == 3
  assert "tensorflow imported: False" in result.stdout
