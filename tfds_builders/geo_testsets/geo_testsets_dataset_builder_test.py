"""Tests of the geo_testsets builder on dummy_data/ (see make_dummy_data.py for its records).

TFDS's DatasetBuilderTestCase checks each config end to end; the plain tests build into
tmp_path as users do (array_record, read back with as_data_source) and check values: sizes,
skip counts per reason, unlabelled image names, coordinates against the labels files, image
sizes and both YFCC4k image layouts. One build runs with TensorFlow blocked.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow",
                         reason="tfds.testing needs TensorFlow: pip install 'jaxgeo[build]'")
import tensorflow_datasets as tfds  # noqa: E402
import tensorflow_datasets.testing  # noqa: E402,F401  (makes tfds.testing available)

from jaxgeo.data.raw import skips  # noqa: E402
from tfds_builders import testing
from tfds_builders.geo_testsets import geo_testsets_dataset_builder as gt  # noqa: E402
from tfds_builders.geo_testsets import make_dummy_data  # noqa: E402

DUMMY = make_dummy_data.DUMMY_DIR

IM2GPS3K_KEPT = {"11971883979_bc03347548_o.jpg", "6594778759_7be8a18122_o.jpg",
                 "2849179874_27b68e2bdc_o.jpg", "2067044933_5c0b29b014_o.jpg",
                 "2321718530_8d06bcdb19_o.jpg"}
IM2GPS3K_SKIPPED = {"bad_coordinates": 1, "corrupt_image": 1, "duplicate_id": 1,
                    "empty_image": 1, "missing_coordinates": 1, "missing_id": 1,
                    "missing_image": 1, "no_label": 2}
IM2GPS3K_UNLABELLED = ["1780342355_955fd6b385_o.jpg", "5476069438_2711ac5fd4_o.jpg"]
YFCC4K_KEPT = {"8831034048", "7012300733", "7585223000", "5996160400", "9120455031"}
YFCC4K_SKIPPED = {"bad_coordinates": 1, "corrupt_image": 1, "duplicate_id": 1,
                  "malformed_row": 1, "missing_image": 1, "no_gps": 1, "video": 1}


# --- TFDS's own checks, one test case per config, dummy_data/ as manual_dir -------------------


class _TestCase(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = gt.Builder
  SKIP_CHECKSUMS = True  # manual download: nothing is fetched
  # The shared readers (pandas, jaxgeo.data.raw.images/yfcc) read local files with `open`, so the
  # builder does too; TFDS's check for gfile-only I/O does not apply.
  MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False


class Im2gpsTest(_TestCase):
  BUILDER_CONFIG_NAMES_TO_TEST = ["im2gps"]
  SPLITS = {"test": 3}


class Im2gps3kTest(_TestCase):
  BUILDER_CONFIG_NAMES_TO_TEST = ["im2gps3k"]
  SPLITS = {"test": 5}


class Yfcc4kTest(_TestCase):
  BUILDER_CONFIG_NAMES_TO_TEST = ["yfcc4k"]
  SPLITS = {"test": 5}


del _TestCase  # not a test of its own


# --- Builds from Python, read back as array_record data sources ---------------------------------


def _build(config, manual_dir: str, data_dir: str):
  """Builds one config; returns ({image_id: example}, the split's build report)."""
  builder = gt.Builder(config=config, data_dir=data_dir, file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  source = builder.as_data_source()["test"]
  examples = [source[i] for i in range(len(source))]
  by_id = {ex["image_id"].decode(): ex for ex in examples}
  assert len(by_id) == len(examples)
  return by_id, skips.read_report(builder.data_dir)["test"]


@pytest.fixture(scope="module")
def im2gps3k(tmp_path_factory):
  return _build("im2gps3k", DUMMY, str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def yfcc4k(tmp_path_factory):
  return _build("yfcc4k", DUMMY, str(tmp_path_factory.mktemp("data")))


def _csv_row_at(source: str) -> dict[str, str]:
  """The labels-CSV row that an example's `source` (file:line) names."""
  name, line = source.rsplit(":", 1)
  path = os.path.join(DUMMY, "im2gps3k" if name.startswith("im2gps3k") else "im2gps", name)
  with open(path, newline="") as f:
    lines = f.read().splitlines()
  return next(csv.DictReader([lines[0], lines[int(line) - 1]]))


def test_im2gps3k_sizes_and_skips(im2gps3k):
  examples, report = im2gps3k
  assert set(examples) == IM2GPS3K_KEPT
  assert report["kept"] == 5
  assert report["skipped"] == IM2GPS3K_SKIPPED
  # Images without a row are reported by name, in full, and get no invented label.
  assert report["unlabelled_images"] == IM2GPS3K_UNLABELLED
  assert not set(IM2GPS3K_UNLABELLED) & set(examples)
  assert sorted(report["examples"]["no_label"]) == [
      f"{name}: image in images/ without a row in im2gps3k_places365.csv"
      for name in IM2GPS3K_UNLABELLED]
  assert report["examples"]["bad_coordinates"] == ["im2gps3k_places365.csv:4"]
  assert report["examples"]["missing_id"] == ["im2gps3k_places365.csv:12"]


def test_im2gps3k_coordinates_equal_csv_rows(im2gps3k):
  examples, _ = im2gps3k
  paris = examples["6594778759_7be8a18122_o.jpg"]
  assert paris["source"].decode() == "im2gps3k_places365.csv:3"
  assert (paris["latitude"], paris["longitude"]) == (48.856560, 2.292364)  # exact: float64
  for image_id, ex in examples.items():
    row = _csv_row_at(ex["source"].decode())
    assert row["IMG_ID"] == image_id
    assert (ex["latitude"], ex["longitude"]) == (float(row["LAT"]), float(row["LON"]))
    assert ex["user"].decode() == row["AUTHOR"]  # the photographer, for the leakage report
  assert paris["user"].decode() == "41448287@N02"
  # The duplicate row (line 13, at 0,0) is skipped; the first row's label stands.
  dup = examples["2849179874_27b68e2bdc_o.jpg"]
  assert (dup["source"].decode(), dup["latitude"], dup["longitude"]) == (
      "im2gps3k_places365.csv:9", -33.623452, 18.332598)


def test_photos_are_never_upscaled(im2gps3k):
  examples, _ = im2gps3k
  for image_id, ex in examples.items():
    with Image.open(os.path.join(DUMMY, "im2gps3k", "images", image_id)) as original:
      pixels = np.asarray(original.convert("RGB"))
    # 48 px photos under the default 320: stored as they are (same size, not re-encoded).
    assert min(pixels.shape[:2]) == 48
    np.testing.assert_array_equal(ex["image"], pixels)


def test_image_size_caps_the_shorter_side(tmp_path):
  config = gt.BuilderConfig(name="im2gps3k_32px", test_set="im2gps3k", image_size=32)
  examples, report = _build(config, DUMMY, str(tmp_path))
  assert set(examples) == IM2GPS3K_KEPT and report["skipped"] == IM2GPS3K_SKIPPED
  shapes = {}
  for image_id, ex in examples.items():
    with Image.open(os.path.join(DUMMY, "im2gps3k", "images", image_id)) as original:
      w, h = original.size
    scale = 32 / min(w, h)
    assert ex["image"].shape == (round(h * scale), round(w * scale), 3)
    shapes[image_id] = ex["image"].shape[:2]
  assert shapes["11971883979_bc03347548_o.jpg"] == (32, 43)  # 64x48 landscape
  assert shapes["2321718530_8d06bcdb19_o.jpg"] == (32, 43)


# dummy_data/im2gps/ is the 2018 variant: its header says IMG_ID,AUTHOR,LON,LAT over latitudes,
# then longitudes. The photos are of these places (the coordinates its rows hold).
IM2GPS_PLACES = {"7499850445_2df8914253_o.jpg": (61.741415, -151.307584),  # Anchorage
                 "3289498360_7d530e40d5_o.jpg": (39.906246, 116.377157),  # Beijing
                 "5938356110_4bb70383a8_o.jpg": (55.739562, 37.659489)}  # Moscow


def test_im2gps_2018_header_variant_from_its_own_folder(tmp_path):
  # manual_dir may also be one test set's folder rather than a folder of all three.
  examples, report = _build("im2gps", os.path.join(DUMMY, "im2gps"), str(tmp_path))
  assert {i: (ex["latitude"], ex["longitude"]) for i, ex in examples.items()} == IM2GPS_PLACES
  assert report["skipped"] == {"bad_coordinates": 1}  # London's longitude set to 200
  assert report["examples"]["bad_coordinates"] == ["im2gps_places365.csv:5"]
  assert report["unlabelled_images"] == []
  # What was decided, and why, is in the report.
  columns = report["coordinate_columns"]
  assert (columns["order"], columns["lat_column"], columns["lon_column"]) == ("swapped", "LON",
                                                                             "LAT")
  assert columns["evidence"].startswith("the header's names are swapped: column LAT has 2 "
                                        "value(s) outside [-90, 90] and column LON 0")
  portrait = examples["7499850445_2df8914253_o.jpg"]["image"]
  assert portrait.shape == (64, 48, 3)


def test_both_header_variants_build_the_same_photos(tmp_path):
  later = tmp_path / "im2gps"
  shutil.copytree(os.path.join(DUMMY, "im2gps"), later)
  csv_path = later / "im2gps_places365.csv"
  lines = csv_path.read_text().splitlines()
  assert lines[0].startswith("IMG_ID,AUTHOR,LON,LAT,")
  csv_path.write_text("\n".join([lines[0].replace("LON,LAT", "LAT,LON", 1), *lines[1:]]) + "\n")
  examples, report = _build("im2gps", str(later), str(tmp_path / "data"))
  assert {i: (ex["latitude"], ex["longitude"]) for i, ex in examples.items()} == IM2GPS_PLACES
  assert report["coordinate_columns"]["order"] == "as_named"


def test_ambiguous_labels_stop_the_build_with_how_to_force_them(tmp_path):
  # Only Moscow and the bad London row: no value beyond 90 in either column.
  manual = tmp_path / "im2gps"
  shutil.copytree(os.path.join(DUMMY, "im2gps"), manual)
  csv_path = manual / "im2gps_places365.csv"
  lines = csv_path.read_text().splitlines()
  csv_path.write_text("\n".join([lines[0], lines[3]]) + "\n")
  with pytest.raises(ValueError) as error:
    _build("im2gps", str(manual), str(tmp_path / "data"))
  message = str(error.value)
  assert str(csv_path) in message and "cannot tell which column holds the latitudes" in message
  assert ('--config \'{"name": "im2gps_as_named", "test_set": "im2gps", "coordinate_columns": '
          '"as_named"}\'') in message
  # Forced through the config field, it builds (here the header is the wrong one: "swapped").
  config = gt.BuilderConfig(name="im2gps_swapped", test_set="im2gps",
                            coordinate_columns="swapped")
  examples, report = _build(config, str(manual), str(tmp_path / "data"))
  moscow = examples["5938356110_4bb70383a8_o.jpg"]
  assert (moscow["latitude"], moscow["longitude"]) == (55.739562, 37.659489)
  assert report["coordinate_columns"]["evidence"].startswith("coordinate_columns='swapped'")


def test_a_test_set_without_a_usable_photo_is_a_clear_error(tmp_path):
  manual = tmp_path / "im2gps3k"
  shutil.copytree(os.path.join(DUMMY, "im2gps3k"), manual)
  for photo in (manual / "images").iterdir():
    photo.unlink()
  with pytest.raises(skips.EmptySplitError) as error:
    _build("im2gps3k", str(manual), str(tmp_path / "data"))
  assert str(error.value).startswith(
      "geo_testsets/im2gps3k: split 'test' would be empty: all 12 of its records were skipped "
      "(bad_coordinates: 1, duplicate_id: 1, missing_coordinates: 1, missing_id: 1, "
      "missing_image: 8)")


def test_yfcc4k_sizes_skips_and_coordinates(yfcc4k):
  examples, report = yfcc4k
  assert set(examples) == YFCC4K_KEPT
  assert report["kept"] == 5 and report["skipped"] == YFCC4K_SKIPPED
  assert report["kept_per_image_layout"] == {"flat": 3, "multimedia_commons": 2}
  assert report["metadata_columns"] == {"yfcc4k_dataset": 25}
  assert report["examples"]["malformed_row"] == ["yfcc4k_dataset:1: 10 columns, expected 25"]
  assert report["examples"]["video"] == ["yfcc4k_dataset:7: photo 2341874686 is a video"]
  ex = examples["7585223000"]
  assert ex["source"].decode() == "yfcc4k_dataset:4"
  assert (ex["latitude"], ex["longitude"]) == (50.833357, 0.319158)  # columns 13, 12
  with open(os.path.join(DUMMY, "yfcc4k", "yfcc4k_dataset")) as f:
    lines = f.read().splitlines()
  for photo_id, ex in examples.items():
    fields = lines[int(ex["source"].decode().rsplit(":", 1)[1]) - 1].split("\t")
    assert fields[1] == photo_id
    assert (ex["latitude"], ex["longitude"]) == (float(fields[13]), float(fields[12]))
    assert ex["user"].decode() == fields[3]  # the user NSID column


def _one_layout_copy(dest: str, layout: str, num_columns: int) -> str:
  """dummy_data/yfcc4k with every image in one layout, metadata in 25 or 23 columns."""
  shutil.copytree(os.path.join(DUMMY, "yfcc4k"), dest)
  meta = os.path.join(dest, "yfcc4k_dataset")
  with open(meta) as f:
    rows = [line.split("\t") for line in f.read().splitlines()]
  hash_of = {r[1]: r[2] for r in rows if len(r) == 25}
  id_of = {h: i for i, h in hash_of.items()}
  mc_root, flat_root = os.path.join(dest, "data", "images"), os.path.join(dest, "images")
  for path in glob.glob(os.path.join(dest, "**", "*.jpg"), recursive=True):
    name = os.path.splitext(os.path.basename(path))[0]
    photo_id = id_of.get(name, name)
    target = (gt.yfcc.image_path(mc_root, hash_of[photo_id]) if layout == "multimedia_commons"
              else os.path.join(flat_root, f"{photo_id}.jpg"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(path, target)
  shutil.rmtree(flat_root if layout == "multimedia_commons" else os.path.join(dest, "data"))
  if num_columns == 23:  # the older layout: no line number (0), no photo hash (2)
    rows = [[r[1], *r[3:]] if len(r) == 25 else r for r in rows]
  with open(meta, "w") as f:
    f.write("".join("\t".join(r) + "\n" for r in rows))
  return dest


@pytest.mark.parametrize("layout,num_columns", [("multimedia_commons", 23), ("flat", 25)])
def test_yfcc4k_each_image_layout(yfcc4k, tmp_path, layout, num_columns):
  manual_dir = _one_layout_copy(str(tmp_path / "yfcc4k"), layout, num_columns)
  examples, report = _build("yfcc4k", manual_dir, str(tmp_path / "data"))
  assert report["kept_per_image_layout"] == {layout: 5}
  assert report["metadata_columns"] == {"yfcc4k_dataset": num_columns}
  assert report["skipped"] == YFCC4K_SKIPPED
  # 23 columns: the Multimedia Commons hash is recomputed from the download URL, same files.
  mixed, _ = yfcc4k
  assert set(examples) == set(mixed)
  for photo_id, ex in examples.items():
    assert (ex["latitude"], ex["longitude"]) == (mixed[photo_id]["latitude"],
                                                 mixed[photo_id]["longitude"])
    np.testing.assert_array_equal(ex["image"], mixed[photo_id]["image"])


def _shard_bytes(data_dir: str, config: str) -> dict[str, bytes]:
  shards = {}
  for path in glob.glob(os.path.join(data_dir, "geo_testsets", config, "*", "*.array_record*")):
    with open(path, "rb") as f:
      shards[os.path.basename(path)] = f.read()
  return shards


def test_shards_are_deterministic(tmp_path):
  # Photos load in threads; keys (the photo ids) fix the order the shards are written in.
  for run in ("a", "b"):
    _build("yfcc4k", DUMMY, str(tmp_path / run))
  first = _shard_bytes(str(tmp_path / "a"), "yfcc4k")
  assert first and first == _shard_bytes(str(tmp_path / "b"), "yfcc4k")


def test_missing_labels_file_is_named(tmp_path):
  os.makedirs(tmp_path / "im2gps3k" / "images")
  with pytest.raises(FileNotFoundError, match="im2gps3k_places365.csv"):
    _build("im2gps3k", str(tmp_path), str(tmp_path / "data"))


def test_dummy_data_matches_its_generator(tmp_path):
  # The text files and the file list are pinned; JPEG bytes may differ across Pillow builds.
  make_dummy_data.make_dummy_data(str(tmp_path / "dummy"))

  def listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)
  assert listing(tmp_path / "dummy") == listing(DUMMY)
  for rel in ("im2gps/im2gps_places365.csv", "im2gps3k/im2gps3k_places365.csv",
              "yfcc4k/yfcc4k_dataset"):
    with open(tmp_path / "dummy" / rel, "rb") as new, open(os.path.join(DUMMY, rel), "rb") as old:
      assert new.read() == old.read(), rel


def test_builds_without_tensorflow(tmp_path):
  result = testing.run_without_tensorflow("""
      import tensorflow_datasets as tfds
      from jaxgeo.data.raw import skips
      from tfds_builders.geo_testsets import geo_testsets_dataset_builder as gt

      manual_dir, data_dir = sys.argv[1:]
      builder = gt.Builder(config="im2gps3k", data_dir=data_dir, file_format="array_record")
      builder.download_and_prepare(
          download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
      source = builder.as_data_source()["test"]
      shapes = sorted(source[i]["image"].shape for i in range(len(source)))
      report = skips.read_report(builder.data_dir)["test"]
      print("built", len(source), report["kept"], report["skipped"]["no_label"], shapes[0])
      """, DUMMY, os.fspath(tmp_path / "data"), timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-2] == "built 5 5 2 (48, 64, 3)"
  assert "tensorflow imported: False" in result.stdout
