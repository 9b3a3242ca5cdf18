"""A finished (or running) training, loaded back from its workdir.

The evaluator, the LocSens embedding extraction and the Predictor all need the same things from a
workdir: the config it was trained with, its partitions and hierarchy, the tag vocabulary, the
landmark ids, and the model restored from the latest checkpoint. They get them here, so a workdir
means one thing everywhere.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax
import ml_collections
import numpy as np
from etils import epath
from flax import nnx

from jaxgeo.data import landmark_ids as landmark_ids_lib, pipeline, vocab as vocab_lib
from jaxgeo.geo import hierarchy as hierarchy_lib, partitions as partitions_lib
from jaxgeo.models import geolocator
from jaxgeo.run import checkpointing, config_base, sharding, state as state_lib
from jaxgeo.run import workdir as workdir_lib

# Beside a relabelled landmark data set's shards (and copied into the workdir by the trainer).


@dataclasses.dataclass
class TrainedRun:
  """What a workdir holds, ready to predict with."""
  workdir: workdir_lib.Workdir
  config: ml_collections.ConfigDict
  data_dir: str
  hierarchy: hierarchy_lib.Hierarchy | None  # None for a landmarks-only run
  vocabulary: vocab_lib.TagVocabulary | None
  landmark_ids: np.ndarray | None  # GLDv2 landmark id of each landmark class
  graphdef: nnx.GraphDef
  state: dict[str, Any]  # params and rest (BatchNorm statistics); never an optimizer
  step: int
  mesh: jax.sharding.Mesh

  def model(self) -> geolocator.Geolocator:
    """The model in eval mode (a fresh merge: callers may keep it)."""
    model = nnx.merge(self.graphdef, self.state["params"], self.state["rest"], copy=True)
    model.eval()
    return model


def load_config(workdir: workdir_lib.PathLike | workdir_lib.Workdir) -> ml_collections.ConfigDict:
  """The config a run was trained with (`<workdir>/config.json`).

  Keys added since the run was written are filled with their defaults (logged), so the code can
  read every key of jaxgeo.run.config_base of any workdir.
  """
  path = workdir_lib.Workdir(workdir).config
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: is {workdir} the workdir of a jaxgeo run?")
  return config_base.fill_defaults(json.loads(path.read_text()), config_base.base(), str(path))


def data_dir_of(config: ml_collections.ConfigDict,
                workdir: workdir_lib.PathLike | workdir_lib.Workdir) -> str:
  """`config.data.dir`, or the workdir's own data dir."""
  return config.data.dir or str(workdir_lib.Workdir(workdir).tfds)


def landmark_source_of(config: ml_collections.ConfigDict) -> str:
  """The data set whose classes the landmark head predicts."""
  return config.data.landmarks or config.data.train


def dataset_landmark_ids(config: ml_collections.ConfigDict, data_dir: str) -> epath.Path:
  """The landmark ids file of the data set the landmark head learns."""
  return pipeline.dataset_dir(landmark_source_of(config), data_dir) / landmark_ids_lib.FILE


def landmark_ids_path(config: ml_collections.ConfigDict,
                      workdir: workdir_lib.PathLike | workdir_lib.Workdir,
                      data_dir: str) -> epath.Path:
  """The workdir's copy (written by the trainer) if present, else the data set's own file."""
  own = workdir_lib.Workdir(workdir).landmark_ids
  return own if own.exists() else dataset_landmark_ids(config, data_dir)


def load_tree(config: ml_collections.ConfigDict,
              workdir: workdir_lib.PathLike | workdir_lib.Workdir
              ) -> hierarchy_lib.Hierarchy | None:
  """The run's partitions (`<workdir>/partitions`) and their hierarchy; None without any."""
  workdir = workdir_lib.Workdir(workdir)
  if config.partitions is None:  # a landmarks-only run
    return None
  names = [partitions_lib.partition_name(config.partitions.tau_min, t)
           for t in config.partitions.tau_max]
  return hierarchy_lib.make_hierarchy(
      partitions_lib.load_partitions(workdir.partitions, names))


def load_trained_run(workdir: workdir_lib.PathLike | workdir_lib.Workdir,
                     data_dir: str | None = None, step: int | None = None) -> TrainedRun:
  """Config, partitions, vocabulary, landmark ids and the checkpointed model of a workdir.

  `step` picks a checkpoint (default: the latest). The parameters and statistics are restored
  onto the mesh of the run's config over the devices present now, whatever it was trained on;
  the optimizer state stays on disk (predicting needs none of it, and it is as large again).
  """
  workdir = workdir_lib.Workdir(workdir)
  config = load_config(workdir)
  data_dir = data_dir or data_dir_of(config, workdir)
  hierarchy = load_tree(config, workdir)
  landmark_ids = (landmark_ids_lib.read(landmark_ids_path(config, workdir, data_dir)).ids
                  if config.model.landmark_head else None)
  vocabulary = (vocab_lib.TagVocabulary.load(workdir.vocabulary)
                if config.model.tag_head and workdir.vocabulary.exists()
                else None)
  mesh = sharding.make_mesh(config.mesh)
  graphdef, abstract_model = state_lib.abstract_geolocator_model(
      config, {p.name: p.num_classes for p in (hierarchy.partitions if hierarchy else ())},
      len(vocabulary) if vocabulary else 0, mesh,
      len(landmark_ids) if landmark_ids is not None else 0)
  ckpt = checkpointing.Checkpointer(workdir.checkpoints, 1)
  try:
    step = ckpt.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"No checkpoint in {workdir.checkpoints}: has the run trained?")
    state = ckpt.restore_model(step, abstract_model)
  finally:
    ckpt.close()
  return TrainedRun(workdir=workdir, config=config, data_dir=data_dir, hierarchy=hierarchy,
                    vocabulary=vocabulary, landmark_ids=landmark_ids, graphdef=graphdef,
                    state=state, step=int(step), mesh=mesh)
