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

from collections.abc import Mapping, Sequence

import numpy as np


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
