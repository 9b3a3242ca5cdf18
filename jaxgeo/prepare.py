"""Data preparation stages of the main job: the toy world and the S2 partitionings.

Each stage is skipped when its outputs already exist for the same settings (the toy world's
manifest, or a JSON stamp next to the partitions), so re-running a command resumes instead of
redoing finished work.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import ml_collections

from jaxgeo.data import synthetic
from jaxgeo.geo import partitions as partitions_lib

_STAMP = "jaxgeo_stage.json"


@dataclasses.dataclass
class PreparedData:
  """Where the prepared inputs of training are."""
  toy_world_dir: str | None
  partitions_dir: str
  partition_names: list[str]


def _stamp_matches(directory: str, settings: dict[str, Any]) -> bool:
  path = os.path.join(directory, _STAMP)
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return json.load(f) == settings


def _write_stamp(directory: str, settings: dict[str, Any]) -> None:
  with open(os.path.join(directory, _STAMP), "w") as f:
    json.dump(settings, f, indent=2, sort_keys=True)


def toy_world_config(config: ml_collections.ConfigDict) -> synthetic.ToyWorldConfig:
  """The generator's settings from the `toy_world` config section (plus the global seed)."""
  fields = {f.name for f in dataclasses.fields(synthetic.ToyWorldConfig)}
  values = {k: v for k, v in config.toy_world.items() if k not in ("enabled", "dir")}
  unknown = sorted(set(values) - fields)
  if unknown:
    raise ValueError(f"config.toy_world has unknown key(s) {unknown}; known: {sorted(fields)}.")
  values.setdefault("seed", config.seed)
  return synthetic.ToyWorldConfig(**values)


def make_toy_world(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Generates the toy world, or reuses it when it is complete with the same settings."""
  out_dir = config.toy_world.dir or os.path.join(workdir, "toy_world")
  world_config = toy_world_config(config)
  manifest_path = os.path.join(out_dir, "manifest.json")
  if os.path.exists(manifest_path):
    with open(manifest_path) as f:
      if json.load(f).get("config") == dataclasses.asdict(world_config):
        logging.info("Toy world: reusing %s (same settings).", out_dir)
        return out_dir
  logging.info("Toy world: generating %s into %s", world_config, out_dir)
  manifest = synthetic.generate_toy_world(out_dir, world_config)
  logging.info("Toy world: done in %.1f s.", manifest["generation"]["seconds"])
  return out_dir


def make_partitions(config: ml_collections.ConfigDict, workdir: str,
                    toy_world_dir: str | None) -> tuple[str, list[str]]:
  """Builds the partitionings of `config.partitions`, or reuses them if already built."""
  cfg = config.partitions
  input_csv = cfg.input_csv
  if not input_csv:
    if toy_world_dir is None:
      raise ValueError("config.partitions.input_csv is empty and the toy world is disabled; "
                       "set it to an MP-16-style meta CSV (IMG_ID,LAT,LON).")
    input_csv = os.path.join(toy_world_dir, "mp16", "mp16_places365.csv")
  out_dir = os.path.join(workdir, "partitions")
  names = [partitions_lib.partition_name(cfg.tau_min, t) for t in cfg.tau_max]
  stat = os.stat(input_csv)
  settings = {"input_csv": os.path.abspath(input_csv), "input_size": stat.st_size,
              "input_mtime_ns": stat.st_mtime_ns, "tau_min": cfg.tau_min,
              "tau_max": list(cfg.tau_max), "min_level": cfg.min_level}
  if _stamp_matches(out_dir, settings):
    logging.info("Partitions: reusing %s (same input and settings).", out_dir)
    return out_dir, names
  partitions_lib.build_partition_files(input_csv, out_dir, cfg.tau_min, list(cfg.tau_max),
                                       min_level=cfg.min_level)
  _write_stamp(out_dir, settings)
  return out_dir, names


def prepare_data(config: ml_collections.ConfigDict, workdir: str) -> PreparedData:
  """Runs the preparation stages in order and returns where their outputs are."""
  toy_world_dir = make_toy_world(config, workdir) if config.toy_world.enabled else None
  partitions_dir, names = make_partitions(config, workdir, toy_world_dir)
  return PreparedData(toy_world_dir=toy_world_dir, partitions_dir=partitions_dir,
                      partition_names=names)
