"""A finished (or running) training, loaded back from its workdir.

The evaluator, the LocSens embedding extraction and the Predictor all need the same things from a
workdir: the config it was trained with, its partitions and hierarchy, the tag vocabulary, the
landmark ids, and the model restored from the latest checkpoint. They get them here, so a workdir
means one thing everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from jaxgeo.data import pipeline, vocab as vocab_lib
from jaxgeo.geo import hierarchy as hierarchy_lib, partitions as partitions_lib
from jaxgeo.models import geolocator
from jaxgeo.run import checkpointing, optim, sharding, state as state_lib

LANDMARK_IDS_FILE = "landmark_ids.csv"
VOCABULARY_FILE = "vocabulary.txt"


@dataclasses.dataclass
class TrainedRun:
  """What a workdir holds, ready to predict with."""
  workdir: str
  config: ml_collections.ConfigDict
  data_dir: str
  tree: hierarchy_lib.Hierarchy | None  # None for a landmarks-only run
  vocabulary: vocab_lib.TagVocabulary | None
  landmark_ids: np.ndarray | None  # GLDv2 landmark id of each landmark class
  graphdef: nnx.GraphDef
  state: dict[str, Any]  # params, rest (BatchNorm statistics), opt_state, step
  step: int
  mesh: jax.sharding.Mesh

  def model(self) -> geolocator.Geolocator:
    """The model in eval mode (a fresh merge: callers may keep it)."""
    model = nnx.merge(self.graphdef, self.state["params"], self.state["rest"], copy=True)
    model.eval()
    return model


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run was trained with (`<workdir>/config.json`)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: is {workdir} the workdir of a jaxgeo run?")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def data_dir_of(config: ml_collections.ConfigDict, workdir: str) -> str:
  return config.data.dir or os.path.join(workdir, "tfds")


def landmark_source_of(config: ml_collections.ConfigDict) -> str:
  """The data set whose classes the landmark head predicts."""
  return config.data.get("landmarks") or config.data.train


def read_landmark_ids(path: str) -> np.ndarray:
  """GLDv2 landmark id of each class, from a relabelled data set's `landmark_ids.csv`."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: the landmark head needs a data set with "
                            "contiguous landmark ids, such as gldv2/train_clean.")
  with open(path) as f:
    rows = [line.split(",") for line in f.read().splitlines()[1:] if line]
  ids = np.full(len(rows), -1, dtype=np.int64)
  for number, row in enumerate(rows, start=2):
    try:
      ids[int(row[0])] = int(row[1])
    except (ValueError, IndexError) as e:
      raise ValueError(f"{path}:{number}: expected 'class,landmark_id', got {row}") from e
  return ids


def landmark_ids_path(config: ml_collections.ConfigDict, workdir: str, data_dir: str) -> str:
  """The workdir's copy (written by the trainer) if present, else the data set's own file."""
  own = os.path.join(workdir, LANDMARK_IDS_FILE)
  if os.path.exists(own):
    return own
  return os.path.join(pipeline.dataset_dir(landmark_source_of(config), data_dir),
                      LANDMARK_IDS_FILE)


def load_tree(config: ml_collections.ConfigDict,
              workdir: str) -> hierarchy_lib.Hierarchy | None:
  """The run's partitions (`<workdir>/partitions`) and their hierarchy; None without any."""
  if not config.get("partitions"):
    return None
  names = [partitions_lib.partition_name(config.partitions.tau_min, t)
           for t in config.partitions.tau_max]
  return hierarchy_lib.make_hierarchy(
      partitions_lib.load_partitions(os.path.join(workdir, "partitions"), names))


def load_trained_run(workdir: str, data_dir: str | None = None,
                     step: int | None = None) -> TrainedRun:
  """Config, partitions, vocabulary, landmark ids and the checkpointed state of a workdir.

  `step` picks a checkpoint (default: the latest). The state is restored onto the mesh of the
  run's config over the devices present now, whatever it was trained on.
  """
  config = load_config(workdir)
  data_dir = data_dir or data_dir_of(config, workdir)
  tree = load_tree(config, workdir)
  landmark_ids = (read_landmark_ids(landmark_ids_path(config, workdir, data_dir))
                  if config.model.get("landmark_head", False) else None)
  vocabulary_path = os.path.join(workdir, VOCABULARY_FILE)
  vocabulary = (vocab_lib.TagVocabulary.load(vocabulary_path)
                if config.model.get("tag_head", True) and os.path.exists(vocabulary_path)
                else None)
  mesh = sharding.make_mesh(config.mesh)
  tx = optim.make_optimizer(config.optim, optim.make_learning_rate_schedule(config.optim, 1, 1))
  graphdef, state, _ = state_lib.create_geolocator_state(
      config, {p.name: p.num_classes for p in (tree.partitions if tree else ())},
      len(vocabulary) if vocabulary else 0, tx, mesh,
      len(landmark_ids) if landmark_ids is not None else 0)
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), 1)
  try:
    step = ckpt.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"No checkpoint in {workdir}/checkpoints: has the run trained?")
    state, _ = ckpt.restore(step, state_lib.abstract_like(state), None)
  finally:
    ckpt.close()
  return TrainedRun(workdir=workdir, config=config, data_dir=data_dir, tree=tree,
                    vocabulary=vocabulary, landmark_ids=landmark_ids, graphdef=graphdef,
                    state=state, step=int(step), mesh=mesh)
