"""Uploaded photos: read into memory, removed from disk, decoded upright, or refused with a message.

Gradio writes each upload to its cache folder before a handler sees it. The demo promises that
photos are never stored, so `take_upload` reads the bytes and deletes the file at once; everything
after that works on bytes in memory. Refusals are `UploadError`s whose text is shown as is in the
UI, so it names the file and says what to do.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable

from PIL import Image, ImageOps

# Decompression-bomb guard: a small file can declare a huge canvas. 40 MP is above common phone
# cameras' default output (12-24 MP, 48-50 MP binned to 12) and far below what takes the
# server's memory (a 100 MP RGB image is 300 MB decoded).
MAX_PIXELS = 40_000_000
MAX_FILES = 16
FORMATS = "JPEG, PNG, WebP, GIF, BMP, TIFF"

try:  # HEIC/HEIF (iPhone photos) only where the optional Pillow plugin is installed.
  import pillow_heif  # pylint: disable=g-import-not-at-top
  pillow_heif.register_heif_opener()
  HEIC = True
except ImportError:
  HEIC = False


class UploadError(ValueError):
  """An upload that cannot be used; str() is the message for the user."""


def accepted_formats() -> str:
  return FORMATS + (", HEIC" if HEIC else " (HEIC needs: pip install pillow-heif)")


def take_upload(path: str | os.PathLike, keep: Callable[[bytes], bool] = lambda data: False
                ) -> bytes:
  """The bytes of an uploaded file, which is deleted from disk before returning unless
  `keep(bytes)` says otherwise (the app keeps Gradio's copies of its own example photos)."""
  with open(path, "rb") as f:
    data = f.read()
  if not keep(data):
    try:
      os.remove(path)
    except OSError:
      pass
  return data


def decode_photo(data: bytes, name: str) -> Image.Image:
  """An upright RGB image from uploaded bytes (EXIF orientation applied), fully decoded.

  Raises:
    UploadError: zero bytes, not an image, over MAX_PIXELS, truncated or corrupt.
  """
  if not data:
    raise UploadError(f"{name}: the file is empty (0 bytes). Upload a photo ({accepted_formats()}).")
  try:
    with warnings.catch_warnings():  # The size is checked below, with a message for the user.
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      image = Image.open(io.BytesIO(data))
  except Image.DecompressionBombError:
    raise UploadError(f"{name}: the image is far too large to decode safely (decompression-bomb "
                      f"guard, limit {MAX_PIXELS / 1e6:.0f} megapixels). Resize it first.") from None
  except (OSError, SyntaxError, ValueError):
    raise UploadError(f"{name}: not an image this demo can read. Accepted: "
                      f"{accepted_formats()}.") from None
  pixels = image.width * image.height
  if pixels > MAX_PIXELS:
    raise UploadError(f"{name}: {image.width}x{image.height} is {pixels / 1e6:.0f} megapixels, over "
                      f"the limit of {MAX_PIXELS / 1e6:.0f} (decompression-bomb guard). Resize it "
                      "first; the model looks at a few hundred pixels anyway.")
  try:
    image.load()  # Decodes everything now, so truncated files fail here and not later.
    image = ImageOps.exif_transpose(image)
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise UploadError(f"{name}: the image is truncated or corrupt and cannot be decoded ({e}). "
                      "Upload the complete file.") from None
  if image.mode != "RGB":
    if image.mode in ("RGBA", "LA", "P", "PA"):  # transparent parts on white, not black
      image = image.convert("RGBA")
      background = Image.new("RGBA", image.size, (255, 255, 255, 255))
      image = Image.alpha_composite(background, image)
    image = image.convert("RGB")
  return image
