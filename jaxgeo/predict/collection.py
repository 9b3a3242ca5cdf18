"""Predicting a whole collection: shards over processes, photos decoded ahead, time accounted.

The inputs are listed once into a plan of shards (jaxgeo.predict.shards); each JAX process takes
every N-th shard, so the launch that trains on several hosts predicts on them too (SLURM, MPI,
pods, `JAXGEO_COORDINATOR`; jaxgeo.run.distributed). Within a process, worker threads read,
decode and crop the photos ahead of the batch that needs them, and each batch is split over the
process's devices (`Predictor.from_workdir(devices=...)`). Finished shards are never done again:
a stopped run, started again with the same command, does the rest and ends with the same files.
When all shards are finished, process 0 merges them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import tqdm
from absl import logging

from jaxgeo.data.raw import images as images_lib
from jaxgeo.predict import faces, formats, inputs as inputs_lib, shards as shards_lib, xmp
from jaxgeo.predict.answers import Prediction
from jaxgeo.predict.photos import LoadedPhoto
from jaxgeo.predict.predictor import Predictor
from jaxgeo.run import distributed

DEFAULT_SHARD_SIZE = 10_000
SECONDS = ("wall", "decode", "waiting", "model", "answers", "writing")


@dataclasses.dataclass(frozen=True)
class Options:
  """How each photo is answered and what is written beside it."""
  coarse: bool = False
  five_crop: bool = False
  online_names: bool = False
  write_xmp: bool = False
  xmp_dir: str | None = None


def _request(predictor: Predictor, specs: Sequence[str], input_lists: Sequence[str],
             data_dir: str | None, options: Options) -> dict[str, Any]:
  """What the plan records: a resumed run must ask for exactly this again."""
  return {"inputs": list(specs), "input_lists": list(input_lists), "data_dir": data_dir,
          "workdir": str(predictor.workdir or ""), "checkpoint_step": predictor.step,
          "top_k": predictor.top_k, "num_tags": predictor.num_tags,
          "landmark_threshold": predictor.landmark_threshold,
          "gallery": predictor.gallery.spec if predictor.has_gallery else "",
          **dataclasses.asdict(options)}


def ahead(items: Sequence[Any], load, pool: concurrent.futures.Executor, window: int,
           seconds: dict[str, float]) -> Iterator[Any]:
  """`load(item)` of each item, in order, computed by `pool` up to `window` items ahead;
  the time spent waiting for a result goes to seconds["waiting"]."""
  pending: collections.deque = collections.deque()
  items = iter(items)
  for item in items:
    pending.append(pool.submit(load, item))
    if len(pending) >= window:
      break
  while pending:
    start = time.perf_counter()
    result = pending.popleft().result()
    seconds["waiting"] += time.perf_counter() - start
    for item in items:  # one more in flight for each one taken
      pending.append(pool.submit(load, item))
      break
    yield result


def _write_sidecar(prediction: Prediction, photo: LoadedPhoto, path: str, xmp_dir: str | None,
                   sidecars: dict[str, Any]) -> None:
  """One photo's XMP sidecar, or the reason it gets none (counted in `sidecars`)."""
  target = xmp.sidecar_path(path, xmp_dir)
  try:
    faces_found = len(faces.face_boxes(photo.image))
  except ImportError:  # no detector weights: faces cannot be ruled out
    faces_found = None
  reason = xmp.sidecar_refusal(prediction, target, faces_found)
  if reason is None:
    try:
      xmp.write_sidecar(prediction, target)
    except OSError as e:  # a read-only folder, or a sidecar made meanwhile: named, not fatal
      reason = f"unwritable ({type(e).__name__})"
  if reason is None:
    sidecars["written"] += 1
    return
  sidecars["refused"][reason] = sidecars["refused"].get(reason, 0) + 1
  sidecars["refused_files"].append({"source": path, "reason": reason})


class _ShardRunner:
  """Predicts shards of one plan in this process: decode threads ahead, batches on devices."""

  def __init__(self, predictor: Predictor, plan: shards_lib.Plan, reader: inputs_lib.InputReader,
               options: Options, decode_threads: int):
    self.predictor, self.plan, self.reader, self.options = predictor, plan, reader, options
    self.decode_threads = decode_threads
    self.pool = concurrent.futures.ThreadPoolExecutor(decode_threads,
                                                      thread_name_prefix="jaxgeo-decode")
    self.header = formats.csv_header(predictor.partition_names)

  def _load(self, ref: inputs_lib.Ref):
    start = time.perf_counter()
    item = self.reader.read(ref)
    try:
      photo = self.predictor.prepare(item.photo, item.name, self.options.five_crop)
    except images_lib.BadImage as e:
      photo = e
    return item, photo, time.perf_counter() - start

  def run(self, shard: int, bar: tqdm.tqdm) -> dict[str, Any]:
    """Predicts one shard and writes its files, the report last; returns the report."""
    start = time.perf_counter()
    refs = self.plan.shard_refs(shard)
    self.reader.prepare(refs)
    seconds = dict.fromkeys(SECONDS, 0.0)
    skipped: list[dict[str, str]] = []
    sidecars: dict[str, Any] = {"written": 0, "refused": {}, "refused_files": []}
    writer = shards_lib.ShardWriter(self.plan, shard, self.header)
    predictor, options, names = self.predictor, self.options, self.predictor.partition_names
    predicted = 0
    batch: list[tuple[inputs_lib.Input, LoadedPhoto]] = []

    def flush() -> None:
      nonlocal predicted
      if not batch:
        return
      results = predictor.predict_batch(
          [photo for _, photo in batch], coarse=options.coarse, five_crop=options.five_crop,
          online_names=options.online_names, true_locations=[item.truth for item, _ in batch],
          seconds=seconds)
      written = time.perf_counter()
      for (item, photo), p in zip(batch, results):
        writer.write(formats.csv_row(p, names), formats.geojson_feature(p))
        if options.write_xmp and item.path is not None:
          _write_sidecar(p, photo, item.path, options.xmp_dir, sidecars)
      seconds["writing"] += time.perf_counter() - written
      predicted += len(results)
      bar.update(len(results))
      batch.clear()

    window = max(2 * predictor.batch_size, 4 * self.decode_threads)
    try:
      for item, photo, decode_s in ahead(refs, self._load, self.pool, window, seconds):
        seconds["decode"] += decode_s
        if isinstance(photo, images_lib.BadImage):
          skipped.append({"source": item.name, "reason": photo.reason, "detail": photo.detail})
          bar.update(1)
          continue
        batch.append((item, photo))
        if len(batch) == predictor.batch_size:
          flush()
      flush()
    except BaseException:
      writer.abandon()
      raise
    finished = time.perf_counter()
    writer.finish()
    seconds["writing"] += time.perf_counter() - finished
    seconds["wall"] = time.perf_counter() - start
    report = {"shard": shard, "inputs": len(refs), "predicted": predicted,
              "skipped": len(skipped), "skipped_files": skipped, "xmp": sidecars,
              "process": jax.process_index(), "seconds": seconds}
    shards_lib.write_atomically(self.plan.output(shard, "report"), json.dumps(report, indent=2))
    return report


def collection_report(plan: shards_lib.Plan, reports: Sequence[dict[str, Any]],
                      predictor: Predictor, options: Options, processes: int,
                      decode_threads: int) -> dict[str, Any]:
  """The whole run's report from its shards' (what `report.json` holds)."""
  skipped = [s for r in reports for s in r["skipped_files"]]
  reasons: dict[str, int] = {}
  for s in skipped:
    reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
  sidecars: dict[str, Any] = {"written": 0, "refused": {}, "refused_files": []}
  for r in reports:
    sidecars["written"] += r["xmp"]["written"]
    for reason, n in r["xmp"]["refused"].items():
      sidecars["refused"][reason] = sidecars["refused"].get(reason, 0) + n
    sidecars["refused_files"] += r["xmp"]["refused_files"]
  return {"inputs": plan.num_inputs, "predicted": sum(r["predicted"] for r in reports),
          "skipped": len(skipped), "skipped_by_reason": reasons, "skipped_files": skipped,
          "csv": os.path.join(plan.output_dir, shards_lib.CSV_FILE),
          "geojson": os.path.join(plan.output_dir, shards_lib.GEOJSON_FILE),
          "coarse": options.coarse, "checkpoint_step": predictor.step,
          "gallery": predictor.gallery.spec if predictor.has_gallery and not options.coarse
                     else "",
          "xmp": sidecars if options.write_xmp else None,
          "model": predictor.card.to_dict() if predictor.card else None,
          "shards": plan.num_shards, "shard_size": plan.shard_size, "processes": processes,
          "decode_threads": decode_threads,
          "seconds": {k: sum(r["seconds"][k] for r in reports) for k in SECONDS}}


def merge_outputs(plan: shards_lib.Plan, predictor: Predictor, options: Options,
                  processes: int, decode_threads: int) -> dict[str, Any]:
  """Merges the finished shards into the run's CSV, GeoJSON and report; returns the report."""
  reports = shards_lib.merge(plan, formats.csv_header(predictor.partition_names))
  report = collection_report(plan, reports, predictor, options, processes, decode_threads)
  shards_lib.write_atomically(os.path.join(plan.output_dir, shards_lib.REPORT_JSON),
                              json.dumps(report, indent=2))
  shards_lib.write_atomically(os.path.join(plan.output_dir, shards_lib.REPORT_TXT),
                              formats.format_report(report))
  return report


def predict_collection(predictor: Predictor, specs: Sequence[str], output_dir: str, *,
                       input_lists: Sequence[str] = (), data_dir: str | None = None,
                       options: Options = Options(), shard_size: int = DEFAULT_SHARD_SIZE,
                       decode_threads: int | None = None, progress: bool = True,
                       merge: bool = True) -> dict[str, Any]:
  """Predicts every input of `specs` and `input_lists` into `output_dir`, this process's share.

  Returns the merged report on the process that merged (process 0, when `merge`), else this
  process's own: {"shards_done", "shards_before", "predicted", "seconds"}.

  Raises:
    shards_lib.PlanMismatch: `output_dir` holds a run that asked for something else.
  """
  os.makedirs(output_dir, exist_ok=True)
  decode_threads = decode_threads or min(8, os.cpu_count() or 1)
  request = _request(predictor, specs, input_lists, data_dir, options)
  plan, reused = distributed.main_process_first(
      shards_lib.make_plan, output_dir, request, shard_size,
      lambda: inputs_lib.iter_refs(specs, data_dir, input_lists))
  index, count = jax.process_index(), jax.process_count()
  mine = plan.shards_of(index, count)
  before = [k for k in mine if plan.finished(k)]
  todo = [k for k in mine if k not in before]
  logging.info("Collection: %d inputs in %d shards (%s plan); process %d of %d takes %d "
               "shards, %d finished before, %d to do.", plan.num_inputs, plan.num_shards,
               "the existing" if reused else "a new", index, count, len(mine), len(before),
               len(todo))
  runner = _ShardRunner(predictor, plan, inputs_lib.InputReader(data_dir), options,
                        decode_threads)
  reports = []
  try:
    with tqdm.tqdm(total=sum(plan.shard_len(k) for k in todo), unit="photo",
                   dynamic_ncols=True, disable=not progress) as bar:
      for shard in todo:
        reports.append(runner.run(shard, bar))
  finally:
    runner.pool.shutdown(wait=False, cancel_futures=True)
  own = {"shards_done": len(todo), "shards_before": len(before),
         "predicted": sum(r["predicted"] for r in reports),
         "seconds": {k: sum(r["seconds"][k] for r in reports) for k in SECONDS}}
  if count > 1:
    distributed.wait_for_all("jaxgeo:predict_collection")
  if merge and index == 0:
    return merge_outputs(plan, predictor, options, count, decode_threads)
  return own
