r"""Evaluates a trained model on built test sets; the trainer's evaluations use it too.

  python -m jaxgeo.evaluate --workdir runs/quickstart [--eval NAME]... [--dataset NAME[:SPLIT]]...

Loads the run's config, partitions, vocabulary and latest checkpoint from the workdir and runs
the config's evals (`config.evals.<name> = dict(type=..., data=..., options)`, each scored by
the evaluator of its type, EVALUATORS), or those `--eval` names, or one for each `--dataset`
(`name[:split]`, default split `test`): the config's eval over the same data if there is one,
else typed by the data set's builder, the one rule of jaxgeo.run.config_base.eval_type_of (GLDv2
splits are scored by the landmark head, every other data set by geolocation), with the options of
the config's first eval of that type (five_crop, the landmark index). Both flags may be repeated.

A geolocation eval prints the km-accuracy table (each partition, the hierarchy, and two
baselines on the same photos) and writes per-image results to `<workdir>/eval/<data set>.csv`
in the conventional columns `img_id, gt_lat, predicted_lat, gt_long, predicted_long,
great_circle_distance` (the hierarchy's prediction); a landmarks eval logs GAP and top-1 (and
mAP@100 over its index).

  python -m jaxgeo.evaluate --results_csv im2gps3k_results.csv

scores results files in those columns instead (jaxgeo's, or another method's, e.g.
GeoEstimation's published per-image predictions), with the latitude columns decided from the
values as for every coordinate CSV (jaxgeo.geo.coordinate_csv).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags, logging
from flax import nnx

from jaxgeo import prepare
from jaxgeo.data import pipeline
from jaxgeo.evaluators import calibration, geolocation, landmarks
from jaxgeo.geo import coordinate_csv, distance, hierarchy as hierarchy_lib
from jaxgeo.retrieval import gallery as gallery_lib, leakage as leakage_lib, near_copies
from jaxgeo.run import config_base, restore, sharding, workdir as workdir_lib


def eval_step(state: dict, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef,
              tree: hierarchy_lib.Hierarchy, top_cells: int = 0) -> dict[str, jax.Array]:
  """Errors of every predictor and the hierarchy's coordinates for one (padded) batch; with
  `top_cells` (for retrieval), the pooled embedding and the hierarchy's best finest cells."""
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  images, crops = batch["image"], 1
  if images.ndim == 5:  # (B, crops, H, W, C): the model votes over each photo's crops
    crops = images.shape[1]
    images = images.reshape(-1, *images.shape[2:])
  log_probs = model.predict(images, crops)
  out = geolocation.prediction_errors_km(tree, log_probs, batch["latitude"], batch["longitude"])
  # The hierarchy's confidence that its answer is within 25 / 200 / 750 km (its calibration).
  combined = tree.combine_log_probs([log_probs[f"geo/{p.name}"] for p in tree.partitions])
  within = calibration.probability_within(
      jnp, jax.nn.softmax(combined, axis=-1), out[f"{geolocation.HIERARCHY}/latitude"],
      out[f"{geolocation.HIERARCHY}/longitude"], tree.finest.latitudes, tree.finest.longitudes)
  out.update({f"within/{r:g}": p for r, p in within.items()})
  out["gt/latitude"], out["gt/longitude"] = batch["latitude"], batch["longitude"]
  for part in tree.partitions:
    out[f"rank/{part.name}"] = geolocation.label_rank(log_probs[f"geo/{part.name}"],
                                                      batch[f"label_{part.name}"])
  if top_cells:
    out["embedding"] = log_probs["embedding"]
    out["top_log_probs"], out["top_cells"] = jax.lax.top_k(combined, top_cells)
  return out


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


@dataclasses.dataclass(frozen=True)
class EvalContext:
  """The model under evaluation and what the evaluators need besides the eval itself."""
  state: dict
  graphdef: nnx.GraphDef
  tree: hierarchy_lib.Hierarchy | None  # None for a landmarks-only run
  config: ml_collections.ConfigDict
  data_dir: str
  batch_sharding: jax.sharding.Sharding
  train_coordinates: tuple[np.ndarray, np.ndarray] | None = None  # for the baselines
  workdir: workdir_lib.Workdir | None = None  # for the per-image results
  landmark_ids: np.ndarray | None = None  # GLDv2 landmark id of each landmark class
  gallery: gallery_lib.Gallery | None = None  # for retrieval and hybrid answers


def geolocation_eval(context: EvalContext, ev: ml_collections.ConfigDict,
                     source) -> dict[str, dict[str, float]]:
  """Km accuracy of each partition's head and of the hierarchy (with training coordinates, of
  two baselines on the same photos too), each head's top-k; per-image results to the workdir.

  `ev.five_crop`: vote over five crops instead of the centre crop. With a gallery in the
  context, the retrieval and hybrid answers too, and the leakage report.
  """
  spec, tree, config, gallery = ev.data, context.tree, context.config, context.gallery
  top_cells = config.retrieval.hybrid_cells if gallery is not None else 0
  step = jax.jit(functools.partial(eval_step, graphdef=context.graphdef, tree=tree,
                                   top_cells=top_cells))
  order = [p.name for p in tree.partitions] + [geolocation.HIERARCHY]
  name = pipeline.parse_dataset(spec)[0]
  batches = pipeline.eval_batches(source, batch_size=config.eval_batch_size // jax.process_count(),
                                  image_size=config.image_size, partitions=tree.partitions,
                                  five_crop=ev.five_crop,
                                  id_key=pipeline.id_key(name, context.data_dir),
                                  keep_user=gallery is not None)
  out = geolocation.collect_outputs(
      batches,
      lambda b: step(context.state, pipeline.to_global_arrays(b, context.batch_sharding)))
  gt_lat, gt_lon = out["gt/latitude"].astype(np.float64), out["gt/longitude"].astype(np.float64)
  errors = {k: out[k] for k in order}
  answered = {geolocation.HIERARCHY: (out[f"{geolocation.HIERARCHY}/latitude"],
                                      out[f"{geolocation.HIERARCHY}/longitude"], None)}
  if gallery is not None:
    answers = gallery_lib.answer(gallery, config.retrieval, out["embedding"], tree,
                                 out["top_cells"], out["top_log_probs"])
    for method, vote in ((geolocation.RETRIEVAL, answers.retrieval),
                         (geolocation.HYBRID, answers.hybrid)):
      errors[method] = distance.great_circle_km(gt_lat, gt_lon, vote.latitude, vote.longitude)
      answered[method] = (vote.latitude, vote.longitude,
                          gallery_lib.deciding_photos(answers.neighbours, vote, gallery.photo_id))
  if context.train_coordinates is not None:
    errors.update(geolocation.baseline_errors(tree, *context.train_coordinates, gt_lat, gt_lon,
                                              seed=config.seed))
  result, table = geolocation.report(errors)
  for part in tree.partitions:  # classification accuracy of each head, photos with a cell
    result[part.name].update(geolocation.top_k_accuracy(out[f"rank/{part.name}"]))
  logging.info("Evaluation on %s (%d photos):\n%s", spec, len(out["id"]), table)
  within = {r: out[f"within/{r:g}"] for r in calibration.RADII_KM}
  result["calibration"] = calibration.calibration_metrics(within, errors[geolocation.HIERARCHY])
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
      path = workdir.eval_csv(spec, None if method == geolocation.HIERARCHY else method)
      geolocation.write_results_csv(path, out["id"], gt_lat, gt_lon, lat, lon, deciding)
      logging.info("Per-image results (%s): %s", method, path)
    path = workdir.eval_file(spec, "reliability.png")
    calibration.reliability_png(within, errors[geolocation.HIERARCHY],
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
  clean = {f"{method} {geolocation.LEAKED_LEFT_OUT}": distance.geolocation_metrics(err[keep])
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


def landmarks_eval(context: EvalContext, ev: ml_collections.ConfigDict,
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


# The evaluator of each eval type (`config.evals.<name>.type`): (context, the eval, its data's
# source) -> metrics by predictor. jaxgeo.run.config_base.EVAL_OPTIONS has each type's options.
EVALUATORS = {"geolocation": geolocation_eval, "landmarks": landmarks_eval}


def check_evals(evals: Mapping[str, ml_collections.ConfigDict],
                config: ml_collections.ConfigDict) -> None:
  """Raises ValueError for an eval the run cannot do: an unknown type, options other than its
  type's, two evals over the same data (their results would share a key), a geolocation eval
  without partitions or a landmarks eval without the landmark head."""
  seen = {}
  for name, ev in evals.items():
    if ev.type not in EVALUATORS:
      raise ValueError(f"evals.{name}.type is {ev.type!r}; known types: "
                       f"{', '.join(EVALUATORS)}.")
    keys = {"type", "data", *config_base.EVAL_OPTIONS[ev.type]}
    if set(ev.keys()) != keys:
      raise ValueError(f"evals.{name} has the keys {sorted(ev.keys())}, a {ev.type} eval "
                       f"{sorted(keys)} (configs make evals with common.make_eval).")
    data = pipeline.parse_dataset(ev.data)
    if data in seen:
      raise ValueError(f"evals.{seen[data]} and evals.{name} both evaluate {':'.join(data)}: "
                       "results are keyed by the data, so evaluate each data set once.")
    seen[data] = name
    if ev.type == "geolocation" and config.partitions is None:
      raise ValueError(f"evals.{name} ({ev.data}) is scored by geolocation, which needs "
                       "partitions (config.partitions is None).")
    if ev.type == "landmarks" and not config.model.landmark_head:
      raise ValueError(f"evals.{name} ({ev.data}) is scored by the landmark head; enable "
                       "model.landmark_head.")


def evaluate_datasets(state: dict, graphdef: nnx.GraphDef, tree: hierarchy_lib.Hierarchy | None,
                      config: ml_collections.ConfigDict, data_dir: str,
                      evals: Mapping[str, ml_collections.ConfigDict],
                      batch_sharding: jax.sharding.Sharding,
                      train_coordinates: tuple[np.ndarray, np.ndarray] | None = None,
                      workdir: workdir_lib.Workdir | None = None,
                      landmark_ids: np.ndarray | None = None,
                      gallery: gallery_lib.Gallery | None = None
                      ) -> dict[str, dict[str, dict[str, float]]]:
  """Metrics of each eval (`config.evals`, or some), keyed by its data spec and predictor.

  Each eval is scored by the evaluator of its type (EVALUATORS), in the order of the data specs:
  a ConfigDict's keys come sorted, so the evals' names carry no order, and results.json lists
  the data sets the same way from one run to the next.
  """
  check_evals(evals, config)
  context = EvalContext(state, graphdef, tree, config, data_dir, batch_sharding,
                        train_coordinates, workdir, landmark_ids, gallery)
  results = {}
  for ev in sorted(evals.values(), key=lambda ev: ev.data):
    source = pipeline.open_split(*pipeline.parse_dataset(ev.data), data_dir)
    results[ev.data] = EVALUATORS[ev.type](context, ev, source)
  return results


def chosen_evals(config: ml_collections.ConfigDict, names: Sequence[str] | None,
                 datasets: Sequence[str] | None) -> ml_collections.ConfigDict:
  """The evals of `--eval` (names in config.evals) and `--dataset`; without either, all.

  A `--dataset` is the config's eval over the same data if it has one (keyed by the spec as
  given); else it is typed by its builder (config_base.eval_type_of: GLDv2 splits by the landmark
  head, others by geolocation) with the options of the config's first eval of that type, in data
  order (the type's defaults if it has none): a run evaluated with five crops, or with a landmark
  index, evaluates another data set so too.
  """
  if not names and not datasets:
    return config.evals
  chosen = ml_collections.ConfigDict()
  for name in names or ():
    if name not in config.evals:
      raise app.UsageError(f"--eval={name}: the run's config has no such eval; it has "
                           f"{', '.join(config.evals.keys()) or 'none'}.")
    chosen[name] = config.evals[name]
  by_data = {pipeline.parse_dataset(ev.data): ev for ev in config.evals.values()}
  in_data_order = sorted(config.evals.values(), key=lambda ev: ev.data)
  for i, spec in enumerate(datasets or ()):
    data = pipeline.parse_dataset(spec)
    if data in by_data:
      ev = by_data[data].copy_and_resolve_references()
      ev.data = spec
    else:
      eval_type = config_base.eval_type_of(spec)
      like = [ev for ev in in_data_order if ev.type == eval_type][:1]
      ev = config_base.make_eval(eval_type, spec, **{
          k: v for k, v in (like[0].items() if like else ()) if k not in ("type", "data")})
    chosen[f"dataset{i}"] = ev
  return chosen


def score_results_files(paths: Sequence[str], coordinate_columns: str = "auto"
                        ) -> dict[str, dict[str, float]]:
  """The km-accuracy table of per-image results files (jaxgeo's `eval/*.csv`, or GeoEstimation's
  published ones), logged with how each file was read; metrics by file."""
  rows = {}
  for path in paths:
    results = coordinate_csv.read_results(path, coordinate_columns)
    errors = distance.great_circle_km(results.true_lat, results.true_lon,
                                      results.predicted_lat, results.predicted_lon)
    rows[path] = distance.geolocation_metrics(errors)
    # The blank line is named so that a person can check that what was left out is the
    # file's summary (GeoEstimation's), not photos.
    logging.info("%s: %d results; latitudes from %s (%s); %d row(s) not results (file lines "
                 "%s); %d line(s) after the first blank line left out%s.", path,
                 len(results.image_ids), results.columns.lat_column, results.columns.evidence,
                 len(results.skipped_rows), results.skipped_rows[:5], results.trailing_lines,
                 f" (the blank line is line {results.blank_line})" if results.trailing_lines
                 else "")
  logging.info("\n%s", distance.format_metrics_table(rows))
  return rows


def _define_flags() -> None:
  # Only when run as a program: the trainer imports this module next to main.py's flags.
  flags.DEFINE_string("workdir", None, "Workdir of a finished (or running) training.")
  flags.DEFINE_multi_string("eval", None, "An eval of the run's config (config.evals.<name>).")
  flags.DEFINE_multi_string("dataset", None, "Built data set, `name[:split]`: as the config's "
                            "eval over it, else typed by its builder (see the module docstring).")
  flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the run's).")
  flags.DEFINE_string("gallery", None, "Retrieval gallery, a built split `name[:split]` "
                      "(default: the config's retrieval.gallery; \"\" = none). Embedded by the "
                      "run's checkpoint into <workdir>/gallery once, then reused.")
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
  evals = chosen_evals(run.config, args.eval, args.dataset)
  if args.gallery is not None:
    run.config.retrieval.gallery = args.gallery
  geo_evals = any(ev.type == "geolocation" for ev in evals.values())
  gallery = gallery_lib.load_run_gallery(run) if geo_evals and run.tree else None
  evaluate_datasets(run.state, run.graphdef, run.tree, run.config, run.data_dir,
                    evals, sharding.batch_sharding(run.mesh),
                    train_coordinates, workdir=run.workdir,
                    landmark_ids=run.landmark_ids, gallery=gallery)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
