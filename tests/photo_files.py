"""Photo files as phones write them, made on the fly for tests (test helper)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

HEIC_REASON = "HEIC tests need the heic extra: pip install 'jaxgeo[heic]'"


def heic_with_gps(lat: float, lon: float, orientation: int = 6) -> tuple[bytes, Image.Image]:
  """An iPhone-style HEIC: stored sideways with an EXIF orientation and a GPS block.

  Returns the file's bytes and the upright picture it must decode to. The picture has a red
  band along its top, so a photo left sideways (or turned the wrong way) is told apart.
  """
  pytest.importorskip("pillow_heif", reason=HEIC_REASON)
  upright = np.full((48, 64, 3), 200, np.uint8)
  upright[:12] = (220, 30, 30)
  upright = Image.fromarray(upright)
  # Orientation 6: the stored pixels must turn 90 degrees clockwise to stand upright.
  stored = upright.transpose(Image.Transpose.ROTATE_90) if orientation == 6 else upright

  def dms(x):
    x = abs(x)
    d, m = int(x), int((abs(x) - int(x)) * 60)
    return (float(d), float(m), round(((x - d) * 60 - m) * 60, 4))
  exif = Image.Exif()
  exif[0x0112] = orientation
  gps = exif.get_ifd(0x8825)
  gps[1], gps[2] = ("N" if lat >= 0 else "S"), dms(lat)
  gps[3], gps[4] = ("E" if lon >= 0 else "W"), dms(lon)
  out = io.BytesIO()
  stored.save(out, format="HEIF", exif=exif.tobytes(), quality=95)
  return out.getvalue(), upright
