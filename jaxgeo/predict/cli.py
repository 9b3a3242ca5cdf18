r"""Predictions for photos, folders, file lists and built test splits, as CSV and GeoJSON.

  python -m jaxgeo.predict --workdir runs/quickstart photos/ more.jpg \
      tfds:geo_testsets/im2gps3k:test

Runs `jaxgeo.predict.predictor.Predictor` (see there for what each answer holds) over files, folders
(recursively, by photo extension), file lists (`--input_list`, one path a line) and
`tfds:name:split`, and writes `predictions.csv`, `predictions.geojson` and `report.txt`/
`report.json` (files skipped, with the reason; where the time went) to `--output_dir`; bad files
never stop it. Photos of a data set split carry their labels, so the CSV gives each one's
distance to the truth.

Collections of any size: the inputs are cut into shards of `--shard_size`, each process of a
multi-host launch (as for training) takes its share, a stopped run started again with the same
command does only the shards it had not finished, and the shards are merged at the end
(jaxgeo.predict.collection). Shards made on hosts without a shared folder are merged by copying
them into one output folder and running the same command there once more: it finds every shard
finished and only merges.
"""

from __future__ import annotations

import os
import sys

import jax
from absl import app, flags

from jaxgeo.predict import collection, formats, shards
from jaxgeo.predict.predictor import DEFAULT_LANDMARK_THRESHOLD, Predictor
from jaxgeo.run import distributed, restore


def define_flags() -> None:
  """The command line's flags (`python -m jaxgeo.predict`, jaxgeo/predict/__main__.py)."""
  flags.DEFINE_string("workdir", None, "Workdir of a training run (its latest checkpoint).")
  flags.DEFINE_string("output_dir", "predictions", "Where predictions.csv/.geojson and the "
                      "report go.")
  flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the run's).")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
  flags.DEFINE_integer("batch_size", 16, "Photos per jitted batch of a process (split over "
                       "its devices).")
  flags.DEFINE_integer("top_k", 5, "Places (and index photos) per photo.")
  flags.DEFINE_integer("num_tags", 5, "Tags per photo.")
  flags.DEFINE_float("landmark_threshold", DEFAULT_LANDMARK_THRESHOLD,
                     "Below this confidence the answer is 'no landmark'.")
  flags.DEFINE_bool("five_crop", False, "Average the softmax over five crops.")
  flags.DEFINE_bool("coarse", False, "Coarse regions only: a 10-degree grid cell's centre and "
                    "the country; no cells, tags, landmark or index photos.")
  flags.DEFINE_bool("online_names", False, "Also ask OpenStreetMap's Nominatim for addresses "
                    "(sends coordinates over the network; 1 request/s).")
  flags.DEFINE_bool("write_xmp", False, "Write an XMP sidecar (photo.jpg.xmp) with the predicted "
                    "position for each photo file; the photo itself is never changed.")
  flags.DEFINE_string("xmp_dir", None, "With --write_xmp: the folder for the sidecars "
                      "(default: beside each photo).")
  flags.DEFINE_multi_string("input_list", [], "A file listing photos, one path a line "
                            "(relative ones to the current folder); may be repeated.")
  flags.DEFINE_integer("shard_size", collection.DEFAULT_SHARD_SIZE,
                       "Inputs per shard: the unit that processes share and that a stopped "
                       "run does again.")
  flags.DEFINE_integer("decode_threads", None, "Threads reading and decoding photos ahead of "
                       "the model (default: the CPUs, at most 8).")
  flags.DEFINE_bool("merge", True, "Merge the shards into predictions.csv/.geojson when all "
                    "are finished (process 0).")
  flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
  args = flags.FLAGS
  specs = argv[1:]
  if not specs and not args.input_list:
    raise app.UsageError("Give photos, folders or tfds:name:split after the flags, or "
                         "--input_list.")
  distributed.initialize_from_environment()  # before anything else touches JAX
  predictor = Predictor.from_workdir(
      args.workdir, data_dir=args.data_dir, step=args.step, batch_size=args.batch_size,
      top_k=args.top_k, num_tags=args.num_tags, landmark_threshold=args.landmark_threshold,
      five_crop=args.five_crop, devices=jax.local_devices())
  data_dir = args.data_dir or restore.data_dir_of(restore.load_config(args.workdir),
                                                  args.workdir)
  options = collection.Options(coarse=args.coarse, five_crop=args.five_crop,
                               online_names=args.online_names, write_xmp=args.write_xmp,
                               xmp_dir=args.xmp_dir)
  try:
    report = collection.predict_collection(
        predictor, specs, args.output_dir, input_lists=args.input_list, data_dir=data_dir,
        options=options, shard_size=args.shard_size, decode_threads=args.decode_threads,
        merge=args.merge)
  except (shards.PlanMismatch, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  if "csv" in report:  # this process merged the run
    sys.stdout.write(formats.format_report(report))
  else:
    sys.stdout.write(
        f"Process {jax.process_index()}: {report['shards_done']} shards predicted "
        f"({report['predicted']} photos), {report['shards_before']} finished before; "
        f"outputs in {os.path.join(args.output_dir, 'shards')}.\n")
