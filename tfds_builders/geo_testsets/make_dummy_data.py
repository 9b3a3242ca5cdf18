r"""Regenerates dummy_data/: a few Im2GPS, Im2GPS3k and YFCC4k records in their official formats.

The photos and good rows come from the project's toy world (jaxgeo.toy_world.generator, seeded, so
the output is byte-identical on every run); the bad records are made by hand here, one of each
kind the builder must skip, so that tests can assert exact skip counts:

  dummy_data/im2gps/    im2gps_places365.csv + images/   4 rows: 3 kept, 1 bad longitude (200).
      The 2018 variant of the file: its header says IMG_ID,AUTHOR,LON,LAT over latitudes then
      longitudes (Anchorage, Beijing, Moscow, London), as GeoEstimation's 2018 files do.
  dummy_data/im2gps3k/  im2gps3k_places365.csv + images/ 12 images, 13 rows: 5 kept; skipped:
      bad_coordinates (LAT 95), missing_coordinates (empty LAT/LON), missing_id (empty IMG_ID),
      duplicate_id, missing_image, corrupt_image (truncated JPEG), empty_image (0 bytes), and
      2 images without a row (no_label).
  dummy_data/yfcc4k/    yfcc4k_dataset (25 columns) + images in both layouts: 12 rows, 5 kept
      (2 in data/images/<h[:3]>/<h[3:6]>/<h>.jpg, 3 in images/<id>.jpg); skipped:
      malformed_row (a truncated first line), video, no_gps, bad_coordinates (lat 91.5),
      duplicate_id, missing_image, corrupt_image.

  python tfds_builders/geo_testsets/make_dummy_data.py
"""

from __future__ import annotations

import os
import shutil
import tempfile

from jaxgeo.data.raw import images, yfcc
from jaxgeo.toy_world import generator
from jaxgeo.toy_world.config import ToyWorldConfig
from jaxgeo.toy_world.formats.rows import PLACES365_HEADER, PLACES365_HEADER_2018

DUMMY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
_PLACES_HEADER = ",".join(PLACES365_HEADER)
_PLACES_HEADER_2018 = ",".join(PLACES365_HEADER_2018)
_LAT, _LON = 2, 3  # columns of the values of the places365 CSV (whatever the header says)
_YFCC_LON, _YFCC_LAT, _YFCC_MARKER = 12, 13, 24  # columns of the 25-column YFCC100M layout


def _toy_world(out: str, seed: int, num_test_photos: int, num_yfcc4k_photos: int) -> None:
  config = ToyWorldConfig(
      seed=seed, num_train_photos=1, num_test_photos=num_test_photos,
      num_yfcc4k_photos=num_yfcc4k_photos, image_size=48, num_landmarks=2,
      gldv2_train_per_landmark=1, gldv2_index_per_landmark=1, gldv2_test_photos=1,
      bad_fraction=0.0, mp16=False)
  generator.generate_toy_world(out, config, num_workers=1)


def _read_lines(path: str) -> list[str]:
  with open(path, encoding="utf-8") as f:
    return f.read().splitlines()


def _write_lines(path: str, lines: list[str]) -> None:
  with open(path, "w", encoding="utf-8", newline="\n") as f:
    f.write("".join(line + "\n" for line in lines))


def _truncate_jpeg(path: str) -> None:
  """Cuts the end off a JPEG (an interrupted download), keeping it over the 1 KB floor."""
  with open(path, "rb") as f:
    data = f.read()
  cut = data[:max(images.MIN_FILE_BYTES + 16, len(data) - 400)]
  assert len(cut) < len(data), f"{path} is too small to truncate"
  try:
    images.open_image(cut, path)
  except images.BadImage as e:
    assert e.reason == "corrupt_image", e
  else:
    raise AssertionError(f"Truncated {path} still decodes; cut more.")
  with open(path, "wb") as f:
    f.write(cut)


def _make_im2gps3k(world: str, out: str) -> None:
  shutil.copytree(os.path.join(world, "im2gps3k"), out)
  csv_path = os.path.join(out, "im2gps3k_places365.csv")
  lines = _read_lines(csv_path)
  assert lines[0] == _PLACES_HEADER_2018  # the toy world writes the 2018 variant
  rows = [line.split(",") for line in lines[1:]]
  assert len(rows) == 11, len(rows)  # 12 images, one without a row (as in the real CSV)
  image = lambda r: os.path.join(out, "images", rows[r][0])  # noqa: E731

  rows[2][_LAT] = "95.000000"  # bad_coordinates (its image stays: counted once, by its row)
  rows[3][_LAT] = rows[3][_LON] = ""  # missing_coordinates
  os.remove(image(4))  # missing_image
  _truncate_jpeg(image(5))  # corrupt_image
  open(image(6), "wb").close()  # empty_image
  unlabelled_row = rows[7]  # no_label: the image stays, its row goes
  duplicate = [rows[8][0], rows[8][1], "0.000000", "0.000000", *rows[8][4:]]  # duplicate_id
  missing_id = ["", *rows[9][1:]]  # missing_id
  kept_rows = [r for r in rows if r is not unlabelled_row] + [missing_id, duplicate]
  _write_lines(csv_path, [_PLACES_HEADER] + [",".join(r) for r in kept_rows])


def _make_im2gps(world: str, out: str) -> None:
  os.makedirs(os.path.join(out, "images"))
  lines = _read_lines(os.path.join(world, "im2gps3k", "im2gps3k_places365.csv"))
  rows = [line.split(",") for line in lines[1:]]
  assert len(rows) == 4, len(rows)
  for row in rows:  # Im2GPS labels all its images: the toy world's unlabelled one is left out.
    shutil.copy(os.path.join(world, "im2gps3k", "images", row[0]),
                os.path.join(out, "images", row[0]))
  rows[-1][_LON] = "200.000000"  # bad_coordinates
  _write_lines(os.path.join(out, "im2gps_places365.csv"),
               [_PLACES_HEADER_2018] + [",".join(r) for r in rows])


def _make_yfcc4k(world: str, out: str) -> None:
  shutil.copytree(os.path.join(world, "yfcc4k"), out)
  meta = os.path.join(out, "yfcc4k_dataset")
  rows = [line.split("\t") for line in _read_lines(meta)]
  assert len(rows) == 10 and all(len(r) == 25 for r in rows)
  flat = lambda r: os.path.join(out, "images", f"{rows[r][1]}.jpg")  # noqa: E731

  for r in (0, 1):  # Multimedia Commons layout, keyed by the photo hash (column 2)
    target = yfcc.image_path(os.path.join(out, "data", "images"), rows[r][2])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(flat(r), target)
  _truncate_jpeg(flat(3))  # corrupt_image
  os.remove(flat(4))  # missing_image
  rows[5][_YFCC_MARKER] = "1"  # video
  rows[6][_YFCC_LAT] = rows[6][_YFCC_LON] = ""  # no_gps
  rows[7][_YFCC_LAT] = "91.500000"  # bad_coordinates
  for r in (5, 6, 7):
    os.remove(flat(r))
  truncated = rows[9][:10]  # malformed_row: a line cut short, first in the file
  lines = ["\t".join(truncated)] + ["\t".join(r) for r in rows] + ["\t".join(rows[0])]
  _write_lines(meta, lines)  # ... and the last line repeats the first photo: duplicate_id


def make_dummy_data(out_dir: str = DUMMY_DIR) -> None:
  """Writes dummy_data/ from scratch (deleting an earlier copy)."""
  if os.path.isdir(out_dir):
    shutil.rmtree(out_dir)
  os.makedirs(out_dir)
  with tempfile.TemporaryDirectory() as tmp:
    world_a, world_b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    _toy_world(world_a, seed=0, num_test_photos=12, num_yfcc4k_photos=10)
    # Seed 8: photos in Anchorage and Beijing, so the values show which column holds the
    # longitudes (|lon| > 90; seed 1's were all near 0 E), and two portrait photos.
    _toy_world(world_b, seed=8, num_test_photos=5, num_yfcc4k_photos=1)
    _make_im2gps3k(world_a, os.path.join(out_dir, "im2gps3k"))
    _make_yfcc4k(world_a, os.path.join(out_dir, "yfcc4k"))
    _make_im2gps(world_b, os.path.join(out_dir, "im2gps"))
  total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_dir) for f in fs)
  print(f"Wrote {out_dir} ({total / 1024:.1f} KiB)")


if __name__ == "__main__":
  make_dummy_data()
