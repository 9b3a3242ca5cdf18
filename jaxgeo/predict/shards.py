"""A collection's run on disk: its plan, its shards' answers, and the merged files.

  <output_dir>/plan.json                  what was asked, and how many inputs and shards there are
  <output_dir>/inputs/00000.jsonl         shard 0's inputs, one reference a line (jaxgeo.predict
                                          .inputs), in listing order
  <output_dir>/shards/predictions-00000-of-00012.csv, .geojson    shard 0's answers
  <output_dir>/shards/report-00000-of-00012.json                  its report, written last
  <output_dir>/predictions.csv, predictions.geojson, report.json, report.txt    all shards, merged

The plan is written once, by one process, before any photo is read; every process and every
resumed run then reads the same shards from it, so a run's files never depend on how many
processes made them or how often the run was stopped. A shard is finished when its report
exists: its answers are renamed into place first, so a stopped run leaves at most unfinished
`.tmp` files behind, and those shards are done again from their start.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jaxgeo.predict import inputs as inputs_lib

PLAN_FILE = "plan.json"
CSV_FILE, GEOJSON_FILE = "predictions.csv", "predictions.geojson"
REPORT_JSON, REPORT_TXT = "report.json", "report.txt"
GEOJSON_HEAD, GEOJSON_TAIL = '{"type": "FeatureCollection", "features": [\n', "\n]}\n"


def write_atomically(path: str, text: str) -> None:
  """Writes a whole file under a temporary name, then renames it: readers see all or nothing."""
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8", newline="") as f:
    f.write(text)
  os.replace(tmp, path)


class PlanMismatch(ValueError):
  """The output folder holds a run that asked for something else."""


@dataclasses.dataclass(frozen=True)
class Plan:
  """How a collection is cut into shards of `shard_size` inputs (the last one may be shorter)."""
  output_dir: str
  request: dict[str, Any]  # the inputs and every option that changes an answer
  shard_size: int
  num_inputs: int
  num_shards: int

  def shard_len(self, shard: int) -> int:
    return min(self.shard_size, self.num_inputs - shard * self.shard_size)

  def inputs_path(self, shard: int) -> str:
    return os.path.join(self.output_dir, "inputs", f"{shard:05d}.jsonl")

  def shard_refs(self, shard: int) -> list[inputs_lib.Ref]:
    with open(self.inputs_path(shard), encoding="utf-8") as f:
      return [inputs_lib.decode_ref(line) for line in f]

  def output(self, shard: int, kind: str) -> str:
    """A shard's file: kind `csv`, `geojson` (its answers) or `report` (.json)."""
    stem = "report" if kind == "report" else "predictions"
    ext = "json" if kind == "report" else kind
    return os.path.join(self.output_dir, "shards",
                        f"{stem}-{shard:05d}-of-{self.num_shards:05d}.{ext}")

  def finished(self, shard: int) -> bool:
    return os.path.exists(self.output(shard, "report"))

  def shards_of(self, process_index: int, process_count: int) -> list[int]:
    """The shards one process takes: every `process_count`-th, from its index."""
    return list(range(process_index, self.num_shards, process_count))


def _describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
  keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
  return "; ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys)


def make_plan(output_dir: str, request: dict[str, Any], shard_size: int,
              list_refs: Callable[[], Iterable[inputs_lib.Ref]]) -> tuple[Plan, bool]:
  """The run's plan: the one in `output_dir` if there is one (True), else a new one (False).

  A new plan streams `list_refs()` into one input file per shard, so listing holds one shard's
  references at a time however large the collection is.

  Raises:
    PlanMismatch: `output_dir` holds a run over other inputs or with other options.
  """
  if shard_size < 1:
    raise ValueError(f"shard_size must be at least 1, got {shard_size}.")
  path = os.path.join(output_dir, PLAN_FILE)
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
    if saved["request"] != request or saved["shard_size"] != shard_size:
      difference = _describe_difference({**saved["request"], "shard_size": saved["shard_size"]},
                                        {**request, "shard_size": shard_size})
      raise PlanMismatch(
          f"{output_dir} holds a run that asked for something else ({difference}). Resume it "
          "with the same inputs and options, or give another --output_dir.")
    return Plan(output_dir, request, shard_size, saved["num_inputs"], saved["num_shards"]), True
  shutil.rmtree(os.path.join(output_dir, "inputs"), ignore_errors=True)  # an unfinished listing
  shutil.rmtree(os.path.join(output_dir, "shards"), ignore_errors=True)
  os.makedirs(os.path.join(output_dir, "inputs"))
  plan = Plan(output_dir, request, shard_size, 0, 0)
  count, shard, lines = 0, 0, []
  for ref in list_refs():
    lines.append(inputs_lib.encode_ref(ref) + "\n")
    count += 1
    if len(lines) == shard_size:
      write_atomically(plan.inputs_path(shard), "".join(lines))
      shard, lines = shard + 1, []
  if lines:
    write_atomically(plan.inputs_path(shard), "".join(lines))
    shard += 1
  os.makedirs(os.path.join(output_dir, "shards"))
  write_atomically(path, json.dumps({"request": request, "shard_size": shard_size,
                                     "num_inputs": count, "num_shards": shard}, indent=2))
  return dataclasses.replace(plan, num_inputs=count, num_shards=shard), False


class ShardWriter:
  """One shard's CSV and GeoJSON, written under temporary names and renamed when finished."""

  def __init__(self, plan: Plan, shard: int, header: list[str]):
    self._paths = [plan.output(shard, "csv"), plan.output(shard, "geojson")]
    for path in self._paths:  # what a stopped run left
      if os.path.exists(f"{path}.tmp"):
        os.remove(f"{path}.tmp")
    self._csv = open(f"{self._paths[0]}.tmp", "w", encoding="utf-8", newline="")
    self._geo = open(f"{self._paths[1]}.tmp", "w", encoding="utf-8")
    self._rows = csv.writer(self._csv)
    self._rows.writerow(header)
    self._geo.write(GEOJSON_HEAD)
    self._first = True

  def write(self, row: list[str], feature: dict[str, Any]) -> None:
    self._rows.writerow(row)
    # One feature a line, so that the merge can stream them.
    self._geo.write(("" if self._first else ",\n") + json.dumps(feature))
    self._first = False

  def finish(self) -> None:
    self._geo.write(GEOJSON_TAIL)
    for f, path in zip((self._csv, self._geo), self._paths):
      f.close()
      os.replace(f"{path}.tmp", path)

  def abandon(self) -> None:
    for f in (self._csv, self._geo):
      f.close()


def _shard_features(path: str) -> Iterator[str]:
  """The feature lines of a shard's GeoJSON (ShardWriter writes one a line between its head
  line and its tail)."""
  with open(path, encoding="utf-8") as f:
    f.readline()  # the head
    for line in f:
      line = line.rstrip("\n")
      if line == GEOJSON_TAIL.strip():
        break
      if line:
        yield line.rstrip(",")


def missing_shards(plan: Plan) -> list[int]:
  return [k for k in range(plan.num_shards) if not plan.finished(k)]


def merge(plan: Plan, header: list[str]) -> list[dict[str, Any]]:
  """Writes the merged CSV and GeoJSON from every shard, in shard order; returns the shards'
  reports. Streams: memory does not grow with the collection.

  Raises:
    FileNotFoundError: a shard is not finished (or was made on another machine); names them.
  """
  missing = missing_shards(plan)
  if missing:
    shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
    raise FileNotFoundError(
        f"{len(missing)} of {plan.num_shards} shards are not finished in "
        f"{os.path.join(plan.output_dir, 'shards')} (shards {shown}). Run the same command "
        "again to finish them; shards made on other machines must be copied there first.")
  csv_path = os.path.join(plan.output_dir, CSV_FILE)
  geo_path = os.path.join(plan.output_dir, GEOJSON_FILE)
  with open(f"{csv_path}.tmp", "w", encoding="utf-8", newline="") as out:
    csv.writer(out).writerow(header)
    for k in range(plan.num_shards):
      with open(plan.output(k, "csv"), encoding="utf-8", newline="") as f:
        f.readline()  # the shard's header
        shutil.copyfileobj(f, out)
  with open(f"{geo_path}.tmp", "w", encoding="utf-8") as out:
    out.write(GEOJSON_HEAD)
    first = True
    for k in range(plan.num_shards):
      for line in _shard_features(plan.output(k, "geojson")):
        out.write(("" if first else ",\n") + line)
        first = False
    out.write(GEOJSON_TAIL)
  os.replace(f"{csv_path}.tmp", csv_path)
  os.replace(f"{geo_path}.tmp", geo_path)
  reports = []
  for k in range(plan.num_shards):
    with open(plan.output(k, "report"), encoding="utf-8") as f:
      reports.append(json.load(f))
  return reports
