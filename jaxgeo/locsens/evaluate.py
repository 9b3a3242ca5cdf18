"""LocSens metrics (Gomez et al. 2020): location-sensitive tagging and tag + place retrieval.

Tagging ranks the vocabulary for each test photo with at least one vocabulary tag:
  a@1, a@10        share of photos with a true tag among the top 1 / top 10;
  tags_predicted   share of the distinct true tags of the test set that are some photo's top-1
                   prediction (does a model use the vocabulary or repeat a few tags?);
  tags_correct     share of the distinct true tags that are the correct top-1 of some photo.
Retrieval takes (tag, location) queries from the test photos' tags and places and ranks the
other test photos: p@10/<r>km is the share of the top 10 that carry the tag and lie within r km
of the query's place (p@10/any: carry the tag, anywhere).
"""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np
from absl import logging

from jaxgeo.data import vocab as vocab_lib
from jaxgeo.geo import distance
from jaxgeo.locsens import inputs as stage2_inputs, ranking
from jaxgeo.run import embeddings as embeddings_lib, workdir as workdir_lib

RADII_KM = (2500.0, 750.0, 200.0, 25.0, 1.0)
TAGGING_KEYS = ("a@1", "a@10", "tags_predicted", "tags_correct")
RETRIEVAL_KEYS = ("p@10/any", *(f"p@10/{r:g}km" for r in RADII_KM))


def tagging_metrics(top_ids: np.ndarray, true_ids: np.ndarray) -> dict[str, float]:
  """Metrics of ranked tags (n, >=10) against true tag ids (n, m; -1 padding)."""
  top_ids, true_ids = np.asarray(top_ids), np.asarray(true_ids)
  hit = ((top_ids[:, :, None] == true_ids[:, None, :]) & (true_ids[:, None, :] >= 0)).any(-1)
  test_tags = np.unique(true_ids[true_ids >= 0])
  correct_top1 = top_ids[hit[:, 0], 0]
  return {"a@1": float(hit[:, 0].mean()), "a@10": float(hit[:, :10].any(1).mean()),
          "tags_predicted": float(np.isin(test_tags, top_ids[:, 0]).mean()),
          "tags_correct": float(np.isin(test_tags, correct_top1).mean()),
          "num_photos": float(len(top_ids))}


def retrieval_metrics(top_rows: np.ndarray, query_tags: np.ndarray, query_lat: np.ndarray,
                      query_lon: np.ndarray, index_tag_ids: np.ndarray, index_lat: np.ndarray,
                      index_lon: np.ndarray, radii_km=RADII_KM, k: int = 10) -> dict[str, float]:
  """P@k of ranked index rows (Q, k) for queries (tag, place); a short list counts as misses."""
  top_rows = np.asarray(top_rows)[:, :k]
  carries = (index_tag_ids[top_rows] == np.asarray(query_tags)[:, None, None]).any(-1)
  km = distance.great_circle_km(np.asarray(query_lat, np.float64)[:, None],
                                np.asarray(query_lon, np.float64)[:, None],
                                index_lat[top_rows], index_lon[top_rows])
  out = {"p@10/any": float(carries.sum(1).mean() / k)}
  for r in radii_km:
    out[f"p@10/{r:g}km"] = float((carries & (km <= r)).sum(1).mean() / k)
  out["num_queries"] = float(len(top_rows))
  return out


def make_queries(test: embeddings_lib.Embeddings, max_queries: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(photo row, tag id) of every tag of every located test photo; a random subset if many."""
  located = np.isfinite(test.latitude) & np.isfinite(test.longitude)
  rows, cols = np.nonzero((test.tag_ids >= 0) & located[:, None])
  if max_queries and len(rows) > max_queries:
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), max_queries, replace=False))
    rows, cols = rows[pick], cols[pick]
  return rows, test.tag_ids[rows, cols]


def frequency_ranking(train_tag_ids: np.ndarray, vocabulary_size: int, k: int = 10) -> np.ndarray:
  """The k most frequent training tags: the same prediction for every photo."""
  counts = np.bincount(train_tag_ids[train_tag_ids >= 0], minlength=vocabulary_size)
  return np.argsort(-counts, kind="stable")[:k]


def tag_head_search(images: np.ndarray, tag_embeddings: np.ndarray, tag_bias: np.ndarray,
                    query_tags: np.ndarray, exclude: np.ndarray, k: int = 10,
                    chunk: int = 256) -> np.ndarray:
  """Top-k photo rows per query tag by the tag head's logit (location-agnostic baseline)."""
  out = []
  for s in range(0, len(query_tags), chunk):
    tags = query_tags[s:s + chunk]
    logits = tag_embeddings[tags] @ images.T + tag_bias[tags][:, None]  # (q, N)
    logits[np.arange(len(tags)), exclude[s:s + chunk]] = -np.inf
    part = np.argpartition(-logits, min(k, logits.shape[1] - 1), axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(logits, part, 1), axis=1, kind="stable")
    out.append(np.take_along_axis(part, order, 1))
  return np.concatenate(out)


def format_table(rows: dict[str, dict[str, float]], keys) -> str:
  """Predictors as rows, metrics as columns, in percent."""
  width = max(len(name) for name in rows) + 2
  lines = [" " * width + "".join(f"{key:>15}" for key in keys)]
  for name, metrics in rows.items():
    lines.append(f"{name:<{width}}" + "".join(f"{100 * metrics[key]:15.2f}" for key in keys))
  return "\n".join(lines)


def evaluate_locsens(model, workdir: workdir_lib.Workdir, config: ml_collections.ConfigDict,
                     train: embeddings_lib.Embeddings) -> dict[str, Any]:
  """Tagging and retrieval on `config.test`, next to the tag head and tag frequency."""
  tag_embeddings, tag_bias = stage2_inputs.load_tag_table(workdir)
  vocabulary = vocab_lib.TagVocabulary.load(workdir.vocabulary)
  scorer = ranking.LocSensScorer(model, tag_embeddings, tag_bias, vocabulary, workdir, config)
  test = embeddings_lib.load_embeddings(stage2_inputs.embeddings_dir(workdir, config.test))
  limit = config.eval_max_photos
  rng = np.random.default_rng(config.seed)

  # Tagging: photos with at least one vocabulary tag.
  rows = np.flatnonzero((test.tag_ids >= 0).any(1) & np.isfinite(test.latitude))
  if limit and len(rows) > limit:
    rows = np.sort(rng.choice(rows, limit, replace=False))
  images, truth = test.image[rows], test.tag_ids[rows]
  lat, lon = test.latitude[rows], test.longitude[rows]
  candidates = config.two_stage_candidates
  ranked = {
      "locsens": scorer.rank_tags(images, lat, lon, mode="full")[0],
      f"locsens two-stage (top {candidates})": scorer.rank_tags(
          images, lat, lon, mode="two_stage", candidates=candidates)[0],
      "locsens, no location": scorer.rank_tags(images, mode="full")[0],
      "tag head (location-agnostic)": np.argsort(-scorer.tag_head_logits(images), 1)[:, :10],
      "tag frequency": np.broadcast_to(frequency_ranking(train.tag_ids, len(vocabulary)),
                                       (len(rows), 10)),
  }
  tagging = {name: tagging_metrics(top, truth) for name, top in ranked.items()}

  # Retrieval: (tag, place) queries from the test photos over the other test photos.
  index = scorer.make_index(test)
  query_rows, query_tags = make_queries(test, config.max_queries, config.seed)
  # Map the query photos to their index rows (the index keeps located photos only).
  index_row = np.cumsum(np.isfinite(test.latitude) & np.isfinite(test.longitude)) - 1
  exclude = index_row[query_rows]
  qlat, qlon = test.latitude[query_rows], test.longitude[query_rows]
  top = {
      "locsens": scorer.search_ids(query_tags, qlat, qlon, index=index, exclude=exclude)[0],
      "locsens, no location": scorer.search_ids(query_tags, None, None, index=index,
                                                exclude=exclude)[0],
  }
  top["tag head (location-agnostic)"] = tag_head_search(index.image, tag_embeddings, tag_bias,
                                                         query_tags, exclude)
  retrieval = {name: retrieval_metrics(t, query_tags, qlat, qlon, index.tag_ids,
                                       index.latitude, index.longitude)
               for name, t in top.items()}
  logging.info("LocSens tagging on %s (%d photos, vocabulary %d), %%:\n%s", config.test,
               len(rows), len(vocabulary), format_table(tagging, TAGGING_KEYS))
  logging.info("LocSens retrieval on %s (%d queries over %d photos), %%:\n%s", config.test,
               len(query_rows), len(index), format_table(retrieval, RETRIEVAL_KEYS))
  return {"tagging": tagging, "retrieval": retrieval}


def flatten_results(results: dict[str, Any]) -> dict[str, float]:
  return {f"locsens/eval/{task}/{name}/{key}": value
          for task, per_name in results.items() for name, metrics in per_name.items()
          for key, value in metrics.items()}
