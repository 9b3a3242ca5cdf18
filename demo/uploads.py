"""Uploaded photos: read into memory, removed from disk, decoded upright, or refused with a message.

Gradio writes each upload to its cache folder before a handler sees it. The demo promises that
photos are never stored, so `UploadTaker.take` reads the bytes and deletes the file at once;
everything after that works on bytes in memory. Refusals are `UploadError`s whose text is shown
as is in the UI, so it names the file and says what to do, and never a server path.
"""

from __future__ import annotations

import collections
import io
import math
import os
import threading
import time
import warnings
from collections.abc import Callable

from PIL import Image, ImageOps

from jaxgeo.predict import photos

# Decompression-bomb guard: a small file can declare a huge canvas. 40 MP is above common phone
# cameras' default output (12-24 MP, 48-50 MP binned to 12) and far below what takes the
# server's memory (a 100 MP RGB image is 300 MB decoded).
MAX_PIXELS = 40_000_000
FORMATS = "JPEG, PNG, WebP, GIF, BMP, TIFF"
# The largest upload: above phone photos (3-12 MB; 48 MP HEIC/JPEG up to ~20 MB), below what
# many users uploading at once would hold in memory. In MiB, as Gradio counts "25mb".
MAX_UPLOAD_MB = 25
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB << 20


class UploadError(ValueError):
  """An upload that cannot be used; str() is the message for the user."""


def file_size(num_bytes: int, round_up: bool = False) -> str:
  """A size as people write it: `25 MB`, `3.2 MB`, `640 KB`, `90 bytes` (1 MB = 2**20 bytes,
  as Gradio's limit counts; not Gradio's own "25.0 Mb", which reads as megabits).

  Args:
    num_bytes: the size.
    round_up: to the tenth above, so that a file just over a limit never reads as the limit.
  """
  for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
    if num_bytes >= scale:
      value = num_bytes / scale
      if value >= 100:
        return f"{math.ceil(value) if round_up else round(value):,} {unit}"
      tenths = math.ceil(value * 10) if round_up else round(value * 10)
      return f"{tenths / 10:g} {unit}"
  return f"{num_bytes} bytes"


def size_limit_message(name: str, num_bytes: int) -> str:
  """What an upload over MAX_UPLOAD_BYTES is told (the app's upload limit says the same)."""
  return (f"{name}: the file is {file_size(num_bytes, round_up=True)}, over the upload limit of "
          f"{file_size(MAX_UPLOAD_BYTES)}. Upload a smaller copy (a phone's \"medium\" size is "
          "plenty; the model looks at a few hundred pixels anyway).")


def accepted_formats() -> str:
  """The formats to name in messages; HEIC where the plugin is installed (jaxgeo.predict.photos)."""
  return FORMATS + (", HEIC" if photos.HEIC_SUPPORTED else f" ({photos.HEIC_HINT})")


class UploadTaker:
  """Reads uploaded files into memory and deletes them, sharing one upload among its requests.

  Gradio stores an upload at `<cache>/<sha256 of its bytes>/<name>`, so users uploading the
  same photo at the same moment (or one user clicking twice) get the same path. The first
  request to take it deletes the file; the others get the bytes it read, kept in memory (never
  on disk) for `linger_s` seconds and at most `max_bytes` in all.
  """

  def __init__(self, linger_s: float = 120.0, max_bytes: int = 256 << 20):
    self.linger_s = linger_s
    self.max_bytes = max_bytes
    self._lock = threading.Lock()
    self._taken: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()

  def _forget_old(self, now: float) -> None:
    total = sum(len(data) for _, data in self._taken.values())
    while self._taken:
      path, (when, data) = next(iter(self._taken.items()))
      if now - when <= self.linger_s and total <= self.max_bytes:
        break
      del self._taken[path]
      total -= len(data)

  def take(self, path: str | os.PathLike, name: str,
           keep: Callable[[bytes], bool] = lambda data: False) -> bytes:
    """The bytes of an uploaded file, deleted from disk (with its folder, once empty) unless
    `keep(bytes)` says otherwise (the app keeps Gradio's copies of its own example photos).

    Raises:
      UploadError: the file is gone and no other request took it lately, or it cannot be read.
    """
    path = os.fspath(path)
    with self._lock:
      now = time.monotonic()
      self._forget_old(now)
      try:
        with open(path, "rb") as f:
          data = f.read()
      except FileNotFoundError:
        if path in self._taken:
          return self._taken[path][1]
        raise UploadError(f"{name}: the upload was gone before it could be read. Upload it "
                          "again.") from None
      except OSError:
        raise UploadError(f"{name}: the upload could not be read. Upload it again.") from None
      if not keep(data):
        _remove(path)
        self._taken[path] = (now, data)
        self._taken.move_to_end(path)
      return data


def _remove(path: str) -> None:
  """Deletes an upload and the folder Gradio made for it (named by its hash), once empty."""
  try:
    os.remove(path)
    os.rmdir(os.path.dirname(path))
  except OSError:  # gone already, or the folder holds another upload of the same bytes
    pass


def decode_photo(data: bytes, name: str) -> Image.Image:
  """An upright RGB image from uploaded bytes (EXIF orientation applied), fully decoded.

  Raises:
    UploadError: zero bytes, over MAX_UPLOAD_BYTES, not an image, over MAX_PIXELS, truncated or
      corrupt.
  """
  if not data:
    raise UploadError(f"{name}: the file is empty (0 bytes). Upload a photo "
                      f"({accepted_formats()}).")
  if len(data) > MAX_UPLOAD_BYTES:
    raise UploadError(size_limit_message(name, len(data)))
  try:
    with warnings.catch_warnings():  # The size is checked below, with a message for the user.
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      image = Image.open(io.BytesIO(data))
  except Image.DecompressionBombError:
    raise UploadError(f"{name}: the image is far too large to decode safely (decompression-"
                      f"bomb guard, limit {MAX_PIXELS / 1e6:.0f} megapixels). Resize it first."
                      ) from None
  except (OSError, SyntaxError, ValueError):
    if photos.is_heif(data) and not photos.HEIC_SUPPORTED:
      raise UploadError(f"{name}: a HEIC/HEIF photo, which this server cannot read yet. "
                        f"{photos.HEIC_HINT}, or upload it as JPEG.") from None
    raise UploadError(f"{name}: not an image this demo can read. Accepted: "
                      f"{accepted_formats()}.") from None
  pixels = image.width * image.height
  if pixels > MAX_PIXELS:
    raise UploadError(f"{name}: {image.width}x{image.height} is {pixels / 1e6:.0f} megapixels, "
                      f"over the limit of {MAX_PIXELS / 1e6:.0f} (decompression-bomb guard). "
                      "Resize it first; the model looks at a few hundred pixels anyway.")
  try:
    image.load()  # Decodes everything now, so truncated files fail here and not later.
    image = ImageOps.exif_transpose(image)
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    if photos.is_incomplete(data, e):  # the batch CLI's words (Pillow's miscount the loss)
      raise UploadError(f"{name}: {photos.INCOMPLETE}. Upload the complete file.") from None
    raise UploadError(f"{name}: the image is truncated or corrupt and cannot be decoded ({e}). "
                      "Upload the complete file.") from None
  if image.mode != "RGB":
    if image.mode in ("RGBA", "LA", "P", "PA"):  # transparent parts on white, not black
      image = image.convert("RGBA")
      background = Image.new("RGBA", image.size, (255, 255, 255, 255))
      image = Image.alpha_composite(background, image)
    image = image.convert("RGB")
  return image
