"""Uploads as Gradio hands them to the handlers: files in its cache, each read once and deleted.

uploads.py works on the bytes; this module finds them. Gradio gives handlers paths in its cache
folder (gradio_env.CACHE), and every one of them must be gone once the handler is done, read or
not, except Gradio's copies of the example photos, which the next click on an example needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
from collections.abc import Sequence

import gradio as gr
from absl import logging

from demo import gradio_env, uploads

# The toy-world example photos (the Library tab's button): kept in the cache when read.
EXAMPLES = pathlib.Path(__file__).resolve().parent / "examples"
_EXAMPLE_DIGESTS = frozenset(hashlib.sha256(p.read_bytes()).digest()
                             for p in EXAMPLES.glob("*.jpg"))
_TAKER = uploads.UploadTaker()


def paths_only(payload: gr.data_classes.FileData | gr.data_classes.ListFiles | None
               ) -> list[str] | None:
  """The uploads' paths: what gr.File.preprocess hands a handler, without its side effect.

  gr.File.preprocess (Gradio 6.31) leaves an empty temporary file in the cache for every file of
  every request. It is replaced on the one component instance (a gr.File subclass would make
  Gradio write a `.pyi` stub next to this file).
  """
  if payload is None:
    return None
  files = payload.root if isinstance(payload, gr.data_classes.ListFiles) else [payload]
  return [f.path for f in files]


def paths(files: Sequence | None) -> list[tuple[str, str]]:
  """(path, shown name) of each upload; Gradio hands paths, or objects with a .name path."""
  out = []
  for f in files or []:
    path = f if isinstance(f, str) else getattr(f, "name", None) or f["path"]
    out.append((path, os.path.basename(path)))
  return out


def _in_cache(path: str) -> bool:
  return os.path.realpath(path).startswith(os.path.realpath(gradio_env.CACHE) + os.sep)


def read(path: str, name: str) -> bytes:
  """The bytes of an upload. Uploads (files in our Gradio cache) are deleted once read, except
  Gradio's copies of the example photos, which the next click on an example needs.

  Raises:
    uploads.UploadError: with a message for the user (no server path).
  """
  if _in_cache(path):
    return _TAKER.take(path, name, keep=lambda data: hashlib.sha256(data).digest()
                       in _EXAMPLE_DIGESTS)
  try:
    with open(path, "rb") as f:  # an example photo of the repository
      return f.read()
  except OSError:
    logging.exception("Reading %s failed", path)
    raise uploads.UploadError(f"{name}: could not be read.") from None


def discard(path: str) -> None:
  """Deletes an upload that was never read (the handler stopped early); not example photos."""
  if _in_cache(path) and os.path.exists(path):
    with contextlib.suppress(OSError, uploads.UploadError):
      read(path, os.path.basename(path))
