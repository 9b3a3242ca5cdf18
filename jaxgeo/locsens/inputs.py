"""What stage 2 (LocSens) reads from stage 1, in its own folder: the splits' image embeddings
(extracted by jaxgeo.run.embeddings) and the tag head's table of tag embeddings.

The tag embeddings are not per photo: `save_tag_embeddings` writes the tag head's classifier
weights (the paper's word-embedding stand-in) and the vocabulary beside the embedding shards.
"""

from __future__ import annotations

import jax
import numpy as np
from etils import epath

from jaxgeo.data import pipeline
from jaxgeo.run import workdir as workdir_lib


def save_tag_embeddings(run, workdir: workdir_lib.Workdir) -> None:
  """The tag head's classifier (kernel (E, V) transposed to (V, E), bias) and the vocabulary,
  into a stage-2 folder."""
  if jax.process_index() != 0:
    return
  classify = run.state["params"]["tag_head"]["classify"]
  workdir.make()
  kernel, bias = jax.device_get((classify["kernel"][...], classify["bias"][...]))
  workdir_lib.save_npy(workdir.tag_embeddings, np.asarray(kernel, np.float32).T)
  workdir_lib.save_npy(workdir.tag_bias, np.asarray(bias, np.float32))
  run.vocabulary.save(workdir.vocabulary)


def embeddings_dir(workdir: workdir_lib.Workdir, spec: str) -> epath.Path:
  """Where the embeddings of a split (`name[:split]`) go in a stage-2 folder."""
  return workdir.embeddings(*pipeline.parse_dataset(spec))


def load_tag_table(workdir: workdir_lib.Workdir) -> tuple[np.ndarray, np.ndarray]:
  """The tag head's tag embeddings and biases that `save_tag_embeddings` wrote."""
  return workdir_lib.load_npy(workdir.tag_embeddings), workdir_lib.load_npy(workdir.tag_bias)
