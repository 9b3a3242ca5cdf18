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

from collections.abc import Mapping, Sequence

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging
from flax import nnx

from jaxgeo import prepare
from jaxgeo.data import pipeline
from jaxgeo.evaluators import common, geolocation, landmarks
from jaxgeo.geo import coordinate_csv, distance, hierarchy as hierarchy_lib
from jaxgeo.retrieval import gallery as gallery_lib
from jaxgeo.run import config_base, restore, sharding, workdir as workdir_lib


# The evaluator of each eval type (`config.evals.<name>.type`): (context, the eval, its data's
# source) -> metrics by predictor. jaxgeo.run.config_base.EVAL_OPTIONS has each type's options.
EVALUATORS = {"geolocation": geolocation.geolocation_eval,
              "landmarks": landmarks.landmarks_eval}


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


def evaluate_datasets(state: dict, graphdef: nnx.GraphDef,
                      hierarchy: hierarchy_lib.Hierarchy | None,
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
  context = common.EvalContext(state, graphdef, hierarchy, config, data_dir, batch_sharding,
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
                       if run.hierarchy else None)
  evals = chosen_evals(run.config, args.eval, args.dataset)
  if args.gallery is not None:
    run.config.retrieval.gallery = args.gallery
  geo_evals = any(ev.type == "geolocation" for ev in evals.values())
  gallery = gallery_lib.load_run_gallery(run) if geo_evals and run.hierarchy else None
  evaluate_datasets(run.state, run.graphdef, run.hierarchy, run.config, run.data_dir,
                    evals, sharding.batch_sharding(run.mesh),
                    train_coordinates, workdir=run.workdir,
                    landmark_ids=run.landmark_ids, gallery=gallery)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
