r"""Regenerates dummy_data/: a few YFCC100M and MP-16 records in their official raw formats.

  python tfds_builders/yfcc100m_geo/make_dummy_data.py

The records come from a tiny toy world (jaxgeo.toy_world.generator: 12 good photos and one bad
row of each kind: no GPS, out-of-range coordinates, video, missing, empty and corrupt image), plus
hand-made cases the toy world does not make: a second metadata part compressed with bz2 holding a
duplicated photo, a CMYK JPEG and a PNG saved as .jpg (both converted, not skipped); for MP-16, a
meta row with bad coordinates and a shard record whose id has no meta row.
"""

import bz2
import io
import os
import shutil
import tempfile

import msgpack
import numpy as np
from PIL import Image

from jaxgeo.data.raw import images, yfcc
from jaxgeo.toy_world import generator
from jaxgeo.toy_world.config import ToyWorldConfig

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dummy_data")


def _noise(mode: str, channels: int, seed: int) -> Image.Image:
  # Noise, so the files are well over the 1 KB below which builders treat a file as empty.
  pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, channels), dtype=np.uint8)
  return Image.fromarray(pixels, mode)


def _jpeg_cmyk() -> bytes:
  out = io.BytesIO()
  _noise("CMYK", 4, 1).save(out, "JPEG", quality=95)
  return out.getvalue()


def _png() -> bytes:
  out = io.BytesIO()
  _noise("RGBA", 4, 2).save(out, "PNG")
  return out.getvalue()


def _is_good(line: str) -> bool:
  """A row with valid coordinates whose image exists and is a real JPEG."""
  try:
    record = yfcc.parse_line(line, 25)
  except yfcc.BadRecord:
    return False
  try:
    images.open_image(images.read_file(
        yfcc.image_path(os.path.join(OUT, "data", "images"), record.photo_hash)))
  except images.BadImage:
    return False
  return True


def _extra_rows(template: str) -> tuple[list[str], dict[str, bytes]]:
  """Rows for the bz2 part: a duplicate of the template's photo, a CMYK and a PNG photo."""
  fields = template.rstrip("\n").split("\t")
  rows, images = ["\t".join(fields)], {}  # duplicate photo id
  for offset, (name, data) in enumerate((("cmyk", _jpeg_cmyk()), ("png", _png())), start=1):
    f = list(fields)
    f[0] = str(int(f[0]) + 1000 + offset)
    f[1] = str(9_000_000_000 + offset)
    f[8] = f"dummy+{name}+photo"
    f[16] = f"http://farm1.staticflickr.com/1/{f[1]}_abcdef{offset}.jpg"
    f[2] = yfcc.photo_hash_of_url(f[16])
    rows.append("\t".join(f))
    images[f[2]] = data
  return rows, images


def main() -> None:
  with tempfile.TemporaryDirectory() as tmp:
    world = os.path.join(tmp, "world")
    generator.generate_toy_world(world, ToyWorldConfig(
        num_train_photos=12, num_test_photos=2, num_yfcc4k_photos=2, num_landmarks=2,
        image_size=48, gldv2_train_per_landmark=2, gldv2_index_per_landmark=1,
        gldv2_test_photos=2), num_workers=1)
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.copytree(os.path.join(world, "yfcc100m"), OUT)
    # YFCC100M: a second part, bz2-compressed as the real parts are.
    first_good = next(line for line in open(os.path.join(OUT, "yfcc100m_dataset"))
                      if _is_good(line))
    rows, images = _extra_rows(first_good)
    with bz2.open(os.path.join(OUT, "yfcc100m_dataset_part2.bz2"), "wt") as f:
      f.write("\n".join(rows) + "\n")
    for photo_hash, data in images.items():
      path = yfcc.image_path(os.path.join(OUT, "data", "images"), photo_hash)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, "wb") as f:
        f.write(data)
    # MP-16: meta CSV with one bad row, shards with one record that has no meta row.
    with open(os.path.join(world, "mp16", "mp16_places365.csv")) as f:
      meta = f.read().splitlines()
    bad = meta[1].split(",")
    # 195.5: bad, and beyond any longitude, so the values still show which column holds what.
    bad[0], bad[2] = "00/00/1234.jpg", "195.5"
    with open(os.path.join(OUT, "mp16_places365.csv"), "w") as f:
      f.write("\n".join(meta + [",".join(bad)]) + "\n")
    os.makedirs(os.path.join(OUT, "shards"))
    with open(os.path.join(world, "mp16", "shards", "shard_0.msg"), "rb") as f:
      records = list(msgpack.Unpacker(f, raw=False))
    records.append({"image": records[0]["image"], "id": "ff/ff/5555.jpg"})
    with open(os.path.join(OUT, "shards", "shard_0.msg"), "wb") as f:
      for record in records:
        f.write(msgpack.packb(record, use_bin_type=True))
  print(f"Wrote {OUT}")


if __name__ == "__main__":
  main()
