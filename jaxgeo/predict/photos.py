"""Photos in: decoding a path, bytes or PIL image upright in RGB, with its EXIF GPS position.

Bad files raise `jaxgeo.data.raw.images.BadImage` with a short reason and the photo's name, so the
batch CLI can report and skip them and the demo can show a message and keep serving.

HEIC/HEIF (what iPhones take by default) is read through the `pillow-heif` plugin when it is
installed (`pip install 'jaxgeo[heic]'`; kept optional because its wheels bundle LGPL/GPL
codecs). libheif turns the image upright while decoding and resets the EXIF orientation, so
HEIC photos come out upright like JPEGs; their EXIF GPS is read the same way. Without the
plugin a HEIC photo is refused with a message saying how to enable it.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jaxgeo.data.raw import images as images_lib

try:
  import pillow_heif  # pylint: disable=g-import-not-at-top
except ImportError:
  HEIC_SUPPORTED = False
else:
  pillow_heif.register_heif_opener()
  HEIC_SUPPORTED = True
HEIC_HINT = "HEIC/HEIF photos need the pillow-heif plugin: pip install 'jaxgeo[heic]'"
# ISO base media brands of HEIF still images (the `ftyp` box at byte 4).
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")

# What a file cut short is told, by the batch CLI and the demo alike. Pillow's own words ("image
# file is truncated (125 bytes not processed)") count the bytes left in its buffer, not the part
# of the file that is missing, and read as if almost all of it were there.
INCOMPLETE = "the file is incomplete: the image data ends early (a truncated or corrupt copy)"

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic",
                    ".heif")


@dataclasses.dataclass
class LoadedPhoto:
  """A decoded photo: upright RGB, and its EXIF GPS position if it has one."""
  name: str
  image: Image.Image
  gps: tuple[float, float] | None = None
  # The model's input crops, when prepared ahead of the batch (Predictor.prepare).
  crops: np.ndarray | None = None


Photo = Union[str, os.PathLike, bytes, Image.Image, LoadedPhoto]


def _dms_to_degrees(value) -> float:
  if isinstance(value, (tuple, list)):
    parts = [float(v) for v in value] + [0.0, 0.0]
    return parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
  return float(value)


def exif_gps(exif: Image.Exif) -> tuple[float, float] | None:
  """(latitude, longitude) in degrees from an EXIF GPS block; None if absent or unusable.

  (0, 0) is treated as absent: cameras without a fix often write it.
  """
  try:
    gps = exif.get_ifd(0x8825)  # GPSInfo
  except (KeyError, TypeError, ValueError, OSError):
    return None
  if not gps or 2 not in gps or 4 not in gps:
    return None
  try:
    lat, lon = _dms_to_degrees(gps[2]), _dms_to_degrees(gps[4])
  except (TypeError, ValueError, ZeroDivisionError):
    return None
  ref = lambda v: (v.decode("ascii", "ignore") if isinstance(v, bytes) else str(v)).strip().upper()
  if ref(gps.get(1, "N")) == "S":
    lat = -lat
  if ref(gps.get(3, "E")) == "W":
    lon = -lon
  if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
    return None
  if lat == 0 and lon == 0:
    return None
  return lat, lon


def is_heif(data: bytes) -> bool:
  """Whether the bytes start like a HEIF/HEIC (or AVIF) file, whatever the file is called."""
  return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def is_incomplete(data: bytes, error: BaseException) -> bool:
  """Whether decoding `data` failed because the file ends early (a download or copy cut short).

  Pillow says "image file is truncated" (JPEG, PNG, GIF, TIFF, BMP) or "Truncated File Read";
  WebP says only "could not create decoder object", but its RIFF header holds the full length.
  """
  if "truncated" in str(error).lower():
    return True
  return data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") + 8 > len(data)


def _to_rgb(image: Image.Image) -> Image.Image:
  if image.mode == "RGB":
    return image
  if image.mode in ("RGBA", "LA", "P", "PA"):  # composite transparency on white, as builders do
    image = image.convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
  return image.convert("RGB")


def load_photo(photo: Photo, name: str | None = None, min_side: int = 0) -> LoadedPhoto:
  """Decodes a photo (path, bytes or PIL image) upright in RGB, with its EXIF GPS.

  `min_side` lets JPEG decoding downscale (libjpeg's 1/2, 1/4, 1/8) while both sides stay at
  least that large, as evaluation's decoder does; 0 decodes at full size.

  Raises:
    images_lib.BadImage: with a short reason (`missing_image`, `unreadable_file`, `empty_image`,
      `not_an_image`, `heic_unsupported`, `corrupt_image`, `too_large_image`) and the photo's
      name.
  """
  if isinstance(photo, LoadedPhoto):
    return photo
  if isinstance(photo, Image.Image):
    name = name or "<image>"
    gps = exif_gps(photo.getexif())
    return LoadedPhoto(name, _to_rgb(ImageOps.exif_transpose(photo)), gps)
  if isinstance(photo, (bytes, bytearray, memoryview)):
    data, name = bytes(photo), name or "<bytes>"
  else:
    name = name or os.fspath(photo)
    try:
      with open(photo, "rb") as f:
        data = f.read()
    except FileNotFoundError:
      raise images_lib.BadImage("missing_image", f"{name} does not exist") from None
    except OSError as e:
      raise images_lib.BadImage("unreadable_file", f"{name} cannot be read ({e})") from None
  if not data:
    raise images_lib.BadImage("empty_image", f"{name} is empty (0 bytes)")
  try:
    image = Image.open(io.BytesIO(data))
    if image.width * image.height > images_lib.MAX_PIXELS:
      raise images_lib.BadImage(
          "too_large_image",
          f"{name} is {image.width}x{image.height}, over {images_lib.MAX_PIXELS:,} pixels")
    gps = exif_gps(image.getexif())
    if min_side and image.format == "JPEG":
      image.draft("RGB", (min_side, min_side))
    image.load()  # decodes everything now, so a truncated file is found here
    image = _to_rgb(ImageOps.exif_transpose(image))
  except images_lib.BadImage:
    raise
  except UnidentifiedImageError:
    if is_heif(data) and not HEIC_SUPPORTED:
      raise images_lib.BadImage("heic_unsupported", f"{name}: {HEIC_HINT}") from None
    raise images_lib.BadImage("not_an_image",
                              f"{name} is not an image Pillow can read") from None
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    if is_incomplete(data, e):  # the same reason: a cut file is one kind of corrupt file
      raise images_lib.BadImage("corrupt_image", f"{name}: {INCOMPLETE}") from None
    raise images_lib.BadImage("corrupt_image", f"{name} cannot be decoded ({e})") from None
  return LoadedPhoto(name, image, gps)

