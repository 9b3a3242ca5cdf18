"""What the batch CLI reads: files, folders, file lists and built TFDS splits, as one stream.

Listing never reads a photo and never holds the whole collection: folders are walked one folder
at a time (each sorted by name), file lists are read line by line and a split is a range of row
numbers. Each input is a *reference*, small enough to be written to the run's plan (a path, or a
split and a row) and read back, by any process, when its shard is predicted.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, Union

import numpy as np

from jaxgeo.data import pipeline
from jaxgeo.predict.photos import PHOTO_EXTENSIONS

TFDS_PREFIX = "tfds:"

Ref = Union[str, tuple[str, int]]  # a path, or ("tfds:name:split", row)


@dataclasses.dataclass
class Input:
  """One photo to predict: its name in the outputs, the photo (a path or JPEG bytes) and the
  true place when a data set's label gives it."""
  name: str
  photo: Any
  truth: tuple[float, float] | None = None

  @property
  def path(self) -> str | None:
    """The photo's file (for an XMP sidecar beside it); None for a data set's row."""
    return self.photo if isinstance(self.photo, str) else None


def _walk(root: str) -> Iterator[str]:
  for folder, dirs, files in os.walk(root):
    dirs.sort()
    for f in sorted(files):
      if f.lower().endswith(PHOTO_EXTENSIONS):
        yield os.path.join(folder, f)


def _split_spec(spec: str) -> tuple[str, str]:
  """(name, split) of a `tfds:name[:split]` input (the test split by default)."""
  return pipeline.parse_dataset(spec[len(TFDS_PREFIX):])


def example_id(example: dict[str, Any], row: int) -> str:
  """A data set example's photo id (its row number if it has none), as outputs name it."""
  key = next((k for k in pipeline.ID_KEYS if k in example), None)
  ident = example[key] if key else str(row)
  return ident.decode() if isinstance(ident, bytes) else str(ident)


def list_file_paths(path: str) -> Iterator[str]:
  """The paths of a file list: one per line, as written (relative ones to the current folder);
  blank lines are skipped."""
  try:
    f = open(path, encoding="utf-8")
  except OSError as e:
    raise ValueError(f"The input list {path} cannot be read ({e}).") from None
  with f:
    for line in f:
      line = line.rstrip("\r\n")
      if line.strip():
        yield line


def iter_refs(specs: Sequence[str], data_dir: str | None,
              input_lists: Sequence[str] = ()) -> Iterator[Ref]:
  """Every input of `specs` (files, folders, `tfds:name:split`) and then of the file lists.

  A named file is taken whatever its extension (it is reported if it is not a photo); a missing
  path is passed on so that it is reported, not silently dropped.
  """
  for spec in specs:
    if spec.startswith(TFDS_PREFIX):
      if not data_dir:
        raise ValueError(f"{spec}: a built split needs a data dir (the run's <workdir>/tfds).")
      name, split = _split_spec(spec)
      rows = len(pipeline.open_split(name, split, data_dir))
      yield from ((f"{TFDS_PREFIX}{name}:{split}", row) for row in range(rows))
    elif os.path.isdir(spec):
      yield from _walk(spec)
    else:
      yield spec
  for path in input_lists:
    yield from list_file_paths(path)


def encode_ref(ref: Ref) -> str:
  """One line of a plan's input list (JSON: any path, even with newlines, stays one line)."""
  return json.dumps(ref if isinstance(ref, str) else list(ref), ensure_ascii=False)


def decode_ref(line: str) -> Ref:
  value = json.loads(line)
  return value if isinstance(value, str) else (str(value[0]), int(value[1]))


class InputReader:
  """Turns references back into inputs: paths as they are, split rows read from the split
  (opened once each). Thread-safe for reads, as the decode threads need."""

  def __init__(self, data_dir: str | None):
    self.data_dir = data_dir
    self._splits: dict[str, Any] = {}

  def _split(self, spec: str):
    if spec not in self._splits:
      if not self.data_dir:
        raise ValueError(f"{spec}: a built split needs a data dir (the run's <workdir>/tfds).")
      self._splits[spec] = pipeline.open_split(*_split_spec(spec), self.data_dir)
    return self._splits[spec]

  def prepare(self, refs: Sequence[Ref]) -> None:
    """Opens the splits of `refs` now, in this thread, before the decode threads need them."""
    for ref in refs:
      if not isinstance(ref, str):
        self._split(ref[0])

  def read(self, ref: Ref) -> Input:
    if isinstance(ref, str):
      return Input(ref, ref)
    spec, row = ref
    example = self._split(spec)[row]
    ident = example_id(example, row)
    lat, lon = example.get("latitude"), example.get("longitude")
    truth = ((float(lat), float(lon)) if lat is not None and lon is not None
             and np.isfinite(lat) and np.isfinite(lon) else None)
    return Input(f"{_split_spec(spec)[0]}/{ident}", example["image"], truth)
