"""What every evaluator is given: the model under evaluation and the run around it."""

from __future__ import annotations

import dataclasses

import jax
import ml_collections
import numpy as np
from flax import nnx

from jaxgeo.geo import hierarchy as hierarchy_lib
from jaxgeo.retrieval import gallery as gallery_lib
from jaxgeo.run import workdir as workdir_lib


@dataclasses.dataclass(frozen=True)
class EvalContext:
  """The model under evaluation and what the evaluators need besides the eval itself."""
  state: dict
  graphdef: nnx.GraphDef
  hierarchy: hierarchy_lib.Hierarchy | None  # None for a landmarks-only run
  config: ml_collections.ConfigDict
  data_dir: str
  batch_sharding: jax.sharding.Sharding
  train_coordinates: tuple[np.ndarray, np.ndarray] | None = None  # for the baselines
  workdir: workdir_lib.Workdir | None = None  # for the per-image results
  landmark_ids: np.ndarray | None = None  # GLDv2 landmark id of each landmark class
  gallery: gallery_lib.Gallery | None = None  # for retrieval and hybrid answers
