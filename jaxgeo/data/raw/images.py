"""Reading the photos of raw data sets into clean, size-capped JPEG bytes.

Real photo collections hold empty files, truncated downloads, CMYK and greyscale JPEGs, PNGs and
GIFs saved as .jpg, and phone photos whose pixels are stored sideways with an EXIF orientation.
Builders store every photo as an RGB JPEG, upright, with its shorter side at most `max_size`
pixels (never upscaled), and skip what cannot be read with a reason that is counted.
"""

from __future__ import annotations

import io
import os

from PIL import Image, ImageOps

# Files this small are placeholders or failed downloads, not photos (the Multimedia Commons copy
# of YFCC100M has such files: < 1 KB).
MIN_FILE_BYTES = 1024
DEFAULT_MAX_SIZE = 320
JPEG_QUALITY = 90
# Decompression-bomb guard: larger images are refused rather than decoded.
MAX_PIXELS = 150_000_000


class BadImage(ValueError):
  """A photo that cannot be used; `reason` is a short key for skip counters."""

  def __init__(self, reason: str, detail: str):
    # Both in args, so the error survives pickling (Beam workers, process pools).
    super().__init__(reason, detail)
    self.reason = reason
    self.detail = detail

  def __str__(self) -> str:
    return f"{self.reason}: {self.detail}"


def read_file(path: str | os.PathLike) -> bytes:
  """The bytes of an image file, or BadImage('missing_image' / 'empty_image')."""
  try:
    with open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    raise BadImage("missing_image", f"{path} does not exist") from None
  if len(data) < MIN_FILE_BYTES:
    raise BadImage("empty_image", f"{path} has {len(data)} bytes (< {MIN_FILE_BYTES})")
  return data


def open_image(data: bytes, name: str = "<bytes>") -> Image.Image:
  """Decodes fully (so truncation is found now), upright, in RGB."""
  if len(data) < MIN_FILE_BYTES:
    raise BadImage("empty_image", f"{name} has {len(data)} bytes (< {MIN_FILE_BYTES})")
  try:
    image = Image.open(io.BytesIO(data))
    if image.width * image.height > MAX_PIXELS:
      raise BadImage("too_large_image",
                     f"{name} is {image.width}x{image.height}, over {MAX_PIXELS:,} pixels")
    image.load()
    image = ImageOps.exif_transpose(image)
  except BadImage:
    raise
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise BadImage("corrupt_image", f"{name} cannot be decoded ({e})") from None
  if image.mode != "RGB":
    # Palette/alpha images (GIF, PNG) are composited on white rather than on black.
    if image.mode in ("RGBA", "LA", "P", "PA"):
      image = image.convert("RGBA")
      background = Image.new("RGBA", image.size, (255, 255, 255, 255))
      image = Image.alpha_composite(background, image)
    image = image.convert("RGB")
  return image


def resize_shorter_side(image: Image.Image, max_size: int) -> Image.Image:
  """Scales so the shorter side is `max_size`, only ever down (0 keeps the size)."""
  shorter = min(image.size)
  if max_size <= 0 or shorter <= max_size:
    return image
  scale = max_size / shorter
  size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
  return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def to_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
  out = io.BytesIO()
  image.save(out, format="JPEG", quality=quality)
  return out.getvalue()


def normalize_photo(data: bytes, max_size: int = DEFAULT_MAX_SIZE, name: str = "<bytes>",
                    quality: int = JPEG_QUALITY) -> tuple[bytes, Image.Image]:
  """Upright RGB JPEG bytes with the shorter side <= max_size, and the decoded image.

  A JPEG that is already RGB, upright and small enough is kept byte for byte, so building never
  loses quality to a needless re-encode.
  """
  image = open_image(data, name)
  resized = resize_shorter_side(image, max_size)
  with Image.open(io.BytesIO(data)) as original:
    unchanged = (original.format == "JPEG" and original.mode == "RGB"
                 and resized is image and original.getexif().get(0x0112, 1) == 1)
  return (data if unchanged else to_jpeg(resized, quality)), resized
