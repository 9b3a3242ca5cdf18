"""Data preparation stages of the main job: toy world, TFDS data sets, S2 partitionings.

The toy world is built with the same TFDS builders a user runs on the real raw files
(`tfds build tfds_builders/<name>`), so the quickstart exercises the real data path. Each stage
is skipped when its outputs already exist for the same settings (the toy world's manifest, TFDS's
own prepared-data check, or a JSON stamp), so re-running a command resumes instead of redoing
finished work.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from jaxgeo.data import pipeline
from jaxgeo.geo import partitions as partitions_lib
from jaxgeo.run import restore, workdir as workdir_lib
from jaxgeo.toy_world import generator
from jaxgeo.toy_world.config import ToyWorldConfig
from tfds_builders.geo_testsets import geo_testsets_dataset_builder
from tfds_builders.gldv2 import gldv2_dataset_builder
from tfds_builders.yfcc100m_geo import yfcc100m_geo_dataset_builder

_STAMP = "jaxgeo_stage.json"


# The toy world's data sets: TFDS name -> (builder module, folder of the raw files in the world).
TOY_WORLD_DATASETS = {
    "yfcc100m_geo/yfcc100m": (yfcc100m_geo_dataset_builder, "yfcc100m"),
    "geo_testsets/im2gps3k": (geo_testsets_dataset_builder, ""),
    "geo_testsets/yfcc4k": (geo_testsets_dataset_builder, ""),
    "gldv2/train_clean": (gldv2_dataset_builder, "gldv2"),
    "gldv2/index": (gldv2_dataset_builder, "gldv2"),
    "gldv2/test": (gldv2_dataset_builder, "gldv2"),
}


@dataclasses.dataclass
class PreparedData:
  """Where the prepared inputs of training are."""
  toy_world_dir: str | None
  data_dir: str
  partitions_dir: epath.Path | None
  partition_names: list[str]


def _stamp_matches(directory: epath.Path, settings: dict[str, Any]) -> bool:
  path = directory / _STAMP
  return path.exists() and workdir_lib.read_json(path) == settings


def _write_stamp(directory: epath.Path, settings: dict[str, Any]) -> None:
  # Atomic (write + rename): another process reading it never sees a half-written stamp.
  tmp = directory / f"{_STAMP}.{os.getpid()}.tmp"
  tmp.write_text(json.dumps(settings, indent=2, sort_keys=True))
  tmp.replace(directory / _STAMP)


def toy_world_config(config: ml_collections.ConfigDict) -> ToyWorldConfig:
  """The generator's settings from the `toy_world` config section (plus the global seed)."""
  fields = {f.name for f in dataclasses.fields(ToyWorldConfig)}
  values = {k: v for k, v in config.toy_world.items() if k not in ("enabled", "dir")}
  unknown = sorted(set(values) - fields)
  if unknown:
    raise ValueError(f"config.toy_world has unknown key(s) {unknown}; known: {sorted(fields)}.")
  values.setdefault("seed", config.seed)
  return ToyWorldConfig(**values)


def make_toy_world(config: ml_collections.ConfigDict, workdir: workdir_lib.Workdir) -> str:
  """Generates the toy world, or reuses it when it is complete with the same settings."""
  out_dir = config.toy_world.dir or str(workdir.toy_world)
  if workdir_lib.is_remote(out_dir):
    raise ValueError(f"The toy world is generated on local disk, not in {out_dir}: set "
                     "--config.toy_world.dir to a local folder (the data sets built from it may "
                     "still go to a bucket, --config.data.dir).")
  world_config = toy_world_config(config)
  manifest_path = os.path.join(out_dir, "manifest.json")
  if os.path.exists(manifest_path):
    with open(manifest_path) as f:
      if json.load(f).get("config") == dataclasses.asdict(world_config):
        logging.info("Toy world: reusing %s (same settings).", out_dir)
        return out_dir
  logging.info("Toy world: generating %s into %s", world_config, out_dir)
  manifest = generator.generate_toy_world(out_dir, world_config)
  logging.info("Toy world: done in %.1f s.", manifest["generation"]["seconds"])
  return out_dir


def build_toy_world_datasets(toy_world_dir: str, data_dir: str) -> None:
  """Builds every toy-world data set with its TFDS builder (ArrayRecord, no TensorFlow).

  Data sets built from another toy world (other settings) are removed first: TFDS would
  otherwise reuse them as they are.
  """
  with open(os.path.join(toy_world_dir, "manifest.json")) as f:
    settings = {"toy_world": json.load(f)["config"]}
  data_path = epath.Path(data_dir)
  if data_path.is_dir() and not _stamp_matches(data_path, settings):
    for name in TOY_WORLD_DATASETS:
      if (data_path / name).exists():
        (data_path / name).rmtree()
  data_path.mkdir(parents=True, exist_ok=True)
  for name, (module, folder) in TOY_WORLD_DATASETS.items():
    builder = module.Builder(config=name.split("/")[1], data_dir=data_dir,
                             file_format="array_record")
    reused = builder.is_prepared()
    if not reused:
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
          manual_dir=os.path.join(toy_world_dir, folder)))
    logging.info("Data set %s: %s %s in %s", name, "reusing" if reused else "built",
                 {k: v.num_examples for k, v in builder.info.splits.items()}, builder.data_dir)
  _write_stamp(data_path, settings)


def split_coordinates(name: str, split: str, data_dir: str) -> tuple[np.ndarray, np.ndarray]:
  """Latitudes and longitudes of a built split (one pass over its records)."""
  source = pipeline.open_split(name, split, data_dir)
  coords = np.array([(ex["latitude"], ex["longitude"])
                     for ex in (source[i] for i in range(len(source)))], dtype=np.float64)
  return coords[:, 0], coords[:, 1]


def make_partitions(config: ml_collections.ConfigDict, workdir: workdir_lib.Workdir,
                    data_dir: str) -> tuple[epath.Path | None, list[str]]:
  """Builds the partitionings of `config.partitions`, or reuses them if already built.

  From `partitions.input_csv` (an MP-16-style meta CSV) when set, else from the coordinates of
  the training split of `data.train`, so validation photos never shape the cells.
  """
  cfg = config.partitions
  if cfg is None:  # e.g. a landmarks-only run
    return None, []
  out_dir = workdir.partitions
  names = [partitions_lib.partition_name(cfg.tau_min, t) for t in cfg.tau_max]
  settings = {"tau_min": cfg.tau_min, "tau_max": list(cfg.tau_max),
              "min_level": cfg.min_level}
  if cfg.input_csv:
    input_csv = epath.Path(cfg.input_csv)
    input_csv = input_csv if workdir_lib.is_remote(input_csv) else input_csv.absolute()
    stat = input_csv.stat()
    settings.update(input=str(input_csv), input_size=stat.length, input_mtime=stat.mtime,
                    coordinate_columns=cfg.coordinate_columns)
  else:
    try:
      info = pipeline.dataset_dir(config.data.train, data_dir) / "dataset_info.json"
    except FileNotFoundError as e:
      raise FileNotFoundError(f"{e} Or set --config.partitions.input_csv.") from None
    settings.update(input=f"{config.data.train}:train", input_mtime=info.stat().mtime)
  if _stamp_matches(out_dir, settings):
    logging.info("Partitions: reusing %s (same input and settings).", out_dir)
    return out_dir, names
  if cfg.input_csv:
    partitions_lib.build_partition_files(cfg.input_csv, out_dir, cfg.tau_min,
                                         list(cfg.tau_max), min_level=cfg.min_level,
                                         coordinate_columns=cfg.coordinate_columns)
  else:
    lat, lon = split_coordinates(config.data.train, "train", data_dir)
    parts, classes = partitions_lib.build_partitions(lat, lon, cfg.tau_min, list(cfg.tau_max),
                                                     min_level=cfg.min_level)
    out_dir.mkdir(parents=True, exist_ok=True)
    for part, column in zip(parts, classes.T):
      part.to_csv(out_dir / f"{part.name}.csv", num_images=lat.size)
      logging.info("%s: %d classes, %d of %d training photos in a kept cell", part.name,
                   part.num_classes, int((column >= 0).sum()), lat.size)
  _write_stamp(out_dir, settings)
  return out_dir, names


def prepare_data(config: ml_collections.ConfigDict,
                 workdir: workdir_lib.PathLike | workdir_lib.Workdir) -> PreparedData:
  """Runs the preparation stages in order and returns where their outputs are."""
  workdir = workdir_lib.Workdir(workdir)
  data_dir = restore.data_dir_of(config, workdir)
  toy_world_dir = None
  if config.toy_world.enabled:
    toy_world_dir = make_toy_world(config, workdir)
    build_toy_world_datasets(toy_world_dir, data_dir)
  partitions_dir, names = make_partitions(config, workdir, data_dir)
  return PreparedData(toy_world_dir=toy_world_dir, data_dir=data_dir,
                      partitions_dir=partitions_dir, partition_names=names)
