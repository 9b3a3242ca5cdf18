"""Builds yfcc100m_geo from dummy_data/ (official raw formats) and checks what it stored.

dummy_data/ (see make_dummy_data.py) holds 12 good photos, one bad row of each kind, a bz2 part
with a duplicated photo, a CMYK JPEG and a PNG saved as .jpg; and the MP-16 layout of the same
photos with one bad meta row and one shard record without a meta row.
"""

import collections
import csv
import io
import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgeo.data.raw import skips, yfcc
from tfds_builders import testing
from tfds_builders.yfcc100m_geo import yfcc100m_geo_dataset_builder as builder_lib

DUMMY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
_SKIP_IMAGE = {"image": tfds.decode.SkipDecoding()}


def _config(source: str, **kwargs) -> builder_lib.BuilderConfig:
  # A large validation share so both splits have photos among 14.
  return builder_lib.BuilderConfig(name=f"{source}_test", source=source,
                                   validation_fraction=0.3, **kwargs)


def _build(data_dir, config, manual_dir=DUMMY, **download_kwargs):
  builder = builder_lib.Builder(config=config, data_dir=os.fspath(data_dir),
                                file_format="array_record")
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual_dir), **download_kwargs))
  return builder


def _examples(builder, split):
  source = builder.as_data_source(split=split, decoders=_SKIP_IMAGE)
  return {ex["photo_id"].decode(): ex for ex in (source[i] for i in range(len(source)))}


@pytest.fixture(scope="module")
def yfcc_build(tmp_path_factory):
  return _build(tmp_path_factory.mktemp("yfcc"), _config("yfcc100m"))


def test_split_sizes_and_skip_counts(yfcc_build):
  assert {k: v.num_examples for k, v in yfcc_build.info.splits.items()} == {
      "train": 10, "validation": 4}
  report = skips.read_report(yfcc_build.data_dir)
  skipped = {split: report[split]["skipped"] for split in ("train", "validation")}
  assert skipped == {
      "train": {"bad_coordinates": 1, "no_gps": 1, "video": 1},
      "validation": {"corrupt_image": 1, "duplicate_id": 1, "empty_image": 1,
                     "missing_image": 1}}
  assert report["train"]["kept"] == 10
  assert report["validation"]["examples"]["duplicate_id"][0].endswith(
      "(yfcc100m_dataset_part2.bz2:1)")


def test_features_match_the_metadata_rows(yfcc_build):
  examples = {**_examples(yfcc_build, "train"), **_examples(yfcc_build, "validation")}
  assert len(examples) == 14
  for photo_id, ex in examples.items():
    name, line_number = ex["source"].decode().rsplit(":", 1)
    lines = dict(yfcc.iter_lines(os.path.join(DUMMY, name)))
    record = yfcc.parse_line(lines[int(line_number)], 25)
    assert record.photo_id == photo_id
    assert ex["latitude"] == record.latitude and ex["longitude"] == record.longitude
    assert [t.decode() for t in ex["tags"]] == list(record.tags)
    assert ex["date_taken"].decode() == record.date_taken
    assert ex["face_area_ratio"] == pytest.approx(-1.0)
    image = Image.open(io.BytesIO(ex["image"]))
    assert image.format == "JPEG" and image.mode == "RGB"
    # Toy photos are 48 px on the shorter side: stored as they are, never upscaled.
    assert min(image.size) == 48
  # Tags are decoded from the URL encoding and lower-cased.
  assert any(" " in t.decode() for ex in examples.values() for t in ex["tags"])
  assert all(t.decode() == t.decode().lower() for ex in examples.values() for t in ex["tags"])


def test_cmyk_and_png_photos_are_converted(yfcc_build):
  examples = {**_examples(yfcc_build, "train"), **_examples(yfcc_build, "validation")}
  for photo_id in ("9000000001", "9000000002"):  # CMYK JPEG, PNG saved as .jpg
    image = Image.open(io.BytesIO(examples[photo_id]["image"]))
    assert image.format == "JPEG" and image.mode == "RGB" and image.size == (64, 48)


def test_image_size_scales_down(tmp_path):
  builder = _build(tmp_path, _config("yfcc100m", image_size=32))
  for ex in _examples(builder, "validation").values():
    width, height = Image.open(io.BytesIO(ex["image"])).size
    assert min(width, height) == 32


def test_mp16_joins_meta_csv_shards_and_tags(tmp_path, yfcc_build):
  builder = _build(tmp_path, _config("mp16"))
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {
      "train": 8, "validation": 4}
  report = skips.read_report(builder.data_dir)
  assert report["meta_csv"]["skipped"] == {"bad_coordinates": 1}
  assert report["meta_csv"]["reasons"]["bad_coordinates"] == (
      "latitude outside [-90, 90] or longitude outside [-180, 180]")
  assert report["train"]["skipped"] == {"no_metadata": 1}
  yfcc_examples = {**_examples(yfcc_build, "train"), **_examples(yfcc_build, "validation")}
  for split in ("train", "validation"):
    for photo_id, ex in _examples(builder, split).items():
      same = yfcc_examples[photo_id]
      assert (ex["latitude"], ex["longitude"]) == (same["latitude"], same["longitude"])
      assert list(ex["tags"]) == list(same["tags"])  # joined from yfcc100m_dataset
      assert ex["user"] == same["user"]  # the YFCC100M row's photographer
      assert ex["image"] == same["image"]  # the same JPEG bytes as the image folder


def test_mp16_without_yfcc_metadata_takes_the_photographer_from_author(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  shutil.copy(os.path.join(DUMMY, "mp16_places365.csv"), manual)
  shutil.copytree(os.path.join(DUMMY, "shards"), manual / "shards")
  builder = _build(tmp_path / "data", _config("mp16"), manual_dir=manual)
  with open(manual / "mp16_places365.csv", newline="") as f:
    authors = {os.path.splitext(os.path.basename(r["IMG_ID"]))[0]: r["AUTHOR"]
               for r in csv.DictReader(f)}
  examples = {**_examples(builder, "train"), **_examples(builder, "validation")}
  assert len(examples) == 12
  for photo_id, ex in examples.items():
    assert ex["user"].decode() == authors[photo_id]
    assert list(ex["tags"]) == []  # tags come only with the YFCC100M rows
  assert examples["7012300733"]["user"].decode() == "18119181@N07"


def test_23_column_layout_and_flat_image_folder(tmp_path, yfcc_build):
  manual = tmp_path / "manual"
  (manual / "images").mkdir(parents=True)
  rows = []
  for _, line in yfcc.iter_lines(os.path.join(DUMMY, "yfcc100m_dataset")):
    fields = line.rstrip("\n").split("\t")
    rows.append("\t".join(f for j, f in enumerate(fields) if j not in (0, 2)))
    src = yfcc.image_path(os.path.join(DUMMY, "data", "images"), fields[2])
    if os.path.exists(src):
      shutil.copy(src, manual / "images" / f"{fields[1]}.jpg")
  (manual / "yfcc100m_dataset").write_text("\n".join(rows) + "\n")
  builder = _build(tmp_path / "out", _config("yfcc100m"), manual_dir=manual)
  got = {**_examples(builder, "train"), **_examples(builder, "validation")}
  want = {**_examples(yfcc_build, "train"), **_examples(yfcc_build, "validation")}
  # The same photos, less the three that only the bz2 part of the 25-column set has.
  assert set(got) == set(want) - {"9000000001", "9000000002"}
  for photo_id, ex in got.items():
    assert ex["image"] == want[photo_id]["image"]
    assert ex["latitude"] == want[photo_id]["latitude"]


def test_beam_pipeline_matches_local_build(tmp_path, yfcc_build):
  from apache_beam.options.pipeline_options import PipelineOptions  # build extra
  builder = _build(tmp_path, _config("yfcc100m"),
                   beam_options=PipelineOptions(["--runner=DirectRunner"]))
  for split in ("train", "validation"):
    got, want = _examples(builder, split), _examples(yfcc_build, split)
    assert set(got) == set(want)
    for photo_id in got:
      for key in ("image", "latitude", "longitude", "tags", "source"):
        assert np.array_equal(got[photo_id][key], want[photo_id][key]), (photo_id, key)
  local, beam = skips.read_report(yfcc_build.data_dir), skips.read_report(builder.data_dir)
  for split in ("train", "validation"):
    assert beam[split]["kept"] == local[split]["kept"]
    assert beam[split]["skipped"] == local[split]["skipped"]
    tag_file = f"tag_counts_{split}.tsv"
    assert ((builder.data_path / tag_file).read_text()
            == (yfcc_build.data_path / tag_file).read_text())


def test_tag_counts_file(yfcc_build):
  examples = _examples(yfcc_build, "train")
  expected = collections.Counter(t.decode() for ex in examples.values() for t in ex["tags"])
  lines = (yfcc_build.data_path / "tag_counts_train.tsv").read_text().splitlines()
  got = {tag: int(count) for tag, count in (line.split("\t") for line in lines)}
  assert got == dict(expected)
  counts = [int(line.split("\t")[1]) for line in lines]
  assert counts == sorted(counts, reverse=True)


def test_face_ratio_when_asked(tmp_path):
  pytest.importorskip("mtcnn", reason="the face ratio needs the detector's weights: pip install "
                      "'jaxgeo[build]'")
  builder = _build(tmp_path, _config("yfcc100m", face_ratio=True))
  ratios = [ex["face_area_ratio"] for ex in _examples(builder, "validation").values()]
  # Toy-world photos show landscapes and buildings, no faces.
  assert ratios == [0.0] * len(ratios)


def test_missing_files_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="No YFCC100M metadata file"):
    _build(tmp_path / "out", _config("yfcc100m"), manual_dir=tmp_path)
  with pytest.raises(FileNotFoundError, match="mp16_places365.csv not found"):
    _build(tmp_path / "out", _config("mp16"), manual_dir=tmp_path)


def test_builds_without_tensorflow(tmp_path):
  result = testing.run_without_tensorflow(f"""
      import tensorflow_datasets as tfds
      from tfds_builders.yfcc100m_geo import yfcc100m_geo_dataset_builder as b
      config = b.BuilderConfig(name="t", source="yfcc100m", validation_fraction=0.3)
      builder = b.Builder(config=config, data_dir={os.fspath(tmp_path)!r},
                          file_format="array_record")
      builder.download_and_prepare(
          download_config=tfds.download.DownloadConfig(manual_dir={DUMMY!r}))
      print("examples", builder.info.splits["train"].num_examples)
      """)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "examples 10" in result.stdout
  assert "tensorflow imported: False" in result.stdout


def test_shards_are_deterministic(tmp_path, yfcc_build):
  again = _build(tmp_path, _config("yfcc100m"))
  shards = sorted(p.name for p in yfcc_build.data_path.glob("*.array_record-*"))
  assert shards
  for name in shards:
    assert (again.data_path / name).read_bytes() == (yfcc_build.data_path / name).read_bytes()


def _few_lines(tmp_path, n: int):
  """dummy_data/ with only the first n lines of its metadata (a user trying a small file)."""
  manual = tmp_path / "few"
  shutil.copytree(DUMMY, manual)
  (manual / "yfcc100m_dataset_part2.bz2").unlink()
  lines = (manual / "yfcc100m_dataset").read_text().splitlines()
  (manual / "yfcc100m_dataset").write_text("\n".join(lines[:n]) + "\n")
  return manual


def test_a_few_lines_stop_with_what_to_change_not_a_tfds_error(tmp_path):
  manual = _few_lines(tmp_path, 4)
  config = builder_lib.BuilderConfig(name="few", source="yfcc100m")  # validation 1%
  with pytest.raises(skips.EmptySplitError) as error:
    _build(tmp_path / "data", config, manual_dir=manual)
  message = str(error.value)
  assert message.startswith("yfcc100m_geo/few: split 'validation' would be empty: no record of "
                            "the input falls in it. validation_fraction=0.01 ")
  assert ("""--config '{"name": "few_novalidation", "source": "yfcc100m", """
          """"validation_fraction": 0}'""") in message
  assert "build_report.json" in message


def test_validation_fraction_zero_builds_no_validation_split(tmp_path):
  manual = _few_lines(tmp_path, 4)
  config = builder_lib.BuilderConfig(name="few_novalidation", source="yfcc100m",
                                     validation_fraction=0)
  builder = _build(tmp_path / "data", config, manual_dir=manual)
  report = skips.read_report(builder.data_dir)
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {
      "train": report["train"]["kept"]}
  assert report["train"]["kept"] + sum(report["train"]["skipped"].values()) == 4
  assert "validation" not in report


def test_mp16_meta_csv_report_says_how_it_read_the_columns(tmp_path):
  builder = _build(tmp_path, _config("mp16"))
  columns = skips.read_report(builder.data_dir)["meta_csv"]["coordinate_columns"]
  assert (columns["order"], columns["lat_column"]) == ("as_named", "LAT")
  assert columns["evidence"].startswith("column LAT has 0 value(s) outside [-90, 90] and "
                                        "column LON ")
