r"""Evaluates a trained model on built test sets; the trainer's final evaluation uses it too.

  python -m jaxgeo.evaluate --workdir runs/quickstart --dataset geo_testsets/im2gps3k

Loads the run's config, partitions, vocabulary and latest checkpoint from the workdir, prints
the km-accuracy table (each partition, the hierarchy, and two baselines on the same photos) and
writes per-image results to `<workdir>/eval/<data set>.csv` in the conventional columns
`img_id, gt_lat, predicted_lat, gt_long, predicted_long, great_circle_distance` (the hierarchy's
prediction). `--dataset` takes `name[:split]` (default split `test`) and may be repeated.
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

from jaxgeo import sharding
from jaxgeo.data import pipeline
from jaxgeo.evaluators import geolocation, landmarks
from jaxgeo.geo import hierarchy as hierarchy_lib


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
  """The landmark head's top class and its softmax confidence for one (padded) batch."""
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  probs = jax.nn.softmax(model(batch["image"])["landmark"], axis=-1)
  return {"landmark/class": jnp.argmax(probs, -1), "landmark/confidence": jnp.max(probs, -1)}


def _true_landmarks(example: dict) -> list[int]:
  """GLDv2 landmark ids an image shows: the test solution's, or a train image's own."""
  if "landmarks" in example:
    return [int(x) for x in example["landmarks"]]
  return [int(example["original_landmark_id"])]


def evaluate_landmarks(state: dict, graphdef: nnx.GraphDef, config: ml_collections.ConfigDict,
                       source, batch_sharding: jax.sharding.Sharding,
                       landmark_ids: np.ndarray) -> dict[str, float]:
  """Recognition GAP (and top-1 accuracy over images with a landmark) on a GLDv2 split."""
  step = jax.jit(functools.partial(landmark_step, graphdef=graphdef))
  batches = pipeline.eval_batches(source, batch_size=config.eval_batch_size // jax.process_count(),
                                  image_size=config.image_size, partitions=(),
                                  id_key="image_id")
  out = geolocation.collect_outputs(
      batches, lambda b: step(state, pipeline.to_global_arrays(b, batch_sharding)))
  truth_by_id = {}
  for i in range(len(source)):
    example = source[i]
    truth_by_id[example["image_id"].decode()] = _true_landmarks(example)
  truth = [truth_by_id[i] for i in out["id"]]
  predicted = landmark_ids[out["landmark/class"]]
  with_landmark = np.array([bool(t) for t in truth])
  correct = np.array([p in t for p, t in zip(predicted, truth)])
  return {"gap": landmarks.global_average_precision(predicted, out["landmark/confidence"], truth),
          "top1": float(correct[with_landmark].mean()),
          "num_examples": float(len(truth))}


def parse_dataset(spec: str) -> tuple[str, str]:
  """`name[:split]`, e.g. `geo_testsets/im2gps3k` or `yfcc100m_geo/yfcc100m:validation`."""
  name, _, split = spec.partition(":")
  return name, split or "test"


def evaluate_datasets(state: dict, graphdef: nnx.GraphDef, tree: hierarchy_lib.Hierarchy,
                      config: ml_collections.ConfigDict, data_dir: str, specs,
                      batch_sharding: jax.sharding.Sharding,
                      train_coordinates: tuple[np.ndarray, np.ndarray] | None = None,
                      csv_dir: str | None = None, landmark_ids: np.ndarray | None = None
                      ) -> dict[str, dict[str, dict[str, float]]]:
  """Metrics per data set and predictor; with training coordinates, the baselines too.

  GLDv2 data sets (`gldv2/...`) are scored by the landmark head (GAP, top-1) under the key
  `landmark`; all others by geolocation.
  """
  per_process = config.eval_batch_size // jax.process_count()
  results = {}
  for spec in specs:
    name, split = parse_dataset(spec)
    source = pipeline.open_split(name, split, data_dir)
    if name.startswith("gldv2/"):
      if landmark_ids is None:
        raise ValueError(f"{spec} is scored by the landmark head; enable model.landmark_head.")
      results[spec] = {"landmark": evaluate_landmarks(state, graphdef, config, source,
                                                      batch_sharding, landmark_ids)}
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


def _define_flags() -> None:
  # Only when run as a program: the trainer imports this module next to main.py's flags.
  flags.DEFINE_string("workdir", None, "Workdir of a finished (or running) training.")
  flags.DEFINE_multi_string("dataset", None, "Built data set, `name[:split]`.")
  flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the run's).")
  flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
  del argv
  # The trainer imports this module, so these imports wait until the CLI runs.
  from jaxgeo import prepare, trained  # pylint: disable=g-import-not-at-top
  args = flags.FLAGS
  run = trained.load_trained_run(args.workdir, args.data_dir)
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
