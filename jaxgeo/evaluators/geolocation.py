"""Geolocation evaluation: km accuracies per partition and for the hierarchy, against baselines.

Each partition's head predicts the mean training coordinate of its top class; the hierarchy
predicts the top finest class under the product rule. Reporting both shows whether the hierarchy
beats the finest partition alone, as Müller-Budack et al. found. Two baselines computed on the
same test photos put the numbers in context: always the most frequent training cell, and the
location of a random training photo.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from jax.experimental import multihost_utils

from jaxgeo.data.pipeline import INDEX_KEY, MASK_KEY
from jaxgeo.geo import distance, hierarchy as hierarchy_lib
from jaxgeo.geo.hierarchy import Hierarchy

HIERARCHY = hierarchy_lib.NAME
RETRIEVAL = "retrieval"  # the nearest gallery photos' vote (jaxgeo.retrieval)
HYBRID = "hybrid"  # the hierarchy's top cell, refined by the gallery photos inside it
LEAKED_LEFT_OUT = "(leaked photos left out)"  # suffix of the leakage report's rows


def predicted_coordinates(tree: Hierarchy, log_probs: dict[str, jax.Array]) -> dict[str, tuple]:
  """(lat, lon) predicted by each partition's head and by the hierarchy. Jit-compatible.

  Args:
    tree: the partitions (coarse to fine) and their hierarchy.
    log_probs: `geo/<partition name>` -> (B, classes) log-probabilities, as the model's
      `predict` gives them (crops already voted).
  """
  out = {}
  for part in tree.partitions:
    top = jnp.argmax(log_probs[f"geo/{part.name}"], axis=-1)
    out[part.name] = (jnp.asarray(part.latitudes, jnp.float32)[top],
                      jnp.asarray(part.longitudes, jnp.float32)[top])
  top = jnp.argmax(tree.combine_log_probs([log_probs[f"geo/{p.name}"] for p in tree.partitions]),
                   axis=-1)
  out[HIERARCHY] = (jnp.asarray(tree.finest.latitudes, jnp.float32)[top],
                    jnp.asarray(tree.finest.longitudes, jnp.float32)[top])
  return out


def prediction_errors_km(tree: Hierarchy, log_probs: dict[str, jax.Array], lat: jax.Array,
                         lon: jax.Array) -> dict[str, jax.Array]:
  """Great-circle error (km) of each predictor, and the hierarchy's predicted coordinates."""
  predicted = predicted_coordinates(tree, log_probs)
  out = {name: distance.great_circle_km_jax(lat, lon, p_lat, p_lon)
         for name, (p_lat, p_lon) in predicted.items()}
  out[f"{HIERARCHY}/latitude"], out[f"{HIERARCHY}/longitude"] = predicted[HIERARCHY]
  return out


def label_rank(scores: jax.Array, labels: jax.Array) -> jax.Array:
  """0-based rank of the true class by score (logits or log-probabilities); -1 where the photo
  has no class."""
  true = jnp.take_along_axis(scores, jnp.maximum(labels, 0)[:, None], axis=-1)
  rank = jnp.sum(scores > true, axis=-1)
  return jnp.where(labels >= 0, rank, -1)


def top_k_accuracy(ranks: np.ndarray, ks=(1, 5)) -> dict[str, float]:
  """`top<k>`: share of the photos with a class whose true class ranks in the first k."""
  ranks = np.asarray(ranks)
  ranks = ranks[ranks >= 0]
  return {f"top{k}": float(np.mean(ranks < k)) if ranks.size else float("nan") for k in ks}


def write_results_csv(path: str | os.PathLike, ids: np.ndarray, gt_lat: np.ndarray,
                      gt_lon: np.ndarray, pred_lat: np.ndarray, pred_lon: np.ndarray,
                      neighbours: Sequence[str] | None = None) -> None:
  """Per-image results in the conventional columns of the geolocation literature; with
  `neighbours`, a last column naming the gallery photos that decided each answer."""
  with epath.Path(path).open("w") as f:
    f.write("img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance"
            f"{',neighbours' if neighbours is not None else ''}\n")
    d = distance.great_circle_km(gt_lat, gt_lon, pred_lat, pred_lon)
    for i, row in enumerate(zip(ids, gt_lat, pred_lat, gt_lon, pred_lon, d)):
      extra = f",{neighbours[i]}" if neighbours is not None else ""
      f.write(f"{row[0]},{row[1]:.6f},{row[2]:.6f},{row[3]:.6f},{row[4]:.6f},{row[5]:.3f}"
              f"{extra}\n")


_TEXT_BYTES = 64  # text fields (ids, photographers) cross processes as fixed-width byte rows
_TEXT_KEYS = ("id", "user")


def collect_outputs(batches: Iterable[dict], step: Callable[[dict], dict[str, jax.Array]]
                    ) -> dict[str, np.ndarray]:
  """Runs `step` over padded batches; gathers its outputs (and the batch's `id` and `user`
  texts) of real examples.

  Outputs come back from every process (`process_allgather`), so each host sees all results,
  in the source's record order (batches' `_index`) whatever the number of processes.
  """
  chunks: dict[str, list[np.ndarray]] = {}
  for batch in batches:
    outputs = dict(step(batch))
    for key in _TEXT_KEYS:
      if key in batch:
        text = np.asarray(batch[key]).astype(f"S{_TEXT_BYTES}")
        outputs[key] = np.frombuffer(text.tobytes(), np.uint8).reshape(len(text), _TEXT_BYTES)
    if INDEX_KEY in batch:
      outputs[INDEX_KEY] = batch[INDEX_KEY]
    outputs[MASK_KEY] = batch[MASK_KEY]
    gathered = {k: np.asarray(multihost_utils.process_allgather(v, tiled=True))
                for k, v in outputs.items()}
    mask = gathered.pop(MASK_KEY).astype(bool)
    for name, value in gathered.items():
      chunks.setdefault(name, []).append(value[mask])
  out = {name: np.concatenate(parts) for name, parts in chunks.items()}
  if INDEX_KEY in out:  # processes' batches arrive interleaved
    order = np.argsort(out.pop(INDEX_KEY), kind="stable")
    out = {name: value[order] for name, value in out.items()}
  for key in _TEXT_KEYS:
    if key in out:
      out[key] = np.array([bytes(row).rstrip(b"\0").decode("utf-8", "replace")
                           for row in out[key]])
  return out


def baseline_errors(tree: Hierarchy, train_lat: np.ndarray, train_lon: np.ndarray,
                    test_lat: np.ndarray, test_lon: np.ndarray,
                    seed: int = 0) -> dict[str, np.ndarray]:
  """Errors of the two reference predictors on the same test photos."""
  finest = tree.finest
  top = int(np.argmax(finest.counts))
  rng = np.random.default_rng(seed)
  pick = rng.integers(0, len(train_lat), size=len(test_lat))
  return {
      "baseline: most frequent cell": distance.great_circle_km(
          test_lat, test_lon, finest.latitudes[top], finest.longitudes[top]),
      "baseline: random training photo": distance.great_circle_km(
          test_lat, test_lon, train_lat[pick], train_lon[pick]),
  }


def report(errors: dict[str, np.ndarray]) -> tuple[dict[str, dict[str, float]], str]:
  """Per-predictor metrics and the km-accuracy table."""
  metrics = {name: distance.geolocation_metrics(err) for name, err in errors.items()}
  return metrics, distance.format_metrics_table(metrics)
