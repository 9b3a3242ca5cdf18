"""The retrieval gallery: geotagged photos embedded by a trained model, searchable on the devices.

A gallery is a built split (the training photos by default, or any split a user names), its
photos' pooled backbone embeddings extracted once by the run's checkpoint with the sharded,
resumable extraction of jaxgeo.run.embeddings (a rerun finishes an interrupted one), kept in
`<workdir>/gallery/<data set>_<split>/step_<N>/` with each photo's coordinates, id and
photographer. Loaded, the embeddings go onto the devices as an ExactIndex (bfloat16 by default:
MP-16's 4.7M x 768 in 7 GB), and each photo's finest cell is looked up for the hybrid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from jaxgeo.data import pipeline
from jaxgeo.geo import hierarchy as hierarchy_lib
from jaxgeo.retrieval import geolocate, knn, near_copies
from jaxgeo.run import embeddings as embeddings_lib, workdir as workdir_lib

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass
class Neighbours:
  """The K nearest gallery photos of each of Q queries, best first."""
  similarity: np.ndarray  # (Q, K) cosine
  row: np.ndarray  # (Q, K) gallery rows
  latitude: np.ndarray  # (Q, K)
  longitude: np.ndarray
  cell: np.ndarray  # (Q, K) finest-partition class, -1 outside all cells


@dataclasses.dataclass
class Gallery:
  """Geotagged gallery photos and their index.

  Attributes:
    index: the embeddings on the devices (row i = photo i).
    latitude, longitude: (N,) float64 degrees.
    photo_id, user: (N,) str; user is the photographer ("" where the data set names none).
    record: (N,) the photo's record number in its split (to show the photo itself).
    cell: (N,) the finest partition's class of each photo, -1 outside all cells.
    spec: the split, `name:split`.
    near_copies: the near-duplicate calibration (jaxgeo.retrieval.near_copies: `threshold`,
      `near_copies_caught`, ...), None if it was never measured.
  """
  index: knn.ExactIndex
  latitude: np.ndarray
  longitude: np.ndarray
  photo_id: np.ndarray
  user: np.ndarray
  record: np.ndarray
  cell: np.ndarray
  spec: str
  near_copies: dict | None = None
  data_dir: str = ""  # where the split is built (to show its photos)

  def __len__(self) -> int:
    return len(self.latitude)

  def photo(self, record: int) -> bytes:
    """The JPEG bytes of the gallery photo of split record `record` (e.g. to show it)."""
    name, split = pipeline.parse_dataset(self.spec)
    return pipeline.open_split(name, split, self.data_dir)[int(record)]["image"]

  def search(self, queries: np.ndarray, k: int) -> Neighbours:
    """The k nearest gallery photos of each (Q, D) query embedding."""
    similarity, row = self.index.search(queries, k=k)
    return Neighbours(similarity, row, self.latitude[row], self.longitude[row], self.cell[row])


def gallery_spec(config: ml_collections.ConfigDict) -> str | None:
  """The run's gallery split (`name:split`; a bare name means its train split), None without
  one."""
  spec = config.retrieval.gallery
  if not spec:
    return None
  name, _, split = spec.partition(":")
  return f"{name}:{split or 'train'}"


def gallery_dir(run, name: str, split: str) -> epath.Path:
  """Where a run's gallery of `name:split` is: on a frozen backbone, the embeddings its heads
  trained on when they cover the split (the same vectors: extracting MP-16 again would cost an
  hour on a GPU), else `<workdir>/gallery/<name>_<split>/step_<checkpoint>`."""
  frozen = run.workdir.embeddings(name, split)
  if run.config.model.freeze_backbone and embeddings_lib.is_complete(frozen):
    return frozen
  return run.workdir.gallery(name, split, run.step)


def build_gallery(run, spec: str) -> epath.Path:
  """Extracts (or completes) the embeddings of the gallery split with `run`'s checkpoint, and
  calibrates its near-copy threshold.

  Args:
    run: a jaxgeo.run.restore.TrainedRun.
    spec: the split, `name:split`.

  Returns:
    the gallery's folder.
  """
  name, split = pipeline.parse_dataset(spec)
  config = run.config
  out_dir = gallery_dir(run, name, split)
  if out_dir == run.workdir.embeddings(name, split):
    logging.info("Gallery %s: the frozen backbone's embeddings of training, %s.", spec, out_dir)
  else:
    embeddings_lib.extract_embeddings(
        run, name, split, out_dir, batch_size=config.eval_batch_size,
        shard_size=config.retrieval.shard_size, output="embedding",
        manifest_extra={"backbone": config.model.backbone, "image_size": config.image_size})
  near_copies.calibrate(run, name, split, out_dir)
  if jax.process_count() > 1:  # process 0 wrote the files; the others read them next
    multihost_utils.sync_global_devices(f"jaxgeo:gallery:{out_dir}")
  return out_dir


def load_gallery(path: workdir_lib.PathLike, hierarchy: hierarchy_lib.Hierarchy | None,
                 devices: Sequence[jax.Device], dtype: str = "bfloat16", chunk: int = 16384,
                 data_dir: str = "") -> Gallery:
  """A built gallery folder as an index over `devices`.

  Photos without coordinates cannot answer a place: they are left out, and their number is
  logged.
  """
  path = epath.Path(path)
  manifest = workdir_lib.read_json(path / embeddings_lib.MANIFEST)
  photos = embeddings_lib.load_embeddings(path, image_dtype=DTYPES[dtype])
  located = np.isfinite(photos.latitude) & np.isfinite(photos.longitude)
  record = np.flatnonzero(located)
  if not located.all():
    logging.warning("Gallery %s: %d of %d photos have no coordinates and are left out.", path,
                    int((~located).sum()), len(located))
  embeddings = photos.image if located.all() else photos.image[record]
  latitude, longitude = photos.latitude[record], photos.longitude[record]
  cell = (hierarchy.finest.classify(latitude, longitude).astype(np.int32) if hierarchy
          else np.full(len(record), -1, np.int32))
  index = knn.ExactIndex(embeddings, mesh=jax.make_mesh((len(devices),), (knn.AXIS,),
                                                        devices=list(devices)),
                         dtype=DTYPES[dtype], chunk=chunk)
  logging.info("Gallery %s:%s (step %d): %d photos, %d-d %s, on %d device(s), searched by %s.",
               manifest["dataset"], manifest["split"], manifest["stage1_step"], len(record),
               index.dim, dtype, len(devices),
               "FAISS IndexFlatIP" if index.backend == "faiss" else "XLA")
  calibration = path / near_copies.FILE
  return Gallery(index, latitude, longitude, photos.photo_id[record], photos.user[record],
                 record, cell, f"{manifest['dataset']}:{manifest['split']}",
                 workdir_lib.read_json(calibration) if calibration.exists() else None, data_dir)


def load_run_gallery(run, build: bool = True,
                     devices: Sequence[jax.Device] | None = None) -> Gallery | None:
  """The gallery of a run's config for its checkpoint (built first if `build`), or None when the
  config names none or, not building, it has not been built.

  It is searched on `devices` (default: the run's mesh, every process's devices; a process
  that searches alone, as the batch CLI's do, gives its own `jax.local_devices()`).
  """
  spec = gallery_spec(run.config)
  if spec is None:
    return None
  name, split = pipeline.parse_dataset(spec)
  path = gallery_dir(run, name, split)
  if build:
    build_gallery(run, spec)
  elif not embeddings_lib.is_complete(path):
    logging.info("No complete gallery of %s for step %d in %s: predicting without retrieval "
                 "(`python -m jaxgeo.evaluate --workdir %s` builds it).", spec, run.step, path,
                 run.workdir)
    return None
  return load_gallery(path, run.hierarchy, devices or list(run.mesh.devices.flatten()),
                      run.config.retrieval.dtype, run.config.retrieval.chunk, run.data_dir)


@dataclasses.dataclass(frozen=True)
class Answers:
  """The retrieval and hybrid answers of Q queries, with the neighbours they came from."""
  neighbours: Neighbours
  retrieval: geolocate.Vote
  hybrid: geolocate.Vote | None  # None without partitions


def answer(gallery: Gallery, settings: ml_collections.ConfigDict, embeddings: np.ndarray,
           hierarchy: hierarchy_lib.Hierarchy | None = None, top_cells: np.ndarray | None = None,
           top_log_probs: np.ndarray | None = None) -> Answers:
  """Retrieval (the nearest `num_neighbours`) and, given the hierarchy's top cells, hybrid
  (the nearest `hybrid_neighbours` inside them) answers, as `settings` (a run config's
  `retrieval` section) say."""
  k = max(settings.num_neighbours, settings.hybrid_neighbours if hierarchy is not None else 0)
  found = gallery.search(embeddings, k)
  n = settings.num_neighbours
  retrieval = geolocate.retrieval(found.similarity[:, :n], found.latitude[:, :n],
                                  found.longitude[:, :n], radius_km=settings.radius_km,
                                  refine_radius_km=settings.refine_radius_km,
                                  temperature=settings.temperature)
  hybrid = None
  if hierarchy is not None and top_cells is not None:
    m = settings.hybrid_neighbours
    hybrid = geolocate.hybrid(
        found.similarity[:, :m], found.latitude[:, :m], found.longitude[:, :m],
        found.cell[:, :m], top_cells, top_log_probs, hierarchy.finest.latitudes,
        hierarchy.finest.longitudes, radius_km=settings.radius_km,
        refine_radius_km=settings.refine_radius_km, temperature=settings.temperature,
        cell_power=settings.cell_power)
  return Answers(found, retrieval, hybrid)


def deciding_columns(vote: geolocate.Vote, query: int) -> list[int]:
  """The neighbour columns that decided a query's answer, the answered one first; [] where
  none did (a hybrid's fallback to its cell)."""
  choice = int(vote.choice[query])
  if choice < 0:
    return []
  return [choice, *(int(j) for j in np.flatnonzero(vote.support[query]) if j != choice)]


def deciding_photos(neighbours: Neighbours, vote: geolocate.Vote,
                    photo_id: np.ndarray) -> list[str]:
  """Per query, the ids of the gallery photos that decided its answer (space-separated, the one
  whose place was answered first); "" where none did."""
  return [" ".join(photo_id[neighbours.row[i, deciding_columns(vote, i)]])
          for i in range(len(vote.choice))]
