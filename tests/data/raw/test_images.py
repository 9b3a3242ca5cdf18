"""Photo normalization: what real collections hold, turned into upright RGB JPEGs or skipped."""

import io

import numpy as np
import pytest
from PIL import Image

from jaxgeo.data.raw import images


def _noise(mode, size=(80, 60), seed=0):
  channels = {"RGB": 3, "L": 1, "CMYK": 4, "RGBA": 4}[mode]
  pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), np.uint8)
  return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


def _encode(image, fmt, **kwargs):
  out = io.BytesIO()
  image.save(out, fmt, **kwargs)
  return out.getvalue()


def test_small_rgb_jpeg_is_kept_byte_for_byte():
  data = _encode(_noise("RGB"), "JPEG", quality=90)
  out, image = images.normalize_photo(data, max_size=320)
  assert out == data and image.size == (80, 60)


@pytest.mark.parametrize("mode,fmt", [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"),
                                      ("RGB", "GIF")])
def test_other_modes_and_formats_become_rgb_jpeg(mode, fmt):
  out, image = images.normalize_photo(_encode(_noise(mode), fmt), max_size=320)
  decoded = Image.open(io.BytesIO(out))
  assert decoded.format == "JPEG" and decoded.mode == "RGB" and decoded.size == (80, 60)


def test_shorter_side_scaled_down_never_up():
  big = _encode(_noise("RGB", size=(400, 300)), "JPEG")
  out, image = images.normalize_photo(big, max_size=150)
  assert Image.open(io.BytesIO(out)).size == (200, 150)
  out, image = images.normalize_photo(big, max_size=1000)
  assert out == big  # not upscaled, not re-encoded


def test_exif_orientation_is_applied():
  # A landscape 80x60 photo stored with "rotate 90 CW" (orientation 6) is a 60x80 portrait.
  exif = Image.Exif()
  exif[0x0112] = 6
  data = _encode(_noise("RGB"), "JPEG", exif=exif.tobytes())
  out, image = images.normalize_photo(data, max_size=320)
  assert image.size == (60, 80)
  decoded = Image.open(io.BytesIO(out))
  assert decoded.size == (60, 80) and decoded.getexif().get(0x0112, 1) == 1


def test_bad_files_are_reported_by_reason(tmp_path):
  data = _encode(_noise("RGB", size=(200, 150)), "JPEG")
  cases = {"empty_image": b"", "corrupt_image": data[:len(data) // 2],
           "corrupt_image ": b"\xff\xd8\xff" + bytes(2000)}
  for reason, blob in cases.items():
    with pytest.raises(images.BadImage) as e:
      images.normalize_photo(blob, name="photo.jpg")
    assert e.value.reason == reason.strip()
    assert "photo.jpg" in str(e.value)
  with pytest.raises(images.BadImage) as e:
    images.read_file(tmp_path / "nope.jpg")
  assert e.value.reason == "missing_image" and "nope.jpg" in e.value.detail


def test_decompression_bomb_is_refused(monkeypatch):
  monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
  with pytest.raises(images.BadImage) as e:
    images.normalize_photo(_encode(_noise("RGB", size=(200, 150)), "JPEG"))
  assert e.value.reason == "too_large_image"
