"""Decoding photos (jaxgeo.predict.photos): HEIC/HEIF as iPhones write them, with and without
the plugin."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jaxgeo.data.raw import images as images_lib
from jaxgeo.predict import photos
from tests.photo_files import heic_with_gps

def test_heic_decodes_upright_with_its_gps():
  data, upright = heic_with_gps(51.5007, -0.1246)  # Big Ben
  assert photos.is_heif(data) and not photos.is_heif(b"\xff\xd8\xff\xe0" + b"\0" * 20)
  loaded = photos.load_photo(data, name="IMG_0001.HEIC")
  assert loaded.image.mode == "RGB" and loaded.image.size == upright.size == (64, 48)
  pixels = np.asarray(loaded.image).astype(int)
  # The red band is on top again (HEVC is lossy: colours within a few levels).
  assert np.all(np.abs(pixels[:10].mean((0, 1)) - (220, 30, 30)) < 12)
  assert np.all(np.abs(pixels[16:].mean((0, 1)) - 200) < 12)
  assert loaded.gps == (pytest.approx(51.5007, abs=1e-4), pytest.approx(-0.1246, abs=1e-4))


def test_heic_from_a_path_and_as_a_file_of_any_name(tmp_path):
  data, _ = heic_with_gps(-33.8568, 151.2153)  # Sydney Opera House
  path = tmp_path / "IMG_0002.heic"
  path.write_bytes(data)
  assert path.suffix in photos.PHOTO_EXTENSIONS
  loaded = photos.load_photo(path)
  assert loaded.name == str(path) and loaded.image.size == (64, 48)
  assert loaded.gps[0] == pytest.approx(-33.8568, abs=1e-4)


def test_without_the_plugin_heic_is_refused_with_how_to_enable_it(tmp_path):
  data, _ = heic_with_gps(48.8584, 2.2945)
  path = tmp_path / "IMG_0003.HEIC"
  path.write_bytes(data)
  code = textwrap.dedent("""
      import sys
      sys.modules["pillow_heif"] = None  # as if the heic extra were not installed
      from jaxgeo.predict import photos
      from jaxgeo.data.raw.images import BadImage
      assert not photos.HEIC_SUPPORTED
      try:
        photos.load_photo(sys.argv[1])
      except BadImage as e:
        print(e.reason, "|", e.detail)
      """)
  result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  reason, detail = result.stdout.strip().split(" | ")
  assert reason == "heic_unsupported"
  assert detail == (f"{path}: HEIC/HEIF photos need the pillow-heif plugin: "
                    "pip install 'jaxgeo[heic]'")
  with pytest.raises(images_lib.BadImage) as e:  # a real non-image still says so
    photos.load_photo(b"not a photo at all" * 10, name="notes.heic")
  assert e.value.reason == "not_an_image"


def test_a_photo_cut_at_a_third_is_called_incomplete_in_the_demos_words():
  # Pillow says "N bytes not processed" while two thirds of the file were missing.
  import io  # pylint: disable=g-import-not-at-top
  import pathlib  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  jpeg = (pathlib.Path(__file__).resolve().parents[2] / "demo" / "examples" /
          "tokyo.jpg").read_bytes()
  out = io.BytesIO()
  Image.open(io.BytesIO(jpeg)).save(out, format="WEBP")
  webp = out.getvalue()
  for name, data in (("IMG_2041.jpg", jpeg), ("IMG_2042.webp", webp)):
    with pytest.raises(images_lib.BadImage) as e:
      photos.load_photo(data[:len(data) // 3], name=name)
    assert e.value.reason == "corrupt_image"  # the reason counted in the CLI's report stays
    assert e.value.detail == (f"{name}: the file is incomplete: the image data ends early "
                              "(a truncated or corrupt copy)")
  # A file that is all there but broken keeps Pillow's reason.
  broken = b"\xff\xd8\xff" + bytes(2000)
  assert not photos.is_incomplete(broken, OSError("cannot identify image file"))
