"""Every file and folder of a run, named once, local or in a bucket alike.

A run's outputs are read back by the evaluator, LocSens, the Predictor and the demo; naming each
file here keeps them all reading what the trainer wrote. Paths are `etils.epath` paths (the layer
TFDS and orbax use), so a workdir or data dir `gs://bucket/runs/x` (big_vision's convention on TPU
pods) works like `runs/x`: every read and write of a run goes through them.

Stage 1 (geolocation) owns the workdir; stage 2 (LocSens) has the same kind of folder,
`<workdir>/locsens`, with its own config, checkpoints, metrics and results.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import numpy as np
from etils import epath

from jaxgeo.data import landmark_ids


PathLike = str | os.PathLike | epath.Path


def is_remote(path: PathLike) -> bool:
  """A bucket path (`gs://...`, `s3://...`) rather than a local one."""
  return "://" in str(path)


def open_for_append(path: epath.Path) -> IO[str]:
  """A text file to append lines to: a resumed run continues its log and metrics.

  Buckets have no append: the old content is written again first (logs and metrics are small).
  """
  if not is_remote(path):
    return path.open("a")
  old = path.read_text() if path.exists() else ""
  f = path.open("w")
  f.write(old)
  return f


def write_json(path: epath.Path, value: Any) -> None:
  path.write_text(json.dumps(value, indent=2))


def read_json(path: epath.Path) -> Any:
  return json.loads(path.read_text())


def save_npy(path: epath.Path, array: np.ndarray) -> None:
  with path.open("wb") as f:
    np.save(f, array)


def load_npy(path: epath.Path) -> np.ndarray:
  with path.open("rb") as f:
    return np.load(f)


class Workdir:
  """The folder of one run (`Workdir(root)`); its stage-2 folder is `.locsens`."""

  def __init__(self, root: "PathLike | Workdir"):
    self.root = root.root if isinstance(root, Workdir) else epath.Path(root)

  def __str__(self) -> str:
    return str(self.root)

  def __repr__(self) -> str:
    return f"Workdir({str(self.root)!r})"

  def make(self) -> "Workdir":
    self.root.mkdir(parents=True, exist_ok=True)
    return self

  # What every stage writes.
  @property
  def config(self) -> epath.Path:
    """The resolved config the run was started with."""
    return self.root / "config.json"

  def log(self, process_index: int = 0) -> epath.Path:
    """The log of one process (the main one: `log.txt`)."""
    return self.root / ("log.txt" if process_index == 0 else f"log.process{process_index}.txt")

  @property
  def metrics(self) -> epath.Path:
    """One JSON object a line: the step and its scalars."""
    return self.root / "metrics.jsonl"

  @property
  def tensorboard(self) -> epath.Path:
    return self.root / "tensorboard"

  @property
  def checkpoints(self) -> epath.Path:
    return self.root / "checkpoints"

  @property
  def results(self) -> epath.Path:
    """The final evaluation's metrics."""
    return self.root / "results.json"

  @property
  def vocabulary(self) -> epath.Path:
    """The tag vocabulary, one tag a line in class order."""
    return self.root / "vocabulary.txt"

  # Stage 1 (geolocation).
  @property
  def summary(self) -> epath.Path:
    """Both stages' results, written by `jaxgeo.main` at the end."""
    return self.root / "summary.json"

  @property
  def partitions(self) -> epath.Path:
    """The partitionings' cell CSVs (jaxgeo.geo.partitions)."""
    return self.root / "partitions"

  @property
  def landmark_ids(self) -> epath.Path:
    """The GLDv2 landmark id of each landmark class (a copy of the data set's)."""
    return self.root / landmark_ids.FILE

  @property
  def eval_dir(self) -> epath.Path:
    return self.root / "eval"

  def eval_csv(self, spec: str, method: str | None = None) -> epath.Path:
    """Per-image results of an evaluated data set (`name[:split]`): the hierarchy's, or another
    `method`'s (`<data set>.retrieval.csv`)."""
    return self.eval_file(spec, f"{method}.csv" if method else "csv")

  def eval_file(self, spec: str, suffix: str) -> epath.Path:
    """A file of an evaluated data set's results, e.g. `<data set>.reliability.png`."""
    return self.eval_dir / f"{spec.replace('/', '_').replace(':', '_')}.{suffix}"

  @property
  def toy_world(self) -> epath.Path:
    """Where the toy world is generated unless `config.toy_world.dir` says otherwise."""
    return self.root / "toy_world"

  @property
  def tfds(self) -> epath.Path:
    """The data dir unless `config.data.dir` says otherwise."""
    return self.root / "tfds"

  @property
  def landmark_index(self) -> epath.Path:
    """The landmark index of the Predictor (jaxgeo.predict.landmark_index)."""
    return self.root / "landmark_index"

  @property
  def locsens(self) -> "Workdir":
    """Stage 2's folder."""
    return Workdir(self.root / "locsens")

  # Stage 2 (LocSens).
  @property
  def tag_embeddings(self) -> epath.Path:
    """The stage-1 tag head's classifier rows, (vocabulary, embedding)."""
    return self.root / "tag_embeddings.npy"

  @property
  def tag_bias(self) -> epath.Path:
    return self.root / "tag_bias.npy"

  def embeddings(self, name: str, split: str) -> epath.Path:
    """The extracted image embeddings of a split (jaxgeo.run.embeddings)."""
    return self.root / "embeddings" / f"{name.replace('/', '_')}_{split}"

  def gallery(self, name: str, split: str, step: int) -> epath.Path:
    """The retrieval gallery of a split, embedded by the checkpoint of `step`."""
    return self.root / "gallery" / f"{name.replace('/', '_')}_{split}" / f"step_{step}"
