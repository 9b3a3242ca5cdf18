"""Google Landmarks v2 metrics: recognition GAP and retrieval mAP@100 (Weyand et al. 2020).

GAP (global average precision, micro-averaged): one (landmark, confidence) per test image, all
predictions sorted by confidence (ties by image id); GAP = (1/M) sum_i P(i) rel(i), where P(i)
is the precision over the first i predictions (predictions for non-landmark images count as
wrong) and M the number of test images with at least one true landmark. Confident mistakes on
non-landmark images cost, which is why a "no landmark" threshold matters. Test images the
solution marks `Ignored` (Usage column; no ground truth) are not scored at all, as in the
official scorer: they are neither right nor wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import nnx

from jaxgeo.data import gather, pipeline
from jaxgeo.evaluators import common


# The Usage of test images the official solution leaves out of every score.
IGNORED = "Ignored"


def global_average_precision(predicted: Sequence[int], confidence: Sequence[float],
                             truth: Sequence[Sequence[int]],
                             image_ids: Sequence[str] | None = None) -> float:
  """GAP of one prediction per image against each image's true landmarks (empty: none).

  Scored as the official GLDv2 scorer scores: predictions sorted by confidence, highest first,
  ties broken by image id (ascending). Pass only the images the solution scores: those it marks
  `Ignored` have no ground truth and must be left out (see `scored`), not counted as wrong.

  Args:
    predicted: the predicted landmark of each test image (-1: no prediction, not counted).
    confidence: its score.
    truth: the true landmarks of each test image; an empty list for non-landmark images.
    image_ids: the image ids, which break ties; without them, ties keep the input order.
  """
  predicted = np.asarray(predicted)
  confidence = np.asarray(confidence, dtype=np.float64)
  if not len(predicted) == len(confidence) == len(truth):
    raise ValueError("predicted, confidence and truth need one entry per test image.")
  num_with_landmark = sum(1 for t in truth if len(t))
  if num_with_landmark == 0:
    raise ValueError("GAP needs at least one test image with a true landmark.")
  made = np.flatnonzero(predicted >= 0)
  ids = np.arange(len(predicted)) if image_ids is None else np.asarray(image_ids, dtype=str)
  order = made[np.lexsort((ids[made], -confidence[made]))]
  correct = np.array([predicted[i] in truth[i] for i in order], dtype=np.float64)
  precision = np.cumsum(correct) / np.arange(1, len(correct) + 1)
  return float(np.sum(precision * correct) / num_with_landmark)


def scored(usage: Sequence[str]) -> np.ndarray:
  """Mask of the test images a solution scores: every Usage but `Ignored`."""
  return np.asarray([u != IGNORED for u in usage], dtype=bool)


def nearest_index_images(queries: np.ndarray, index: np.ndarray, k: int = 100,
                         chunk: int = 256) -> np.ndarray:
  """Rows of the k most similar index descriptors for each query, most similar first.

  Descriptors are L2-normalised, so the dot product is the cosine similarity. Queries go in
  chunks, so a 762k-image index never meets all queries in one matrix.
  """
  queries = np.asarray(queries, np.float32)
  index = np.asarray(index, np.float32)
  k = min(k, len(index))
  out = np.empty((len(queries), k), np.int64)
  for start in range(0, len(queries), chunk):
    sims = queries[start:start + chunk] @ index.T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
    out[start:start + chunk] = np.take_along_axis(top, order, axis=1)
  return out


def mean_average_precision_at_k(rankings: Mapping[str, Sequence[str]],
                                relevant: Mapping[str, Sequence[str]], k: int = 100) -> float:
  """Retrieval mAP@k over the queries that have relevant index images.

  AP of a query = sum over its first k results (first occurrence only) of P(i) rel(i), divided
  by min(number of relevant images, k).
  """
  aps = []
  for query, truth in relevant.items():
    truth = set(truth)
    if not truth:
      continue  # queries without a landmark are not scored
    seen, hits, total = set(), 0, 0.0
    for rank, image in enumerate(rankings.get(query, ())[:k], start=1):
      if image in seen:
        continue
      seen.add(image)
      if image in truth:
        hits += 1
        total += hits / rank
    aps.append(total / min(len(truth), k))
  if not aps:
    raise ValueError("mAP needs at least one query with relevant index images.")
  return float(np.mean(aps))


# -- the evaluator (jaxgeo.evaluate.EVALUATORS["landmarks"])


def landmark_step(state: dict, batch: dict[str, jax.Array], *,
                  graphdef: nnx.GraphDef) -> dict[str, jax.Array]:
  """The landmark head's top class, its softmax confidence and the photo's unit GeM descriptor
  (for retrieval) for one (padded) batch."""
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  out = model.predict(batch["image"])
  return {"landmark/class": jnp.argmax(out["landmark"], -1),
          "landmark/confidence": jnp.exp(jnp.max(out["landmark"], -1)),
          "landmark/descriptor": out["landmark_descriptor"]}


def _text(value) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def _landmark_outputs(state: dict, graphdef: nnx.GraphDef, config: ml_collections.ConfigDict,
                      source, batch_sharding: jax.sharding.Sharding) -> dict[str, np.ndarray]:
  step = jax.jit(functools.partial(landmark_step, graphdef=graphdef))
  batches = pipeline.eval_batches(source, batch_size=config.eval_batch_size // jax.process_count(),
                                  image_size=config.image_size, partitions=(),
                                  id_key="image_id")
  return gather.collect_outputs(
      batches, lambda b: step(state, pipeline.to_global_arrays(b, batch_sharding)))


def evaluate_landmarks(state: dict, graphdef: nnx.GraphDef, config: ml_collections.ConfigDict,
                       source, batch_sharding: jax.sharding.Sharding, landmark_ids: np.ndarray,
                       index_source=None) -> dict[str, float]:
  """Recognition GAP (and top-1 over images with a landmark) on a GLDv2 split, scored as the
  official scorer does; with `index_source` (the built GLDv2 index split), retrieval mAP@100.

  Test images whose solution Usage is `Ignored` are left out of the scores; GAP is also given
  per Usage (`gap_public`, `gap_private`), as the challenge reports it.
  """
  out = _landmark_outputs(state, graphdef, config, source, batch_sharding)
  rows = {}
  for i in range(len(source)):
    example = source[i]
    if "landmarks" in example:  # the test split: its solutions
      rows[_text(example["image_id"])] = (
          [int(x) for x in example["landmarks"]], _text(example["usage"]),
          [_text(x) for x in example["retrieval_images"]], _text(example["retrieval_usage"]))
    else:  # a train split's image: its own landmark, always scored
      rows[_text(example["image_id"])] = ([int(example["original_landmark_id"])], "", [], "")
  ids = out["id"]
  truth, usage, matches, retrieval_usage = (list(x) for x in zip(*(rows[i] for i in ids)))
  keep = scored(usage)
  predicted = landmark_ids[out["landmark/class"]]
  confidence = out["landmark/confidence"]

  def gap(mask: np.ndarray) -> float:
    return global_average_precision(
        predicted[mask], confidence[mask], [t for t, m in zip(truth, mask) if m], ids[mask])

  with_landmark = keep & np.array([bool(t) for t in truth])
  correct = np.array([p in t for p, t in zip(predicted, truth)])
  metrics = {"gap": gap(keep), "top1": float(correct[with_landmark].mean()),
             "num_examples": float(keep.sum()), "num_ignored": float((~keep).sum())}
  for subset in ("Public", "Private"):
    mask = keep & (np.asarray(usage) == subset)
    if any(truth[i] for i in np.flatnonzero(mask)):
      metrics[f"gap_{subset.lower()}"] = gap(mask)
  if index_source is not None and any(matches):  # a split with a retrieval solution
    metrics.update(_retrieval_metrics(state, graphdef, config, index_source, batch_sharding, out,
                                      matches, retrieval_usage))
  return metrics


def _retrieval_metrics(state, graphdef, config, index_source, batch_sharding, queries, matches,
                       usage) -> dict[str, float]:
  """mAP@100 of the test queries the retrieval solution scores, over the index's descriptors."""
  index = _landmark_outputs(state, graphdef, config, index_source, batch_sharding)
  queried = np.flatnonzero(scored(usage) & np.array([bool(m) for m in matches]))
  if queried.size == 0:
    logging.warning("No test query of the retrieval solution has matching index images; "
                    "mAP@100 is not reported.")
    return {}
  nearest = nearest_index_images(queries["landmark/descriptor"][queried],
                                 index["landmark/descriptor"], k=100)
  rankings = {queries["id"][q]: index["id"][row].tolist() for q, row in zip(queried, nearest)}
  relevant = {queries["id"][q]: matches[q] for q in queried}
  return {"map@100": mean_average_precision_at_k(rankings, relevant, k=100),
          "num_queries": float(queried.size), "index_size": float(len(index["id"]))}


def landmarks_eval(context: common.EvalContext, ev: ml_collections.ConfigDict,
                   source) -> dict[str, dict[str, float]]:
  """The landmark head's recognition GAP and top-1 on a GLDv2 split, under `landmark`; with
  `ev.index` (a built index split, `name:split`), retrieval mAP@100 over its descriptors too."""
  index_source = (pipeline.open_split(*pipeline.parse_dataset(ev.index), context.data_dir)
                  if ev.index else None)
  result = {"landmark": evaluate_landmarks(context.state, context.graphdef, context.config,
                                           source, context.batch_sharding, context.landmark_ids,
                                           index_source)}
  logging.info("Evaluation on %s: %s", ev.data, result["landmark"])
  return result
