r"""Evaluates a trained model on built test sets; the trainer's final evaluation uses it too.

  python -m jaxgeo.evaluate --workdir runs/quickstart --dataset geo_testsets/im2gps3k

Loads the run's config, partitions, vocabulary and latest checkpoint from the workdir, prints
the km-accuracy table (each partition, the hierarchy, and two baselines on the same photos) and
writes per-image results to `<workdir>/eval/<data set>.csv` in the conventional columns
`img_id, gt_lat, predicted_lat, gt_long, predicted_long, great_circle_distance` (the hierarchy's
prediction). `--dataset` takes `name[:split]` (default split `test`) and may be repeated.

  python -m jaxgeo.evaluate --results_csv im2gps3k_results.csv

scores results files in those columns instead (jaxgeo's, or another method's, e.g.
GeoEstimation's published per-image predictions), with the latitude columns decided from the
values as for every coordinate CSV (jaxgeo.geo.coordinate_csv).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags, logging
from flax import nnx

from jaxgeo import prepare
from jaxgeo.data import pipeline
from jaxgeo.evaluators import geolocation, landmarks
from jaxgeo.geo import coordinate_csv, distance, hierarchy as hierarchy_lib
from jaxgeo.run import restore, sharding


def eval_step(state: dict, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef,
              tree: hierarchy_lib.Hierarchy) -> dict[str, jax.Array]:
  """Errors of every predictor and the hierarchy's coordinates for one (padded) batch."""
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  images = batch["image"]
  if images.ndim == 5:  # (B, crops, H, W, C): vote over the crops
    b, c = images.shape[:2]
    outputs = model(images.reshape(b * c, *images.shape[2:]))
    outputs = {k: v.reshape(b, c, *v.shape[1:]) for k, v in outputs.items()}
  else:
    outputs = model(images)
  out = geolocation.prediction_errors_km(tree, outputs, batch["latitude"], batch["longitude"])
  out["gt/latitude"], out["gt/longitude"] = batch["latitude"], batch["longitude"]
  for part in tree.partitions:
    logits = outputs[f"geo/{part.name}"]
    if logits.ndim == 3:
      logits = jnp.mean(jax.nn.softmax(logits, axis=-1), axis=1)
    out[f"rank/{part.name}"] = geolocation.label_rank(logits, batch[f"label_{part.name}"])
  return out


def landmark_step(state: dict, batch: dict[str, jax.Array], *,
                  graphdef: nnx.GraphDef) -> dict[str, jax.Array]:
  """The landmark head's top class, its softmax confidence and the photo's unit GeM descriptor
  (for retrieval) for one (padded) batch."""
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  head = model.landmark_head
  descriptor = head.pool(model.backbone.features(model.preprocess(batch["image"], model.dtype)))
  probs = jax.nn.softmax(head.classify(descriptor.astype(model.dtype)).astype(jnp.float32), -1)
  descriptor = descriptor / jnp.maximum(jnp.linalg.norm(descriptor, axis=-1, keepdims=True),
                                        1e-12)
  return {"landmark/class": jnp.argmax(probs, -1), "landmark/confidence": jnp.max(probs, -1),
          "landmark/descriptor": descriptor}


def _text(value) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def _landmark_outputs(state: dict, graphdef: nnx.GraphDef, config: ml_collections.ConfigDict,
                      source, batch_sharding: jax.sharding.Sharding) -> dict[str, np.ndarray]:
  step = jax.jit(functools.partial(landmark_step, graphdef=graphdef))
  batches = pipeline.eval_batches(source, batch_size=config.eval_batch_size // jax.process_count(),
                                  image_size=config.image_size, partitions=(),
                                  id_key="image_id")
  return geolocation.collect_outputs(
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
  keep = landmarks.scored(usage)
  predicted = landmark_ids[out["landmark/class"]]
  confidence = out["landmark/confidence"]

  def gap(mask: np.ndarray) -> float:
    return landmarks.global_average_precision(
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
  scored = np.flatnonzero(landmarks.scored(usage) & np.array([bool(m) for m in matches]))
  if scored.size == 0:
    logging.warning("No test query of the retrieval solution has matching index images; "
                    "mAP@100 is not reported.")
    return {}
  nearest = landmarks.nearest_index_images(queries["landmark/descriptor"][scored],
                                           index["landmark/descriptor"], k=100)
  rankings = {queries["id"][q]: index["id"][row].tolist() for q, row in zip(scored, nearest)}
  relevant = {queries["id"][q]: matches[q] for q in scored}
  return {"map@100": landmarks.mean_average_precision_at_k(rankings, relevant, k=100),
          "num_queries": float(scored.size), "index_size": float(len(index["id"]))}


def evaluate_datasets(state: dict, graphdef: nnx.GraphDef, tree: hierarchy_lib.Hierarchy,
                      config: ml_collections.ConfigDict, data_dir: str, specs,
                      batch_sharding: jax.sharding.Sharding,
                      train_coordinates: tuple[np.ndarray, np.ndarray] | None = None,
                      csv_dir: str | None = None, landmark_ids: np.ndarray | None = None
                      ) -> dict[str, dict[str, dict[str, float]]]:
  """Metrics per data set and predictor; with training coordinates, the baselines too.

  GLDv2 data sets (`gldv2/...`) are scored by the landmark head (GAP, top-1) under the key
  `landmark`, with retrieval mAP@100 over `config.landmark_index` (a built index split,
  `name:split`) when it is set; all others by geolocation.
  """
  per_process = config.eval_batch_size // jax.process_count()
  results = {}
  for spec in specs:
    name, split = pipeline.parse_dataset(spec)
    source = pipeline.open_split(name, split, data_dir)
    if name.startswith("gldv2/"):
      if landmark_ids is None:
        raise ValueError(f"{spec} is scored by the landmark head; enable model.landmark_head.")
      # Configs written before the key existed have no index.
      index_spec = config.get("landmark_index", "")
      index_source = pipeline.open_split(*pipeline.parse_dataset(index_spec), data_dir) if (
          index_spec) else None
      results[spec] = {"landmark": evaluate_landmarks(state, graphdef, config, source,
                                                      batch_sharding, landmark_ids, index_source)}
      logging.info("Evaluation on %s: %s", spec, results[spec]["landmark"])
      continue
    if tree is None:
      raise ValueError(f"{spec} is scored by geolocation, which needs partitions.")
    step = jax.jit(functools.partial(eval_step, graphdef=graphdef, tree=tree))
    order = [p.name for p in tree.partitions] + [geolocation.HIERARCHY]
    id_key = "image_id" if "image_id" in source[0] else "photo_id"
    batches = pipeline.eval_batches(source, batch_size=per_process,
                                    image_size=config.image_size, partitions=tree.partitions,
                                    five_crop=config.get("five_crop", False), id_key=id_key)
    out = geolocation.collect_outputs(
        batches, lambda b: step(state, pipeline.to_global_arrays(b, batch_sharding)))
    errors = {k: out[k] for k in order}
    if train_coordinates is not None:
      errors.update(geolocation.baseline_errors(
          tree, *train_coordinates, out["gt/latitude"].astype(np.float64),
          out["gt/longitude"].astype(np.float64), seed=config.seed))
    results[spec], table = geolocation.report(errors)
    for part in tree.partitions:  # classification accuracy of each head, photos with a cell
      results[spec][part.name].update(geolocation.top_k_accuracy(out[f"rank/{part.name}"]))
    logging.info("Evaluation on %s (%d photos):\n%s", spec, len(out["id"]), table)
    if csv_dir and jax.process_index() == 0:
      os.makedirs(csv_dir, exist_ok=True)
      path = os.path.join(csv_dir, f"{spec.replace('/', '_').replace(':', '_')}.csv")
      geolocation.write_results_csv(path, out["id"], out["gt/latitude"], out["gt/longitude"],
                                    out[f"{geolocation.HIERARCHY}/latitude"],
                                    out[f"{geolocation.HIERARCHY}/longitude"])
      logging.info("Per-image results: %s", path)
  return results


def score_results_files(paths, coordinate_columns: str = "auto") -> dict[str, dict[str, float]]:
  """The km-accuracy table of per-image results files (jaxgeo's `eval/*.csv`, or GeoEstimation's
  published ones), logged with how each file was read; metrics by file."""
  rows = {}
  for path in paths:
    results = coordinate_csv.read_results(path, coordinate_columns)
    errors = distance.great_circle_km(results.true_lat, results.true_lon,
                                      results.predicted_lat, results.predicted_lon)
    rows[path] = distance.geolocation_metrics(errors)
    logging.info("%s: %d results; latitudes from %s (%s); %d row(s) not results (file lines "
                 "%s); %d line(s) after the first blank line left out.", path,
                 len(results.image_ids), results.columns.lat_column, results.columns.evidence,
                 len(results.skipped_rows), results.skipped_rows[:5], results.trailing_lines)
  logging.info("\n%s", distance.format_metrics_table(rows))
  return rows


def _define_flags() -> None:
  # Only when run as a program: the trainer imports this module next to main.py's flags.
  flags.DEFINE_string("workdir", None, "Workdir of a finished (or running) training.")
  flags.DEFINE_multi_string("dataset", None, "Built data set, `name[:split]`.")
  flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the run's).")
  flags.DEFINE_multi_string("results_csv", None, "Score per-image results files instead "
                            "(img_id,gt_lat,predicted_lat,gt_long,predicted_long); no workdir.")
  flags.DEFINE_enum("coordinate_columns", "auto", coordinate_csv.COLUMN_ORDERS,
                    "With --results_csv: which columns hold latitudes (auto: from the values).")


def main(argv: list[str]) -> None:
  del argv
  args = flags.FLAGS
  if args.results_csv:
    score_results_files(args.results_csv, args.coordinate_columns)
    return
  if not args.workdir:
    raise app.UsageError("Give --workdir (a training run) or --results_csv (results files).")
  run = restore.load_trained_run(args.workdir, args.data_dir)
  logging.info("Evaluating the checkpoint of step %d.", run.step)
  train_coordinates = (prepare.split_coordinates(run.config.data.train, "train", run.data_dir)
                       if run.tree else None)
  evaluate_datasets(run.state, run.graphdef, run.tree, run.config, run.data_dir,
                    args.dataset or list(run.config.evals), sharding.batch_sharding(run.mesh),
                    train_coordinates, csv_dir=os.path.join(args.workdir, "eval"),
                    landmark_ids=run.landmark_ids)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
