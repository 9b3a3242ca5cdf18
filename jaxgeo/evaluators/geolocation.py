"""Geolocation evaluation: km accuracies per partition and for the hierarchy, against baselines.

Each partition's head predicts the mean training coordinate of its top class; the hierarchy
predicts the top finest class under the product rule. Reporting both shows whether the hierarchy
beats the finest partition alone, as Müller-Budack et al. found. Two baselines computed on the
same test photos put the numbers in context: always the most frequent training cell, and the
location of a random training photo.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath
from flax import nnx

from jaxgeo.data import gather, pipeline
from jaxgeo.evaluators import calibration, common
from jaxgeo.geo import distance, hierarchy as hierarchy_lib
from jaxgeo.geo.hierarchy import Hierarchy
from jaxgeo.retrieval import gallery as gallery_lib, leakage as leakage_lib, near_copies

HIERARCHY = hierarchy_lib.NAME
RETRIEVAL = "retrieval"  # the nearest gallery photos' vote (jaxgeo.retrieval)
HYBRID = "hybrid"  # the hierarchy's top cell, refined by the gallery photos inside it
LEAKED_LEFT_OUT = "(leaked photos left out)"  # suffix of the leakage report's rows


def predicted_coordinates(hierarchy: Hierarchy, log_probs: dict[str, jax.Array]
                          ) -> dict[str, tuple]:
  """(lat, lon) predicted by each partition's head and by the hierarchy. Jit-compatible.

  Args:
    hierarchy: the partitions (coarse to fine) and their hierarchy.
    log_probs: `geo/<partition name>` -> (B, classes) log-probabilities, as the model's
      `predict` gives them (crops already voted).
  """
  out = {}
  for part in hierarchy.partitions:
    top = jnp.argmax(log_probs[f"geo/{part.name}"], axis=-1)
    out[part.name] = (jnp.asarray(part.latitudes, jnp.float32)[top],
                      jnp.asarray(part.longitudes, jnp.float32)[top])
  combined = hierarchy.combine_log_probs([log_probs[f"geo/{p.name}"]
                                          for p in hierarchy.partitions])
  top = jnp.argmax(combined, axis=-1)
  out[HIERARCHY] = (jnp.asarray(hierarchy.finest.latitudes, jnp.float32)[top],
                    jnp.asarray(hierarchy.finest.longitudes, jnp.float32)[top])
  return out


def prediction_errors_km(hierarchy: Hierarchy, log_probs: dict[str, jax.Array], lat: jax.Array,
                         lon: jax.Array) -> dict[str, jax.Array]:
  """Great-circle error (km) of each predictor, and the hierarchy's predicted coordinates."""
  predicted = predicted_coordinates(hierarchy, log_probs)
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


def baseline_errors(hierarchy: Hierarchy, train_lat: np.ndarray, train_lon: np.ndarray,
                    test_lat: np.ndarray, test_lon: np.ndarray,
                    seed: int = 0) -> dict[str, np.ndarray]:
  """Errors of the two reference predictors on the same test photos."""
  finest = hierarchy.finest
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


# -- the evaluator (jaxgeo.evaluate.EVALUATORS["geolocation"])


def eval_step(state: dict, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef,
              hierarchy: hierarchy_lib.Hierarchy, top_cells: int = 0) -> dict[str, jax.Array]:
  """Errors of every predictor and the hierarchy's coordinates for one (padded) batch; with
  `top_cells` (for retrieval), the pooled embedding and the hierarchy's best finest cells."""
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  images, crops = batch["image"], 1
  if images.ndim == 5:  # (B, crops, H, W, C): the model votes over each photo's crops
    crops = images.shape[1]
    images = images.reshape(-1, *images.shape[2:])
  log_probs = model.predict(images, crops)
  out = prediction_errors_km(hierarchy, log_probs, batch["latitude"], batch["longitude"])
  # The hierarchy's confidence that its answer is within 25 / 200 / 750 km (its calibration).
  combined = hierarchy.combine_log_probs([log_probs[f"geo/{p.name}"] for p in hierarchy.partitions])
  within = calibration.probability_within(
      jnp, jax.nn.softmax(combined, axis=-1), out[f"{HIERARCHY}/latitude"],
      out[f"{HIERARCHY}/longitude"], hierarchy.finest.latitudes, hierarchy.finest.longitudes)
  out.update({f"within/{r:g}": p for r, p in within.items()})
  out["gt/latitude"], out["gt/longitude"] = batch["latitude"], batch["longitude"]
  for part in hierarchy.partitions:
    out[f"rank/{part.name}"] = label_rank(log_probs[f"geo/{part.name}"],
                                                      batch[f"label_{part.name}"])
  if top_cells:
    out["embedding"] = log_probs["embedding"]
    out["top_log_probs"], out["top_cells"] = jax.lax.top_k(combined, top_cells)
  return out


def geolocation_eval(context: common.EvalContext, ev: ml_collections.ConfigDict,
                     source) -> dict[str, dict[str, float]]:
  """Km accuracy of each partition's head and of the hierarchy (with training coordinates, of
  two baselines on the same photos too), each head's top-k; per-image results to the workdir.

  `ev.five_crop`: vote over five crops instead of the centre crop. With a gallery in the
  context, the retrieval and hybrid answers too, and the leakage report.
  """
  spec, hierarchy, config, gallery = ev.data, context.hierarchy, context.config, context.gallery
  top_cells = config.retrieval.hybrid_cells if gallery is not None else 0
  step = jax.jit(functools.partial(eval_step, graphdef=context.graphdef, hierarchy=hierarchy,
                                   top_cells=top_cells))
  order = [p.name for p in hierarchy.partitions] + [HIERARCHY]
  name = pipeline.parse_dataset(spec)[0]
  batches = pipeline.eval_batches(source, batch_size=config.eval_batch_size // jax.process_count(),
                                  image_size=config.image_size, partitions=hierarchy.partitions,
                                  five_crop=ev.five_crop,
                                  id_key=pipeline.id_key(name, context.data_dir),
                                  keep_user=gallery is not None)
  out = gather.collect_outputs(
      batches,
      lambda b: step(context.state, pipeline.to_global_arrays(b, context.batch_sharding)))
  gt_lat, gt_lon = out["gt/latitude"].astype(np.float64), out["gt/longitude"].astype(np.float64)
  errors = {k: out[k] for k in order}
  answered = {HIERARCHY: (out[f"{HIERARCHY}/latitude"],
                                      out[f"{HIERARCHY}/longitude"], None)}
  if gallery is not None:
    answers = gallery_lib.answer(gallery, config.retrieval, out["embedding"], hierarchy,
                                 out["top_cells"], out["top_log_probs"])
    for method, vote in ((RETRIEVAL, answers.retrieval),
                         (HYBRID, answers.hybrid)):
      errors[method] = distance.great_circle_km(gt_lat, gt_lon, vote.latitude, vote.longitude)
      answered[method] = (vote.latitude, vote.longitude,
                          gallery_lib.deciding_photos(answers.neighbours, vote, gallery.photo_id))
  if context.train_coordinates is not None:
    errors.update(baseline_errors(hierarchy, *context.train_coordinates, gt_lat, gt_lon,
                                              seed=config.seed))
  result, table = report(errors)
  for part in hierarchy.partitions:  # classification accuracy of each head, photos with a cell
    result[part.name].update(top_k_accuracy(out[f"rank/{part.name}"]))
  logging.info("Evaluation on %s (%d photos):\n%s", spec, len(out["id"]), table)
  within = {r: out[f"within/{r:g}"] for r in calibration.RADII_KM}
  result["calibration"] = calibration.calibration_metrics(within, errors[HIERARCHY])
  logging.info("Calibration of the hierarchy's P(within r km) on %s: %s", spec, ", ".join(
      f"{r:g} km: predicted {result['calibration'][f'predicted@{r:g}km']:.3f}, observed "
      f"{result['calibration'][f'observed@{r:g}km']:.3f}, ECE "
      f"{result['calibration'][f'ece@{r:g}km']:.3f}" for r in calibration.RADII_KM))
  if gallery is not None:
    result.update(_leakage_report(spec, gallery, config, answers.neighbours, out["user"],
                                  {k: errors[k] for k in answered}))
  workdir = context.workdir
  if workdir and jax.process_index() == 0:  # per-image results beside the run
    workdir.eval_dir.mkdir(parents=True, exist_ok=True)
    for method, (lat, lon, deciding) in answered.items():
      path = workdir.eval_csv(spec, None if method == HIERARCHY else method)
      write_results_csv(path, out["id"], gt_lat, gt_lon, lat, lon, deciding)
      logging.info("Per-image results (%s): %s", method, path)
    path = workdir.eval_file(spec, "reliability.png")
    calibration.reliability_png(within, errors[HIERARCHY],
                                f"{spec}: the hierarchy's P(within r km)", path)
    logging.info("Reliability diagram: %s", path)
  return result


def _leakage_report(spec: str, gallery: gallery_lib.Gallery, config: ml_collections.ConfigDict,
                    neighbours: gallery_lib.Neighbours, test_users: np.ndarray,
                    errors: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
  """The leakage counts (`leakage`) and each method's metrics without the leaked photos."""
  threshold, caught = config.retrieval.near_duplicate_cosine, float("nan")
  if threshold is None and gallery.near_copies is not None:  # calibrated when it was built
    threshold, caught = (gallery.near_copies["threshold"],
                         gallery.near_copies["near_copies_caught"])
  elif threshold is None:  # never calibrated (load_gallery of a bare folder): none flagged
    logging.warning("Gallery %s has no near-copy calibration (%s): near-duplicates are not "
                    "counted.", gallery.spec, near_copies.FILE)
    threshold = float("inf")
  found = leakage_lib.find_leakage(neighbours.similarity[:, 0], test_users, gallery.user,
                                   threshold)
  keep = ~found.leaked
  clean = {f"{method} {LEAKED_LEFT_OUT}": distance.geolocation_metrics(err[keep])
           for method, err in errors.items()} if keep.any() else {}  # all leaked: no rows
  # What share of the gallery's own near-copies the threshold catches: how far to trust a 0.
  summary = {**found.summary(), "near_copies_caught": caught}
  logging.info("Leakage of %s into the gallery %s: %d of %d test photos have a near-duplicate "
               "(nearest cosine >= %.4f, which catches %.0f%% of the gallery's own "
               "near-copies), %d share a photographer with it; without those %d:\n%s",
               spec, gallery.spec, summary["near_duplicates"], summary["num_photos"],
               found.threshold, 100 * caught, summary["same_photographer"],
               summary["left_out"], distance.format_metrics_table(clean))
  return {"leakage": summary, **clean}
