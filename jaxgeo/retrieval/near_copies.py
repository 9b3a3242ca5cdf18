"""The leakage report's near-duplicate threshold, measured on the gallery under the run's
embedding rather than guessed.

Cosine similarities depend on the embedding: a ReLU-pooled ResNet puts unrelated photos at 0.9,
a CLIP tower at 0.5. So a sample of the gallery's photos is embedded twice, as stored and as a
re-upload would change them (cropped by 4% on each side, scaled to 80%, recompressed at JPEG
quality 70), and each sampled photo's nearest *other* gallery photo is found. The threshold is
the higher of the near-copies' 5th percentile (95% of near-copies caught) and the distinct
nearest photos' 99th percentile (at most 1% of distinct photos flagged); where the two overlap,
the embedding cannot tell a near-copy from a look-alike, and the share of near-copies the
threshold still catches says how much. All of it is kept beside the gallery (`near_copies.json`).
"""

from __future__ import annotations

import io
from typing import Any

import jax
import numpy as np
from absl import logging
from etils import epath
from PIL import Image

from jaxgeo.data import pipeline
from jaxgeo.run import embeddings as embeddings_lib, workdir as workdir_lib

FILE = "near_copies.json"
COPY_PERCENTILE = 5.0  # at least 95% of near-copies above the threshold...
DISTINCT_PERCENTILE = 99.0  # ...unless that flags more than 1% of distinct photos
PERTURBATION = "4% cropped off each side, scaled to 80%, JPEG quality 70"


def near_copy(jpeg: bytes) -> bytes:
  """The photo as a re-upload might change it (PERTURBATION)."""
  image = Image.open(io.BytesIO(jpeg)).convert("RGB")
  width, height = image.size
  dx, dy = round(0.04 * width), round(0.04 * height)
  image = image.crop((dx, dy, width - dx, height - dy))
  image = image.resize((max(1, round(0.8 * image.width)), max(1, round(0.8 * image.height))),
                       Image.Resampling.BICUBIC)
  out = io.BytesIO()
  image.save(out, format="JPEG", quality=70)
  return out.getvalue()


class _Records:
  """Some records of a source (`rows`), optionally as near-copies: a random-access source."""

  def __init__(self, source, rows: np.ndarray, copies: bool):
    self.source, self.rows, self.copies = source, rows, copies

  def __len__(self) -> int:
    return len(self.rows)

  def __getitem__(self, i: int) -> dict[str, Any]:
    element = dict(self.source[int(self.rows[i])])
    if self.copies:
      element["image"] = near_copy(element["image"])
    return element


def _unit(x: np.ndarray) -> np.ndarray:
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _nearest_other(out_dir: epath.Path, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
  """Cosine of each query (gallery row `rows[i]`) to its nearest other row, shard by shard."""
  manifest = workdir_lib.read_json(out_dir / embeddings_lib.MANIFEST)
  queries = _unit(queries)
  best, offset = np.full(len(rows), -np.inf), 0
  for shard in manifest["shards"]:
    gallery = _unit(workdir_lib.load_npy(out_dir / shard / "image.npy").astype(np.float32))
    scores = queries @ gallery.T
    own = (rows >= offset) & (rows < offset + len(gallery))
    scores[np.flatnonzero(own), rows[own] - offset] = -np.inf
    best = np.maximum(best, scores.max(axis=1))
    offset += len(gallery)
  return best


def calibrate(run, dataset: str, split: str, out_dir: workdir_lib.PathLike,
              num_photos: int = 256) -> dict[str, Any]:
  """Measures (once; then reads back) the near-duplicate threshold of a gallery folder."""
  out_dir = epath.Path(out_dir)
  path = out_dir / FILE
  if path.exists():
    return workdir_lib.read_json(path)
  source = pipeline.open_split(dataset, split, run.data_dir)
  rows = np.unique(np.linspace(0, len(source) - 1, min(num_photos, len(source))).astype(int))
  batch_size = run.config.eval_batch_size
  original = embeddings_lib.embed_records(run, dataset, _Records(source, rows, False), batch_size)
  copy = embeddings_lib.embed_records(run, dataset, _Records(source, rows, True), batch_size)
  copies = np.sum(_unit(original) * _unit(copy), axis=1)
  distinct = _nearest_other(out_dir, rows, original)
  threshold = max(np.percentile(copies, COPY_PERCENTILE),
                  np.percentile(distinct, DISTINCT_PERCENTILE))
  result = {"threshold": float(threshold), "num_photos": int(len(rows)),
            "perturbation": PERTURBATION,
            "near_copy_cosine_median": float(np.median(copies)),
            "near_copies_caught": float(np.mean(copies >= threshold)),
            "distinct_nearest_cosine_median": float(np.median(distinct)),
            "distinct_flagged": float(np.mean(distinct >= threshold))}
  if jax.process_index() == 0:
    workdir_lib.write_json(path, result)
  logging.info("Near-duplicate threshold of %s:%s: cosine %.4f (%d photos; near-copies: %s, "
               "median cosine %.4f, %.0f%% caught; nearest distinct photo: median %.4f, %.1f%% "
               "flagged).", dataset, split, threshold, len(rows), PERTURBATION,
               result["near_copy_cosine_median"], 100 * result["near_copies_caught"],
               result["distinct_nearest_cosine_median"], 100 * result["distinct_flagged"])
  return result
