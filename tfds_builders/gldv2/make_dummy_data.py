"""Regenerates `dummy_data/`: a tiny Google Landmarks v2 in the official raw layout.

  python tfds_builders/gldv2/make_dummy_data.py

Step 1 writes a toy world with jaxgeo.toy_world.generator (5 landmarks: 20 train images, 16 of them
in GLDv2-clean; 10 index and 8 test images; 48 px) and copies its `gldv2/` folder. Step 2 adds
hand-made bad records in the official format, so the tests can check every skip reason:

  train/images_001.tar, train.csv, train_clean.csv:
    CORRUPT_ID     a truncated JPEG (corrupt_image), listed in train.csv and train_clean.csv
    EMPTY_ID       a 0-byte member (empty_image), listed in both
    MISSING_ID     listed in both, in no tar (missing_image)
    NOT_IN_CSV_ID  a good JPEG in the tar, in no CSV (not_in_csv)
    DUPLICATE_ID   an id of images_000.tar again, with other pixels (duplicate_id)
    MALFORMED_ID   a train.csv row whose landmark_id is not a number (malformed_row)
    a repeat of the train.csv row of REPEATED_ROW_ID (duplicate_id)
    folder entries a/, a/b/ ... as real tars may hold (ignored)
  index/images_001.tar is cut inside TRUNCATED_INDEX_ID (corrupt_tar, then missing_image);
  index/images_002.tar holds UNMAPPED_INDEX_ID, in index.csv but not in
  index_image_to_landmark.csv (kept, landmark_id -1).
  test/images_001.tar holds IGNORED_TEST_ID (solution rows ",Ignored" and "None,Ignored", as v2.1
  writes ignored images) and NO_SOLUTION_TEST_ID (in test.csv, in no solution: no_solution).

The output is byte-identical on every run.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile

from jaxgeo.toy_world import generator
from jaxgeo.toy_world.config import ToyWorldConfig

DUMMY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
TOY_CONFIG = ToyWorldConfig(
    seed=0, num_train_photos=20, num_test_photos=1, num_yfcc4k_photos=1, image_size=48,
    num_landmarks=5, gldv2_train_per_landmark=4, gldv2_index_per_landmark=2,
    gldv2_test_photos=8, gldv2_ignored_fraction=0.0, bad_fraction=0.0, mp16=False)

CORRUPT_ID = "c0ffee0000000001"
EMPTY_ID = "e0e0e0e000000002"
MISSING_ID = "deadbeef00000003"
NOT_IN_CSV_ID = "0dd0dd0000000004"
MALFORMED_ID = "badbadbad0000005"
DUPLICATE_ID = "29530cf9790d9e03"  # a train_clean image of the toy world (Eiffel Tower)
REPEATED_ROW_ID = "5375853e054bbd20"  # a train.csv image of the landmark left out of train_clean
TRUNCATED_INDEX_ID = "1dea000000000006"
UNMAPPED_INDEX_ID = "a11ce00000000007"
IGNORED_TEST_ID = "1900e00000000008"
NO_SOLUTION_TEST_ID = "50101100000000a9"
# The train_clean landmark the hand-made train ids join (its train.csv landmark too).
BAD_IDS_LANDMARK = 115331
_TAR_MTIME = 1_546_300_800


def _member_name(image_id: str) -> str:
  return f"{image_id[0]}/{image_id[1]}/{image_id[2]}/{image_id}.jpg"


def _tar_bytes(members: list[tuple[str, bytes | None]]) -> bytes:
  """A USTAR tar with fixed metadata; None data makes a folder entry."""
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    for name, data in members:
      info = tarfile.TarInfo(name)
      info.mtime, info.uid, info.gid, info.uname, info.gname = _TAR_MTIME, 0, 0, "", ""
      if data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
      else:
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
  return buf.getvalue()


def _read_tar(path: str) -> dict[str, bytes]:
  with tarfile.open(path) as tar:
    return {os.path.basename(m.name)[:-4]: tar.extractfile(m).read()
            for m in tar.getmembers() if m.isfile()}


def _append_lines(path: str, lines: list[str]) -> None:
  with open(path, "a", encoding="utf-8") as f:
    f.writelines(line + "\n" for line in lines)


def _write(path: str, data: bytes) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data)


def make_dummy_data(out_dir: str = DUMMY_DIR) -> None:
  """Writes the dummy data to out_dir (replacing an earlier copy)."""
  with tempfile.TemporaryDirectory() as tmp:
    generator.generate_toy_world(tmp, TOY_CONFIG, num_workers=1)
    if os.path.isdir(out_dir):
      shutil.rmtree(out_dir)
    shutil.copytree(os.path.join(tmp, "gldv2"), out_dir)

  train = _read_tar(os.path.join(out_dir, "train", "images_000.tar"))
  test = _read_tar(os.path.join(out_dir, "test", "images_000.tar"))
  some_jpeg, other_jpeg = train[sorted(train)[0]], test[sorted(test)[0]]
  assert DUPLICATE_ID in train and len(some_jpeg) > 1100, "the toy world changed"

  # train: the bad members, in a second tar after the good one.
  _write(os.path.join(out_dir, "train", "images_001.tar"), _tar_bytes([
      ("c/", None), ("c/0/", None), ("c/0/f/", None),
      (_member_name(CORRUPT_ID), some_jpeg[:1100]),  # over 1 KB, so "corrupt", not "empty"
      (_member_name(EMPTY_ID), b""),
      (_member_name(NOT_IN_CSV_ID), other_jpeg),
      (_member_name(DUPLICATE_ID), other_jpeg),
      (_member_name(MALFORMED_ID), some_jpeg),
  ]))
  url = "https://upload.wikimedia.org/wikipedia/commons/0/00/Dummy.jpg"
  with open(os.path.join(out_dir, "train.csv"), encoding="utf-8") as f:
    repeated = next(line.strip() for line in f if line.startswith(REPEATED_ROW_ID))
  _append_lines(os.path.join(out_dir, "train.csv"), [
      f"{CORRUPT_ID},{url},{BAD_IDS_LANDMARK}",
      f"{EMPTY_ID},{url},{BAD_IDS_LANDMARK}",
      f"{MISSING_ID},{url},{BAD_IDS_LANDMARK}",
      f"{MALFORMED_ID},{url},not_a_number",
      repeated,
  ])
  clean_path = os.path.join(out_dir, "train_clean.csv")
  with open(clean_path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  lines = [line + f" {CORRUPT_ID} {EMPTY_ID} {MISSING_ID}"
           if line.startswith(f"{BAD_IDS_LANDMARK},") else line for line in lines]
  with open(clean_path, "w", encoding="utf-8") as f:
    f.writelines(line + "\n" for line in lines)

  # index: a tar cut inside its only member's data, then a good tar.
  cut = _tar_bytes([(_member_name(TRUNCATED_INDEX_ID), some_jpeg)])[:512 + 700]
  _write(os.path.join(out_dir, "index", "images_001.tar"), cut)
  _write(os.path.join(out_dir, "index", "images_002.tar"),
         _tar_bytes([(_member_name(UNMAPPED_INDEX_ID), other_jpeg)]))
  _append_lines(os.path.join(out_dir, "index.csv"), [TRUNCATED_INDEX_ID, UNMAPPED_INDEX_ID])
  _append_lines(os.path.join(out_dir, "index_image_to_landmark.csv"),
                [f"{TRUNCATED_INDEX_ID},92113"])

  # test: an image ignored in scoring (v2.1 style), and one without solution rows.
  _write(os.path.join(out_dir, "test", "images_001.tar"), _tar_bytes([
      (_member_name(IGNORED_TEST_ID), some_jpeg), (_member_name(NO_SOLUTION_TEST_ID), some_jpeg)]))
  _append_lines(os.path.join(out_dir, "test.csv"), [IGNORED_TEST_ID, NO_SOLUTION_TEST_ID])
  _append_lines(os.path.join(out_dir, "recognition_solution_v2.1.csv"),
                [f"{IGNORED_TEST_ID},,Ignored"])
  _append_lines(os.path.join(out_dir, "retrieval_solution_v2.1.csv"),
                [f"{IGNORED_TEST_ID},None,Ignored"])


if __name__ == "__main__":
  make_dummy_data()
  total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(DUMMY_DIR) for f in fs)
  print(f"Wrote {DUMMY_DIR} ({total / 1024:.0f} KiB)")
