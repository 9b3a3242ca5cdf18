"""Image embeddings of a built split, extracted once by a model: LocSens' input, and that of
training the heads on a frozen backbone.

Both train on fixed embeddings, so the backbone runs over each split once. The output of
`extract_embeddings` is a folder of NumPy shards, each covering a fixed range of the split's
records:

  manifest.json                 data set, split, stage-1 workdir and step, shard size, shards
  shard-00000/image.npy         (n, E) float32: the tag head's `tag_embedding` (LocSens, E=300)
                                or the backbone's pooled `embedding` (a frozen backbone)
  shard-00000/latitude.npy      (n,) float64 (NaN for photos without coordinates)
  shard-00000/longitude.npy
  shard-00000/tag_ids.npy       (n, 15) int32: vocabulary ids, padded with -1
  shard-00000/photo_id.npy      (n,) bytes
  shard-00000/user.npy          (n,) bytes: the photographer ("" where the data set has none)

A shard folder appears (by rename) only when complete, so a rerun skips finished shards and
redoes an interrupted one. A shared service: stage 1's frozen-backbone training, the retrieval
gallery and LocSens (jaxgeo.locsens.inputs, with the tag head's table) all extract with it.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from etils import epath
from flax import nnx

from jaxgeo.data import gather, pipeline
from jaxgeo.run import config_base, sharding, workdir as workdir_lib

MANIFEST = "manifest.json"
MAX_TAGS = 15
_FIELDS = ("image", "latitude", "longitude", "tag_ids", "photo_id", "user")


@dataclasses.dataclass
class Embeddings:
  """The extracted photos of one split, concatenated over shards (rows in split order)."""
  image: np.ndarray  # (N, E) float32
  latitude: np.ndarray  # (N,) float64
  longitude: np.ndarray
  tag_ids: np.ndarray  # (N, 15) int32, -1 padded
  photo_id: np.ndarray  # (N,) str
  user: np.ndarray | None = None  # (N,) str, "" where unknown (load_embeddings always sets it)

  def __len__(self) -> int:
    return len(self.image)


def _embed_step(state: dict, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef,
                output: str) -> dict:
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  images = batch["image"]
  tag_ids = batch.get("tag_ids")  # none without a vocabulary
  if tag_ids is None:
    tag_ids = jnp.full((images.shape[0], MAX_TAGS), -1, jnp.int32)
  return {"image": model.predict(images)[output], "latitude": batch["latitude"],
          "longitude": batch["longitude"], "tag_ids": tag_ids}


def shard_name(index: int) -> str:
  return f"shard-{index:05d}"


def extract_embeddings(run, dataset: str, split: str, out_dir: workdir_lib.PathLike, *,
                       batch_size: int = 256,
                       shard_size: int = config_base.EMBEDDING_SHARD_SIZE,
                       output: str = "tag_embedding",
                       manifest_extra: dict | None = None) -> epath.Path:
  """Writes (or completes) the embedding shards of `dataset:split` under `out_dir`.

  Args:
    run: a `jaxgeo.run.restore.TrainedRun` (for `tag_embedding`, with a tag head).
    dataset, split: a built TFDS data set of `run.data_dir`, e.g. `yfcc100m_geo/yfcc100m`.
    out_dir: the folder of the shards and manifest.
    batch_size: global batch of the jitted forward pass (divided over processes).
    shard_size: records per shard: the unit of resumption.
    output: which output of the model's `predict` is the `image` array: `tag_embedding`
      (LocSens) or `embedding` (the backbone's, for training on a frozen backbone).
    manifest_extra: more settings the shards depend on (e.g. the pretrained weights): shards
      made with others are refused.

  Returns:
    `out_dir`.
  """
  if output == "tag_embedding" and run.vocabulary is None:
    raise ValueError(f"{run.workdir} has no tag head (model.tag_head): LocSens needs its "
                     "embeddings.")
  if batch_size % jax.device_count():
    raise ValueError(f"locsens.extract_batch_size ({batch_size}) must divide over "
                     f"{jax.device_count()} devices.")
  out_dir = epath.Path(out_dir)
  source = pipeline.open_split(dataset, split, run.data_dir)
  num_shards = max(1, -(-len(source) // shard_size))
  manifest = {"dataset": dataset, "split": split, "num_records": len(source),
              "shard_size": shard_size, "stage1_workdir": _absolute(run.workdir.root),
              "stage1_step": run.step,
              "vocabulary_size": len(run.vocabulary) if run.vocabulary else 0,
              "shards": [shard_name(i) for i in range(num_shards)], **(manifest_extra or {})}
  path = out_dir / MANIFEST
  if path.exists():
    old = workdir_lib.read_json(path)
    # Inside the stage-1 workdir (its gallery, its frozen embeddings, its own LocSens folder),
    # the extraction moves with it: a copied or moved workdir keeps its extractions.
    inside = _absolute(out_dir).startswith(_absolute(run.workdir.root).rstrip("/") + "/")
    compared = [k for k in manifest if not (inside and k == "stage1_workdir")]
    if {k: old.get(k) for k in compared} != {k: manifest[k] for k in compared}:
      raise ValueError(f"{path} was written for other settings ({old}); now asked for "
                       f"{manifest}. Delete {out_dir} to extract again.")
  elif jax.process_index() == 0:
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir_lib.write_json(path, manifest)

  embed = _make_embedder(run, dataset, output)
  done = 0
  for index in range(num_shards):
    final = out_dir / shard_name(index)
    if final.is_dir():
      done += 1
      continue
    start, stop = index * shard_size, min(len(source), (index + 1) * shard_size)
    out = embed(pipeline.RecordRange(source, start, stop), batch_size)
    if jax.process_index() == 0:
      tmp = out_dir / f"{shard_name(index)}.tmp"
      if tmp.exists():
        tmp.rmtree()
      tmp.mkdir(parents=True)
      workdir_lib.save_npy(tmp / "image.npy", out["image"].astype(np.float32))
      workdir_lib.save_npy(tmp / "latitude.npy", out["latitude"].astype(np.float64))
      workdir_lib.save_npy(tmp / "longitude.npy", out["longitude"].astype(np.float64))
      workdir_lib.save_npy(tmp / "tag_ids.npy", out["tag_ids"].astype(np.int32))
      workdir_lib.save_npy(tmp / "photo_id.npy", out["id"].astype(np.bytes_))
      workdir_lib.save_npy(tmp / "user.npy", np.char.encode(out["user"], "utf-8"))
      tmp.rename(final)
    logging.info("Embeddings of %s:%s: shard %d/%d (records %d-%d) written.", dataset, split,
                 index + 1, num_shards, start, stop)
  if done:
    logging.info("Embeddings of %s:%s: reused %d finished shard(s) of %d.", dataset, split,
                 done, num_shards)
  return out_dir


def _make_embedder(run, dataset: str, output: str):
  """(records, global batch size) -> `collect_outputs` of the model's `output` over them."""
  batch_sharding = sharding.batch_sharding(run.mesh)
  step = jax.jit(functools.partial(_embed_step, graphdef=run.graphdef, output=output))
  id_key = pipeline.id_key(dataset, run.data_dir)

  def embed(records, batch_size: int) -> dict[str, np.ndarray]:
    batches = pipeline.eval_batches(records, batch_size=batch_size // jax.process_count(),
                                    image_size=run.config.image_size, partitions=(),
                                    vocabulary=run.vocabulary, id_key=id_key, keep_user=True)
    return gather.collect_outputs(
        batches, lambda b: step(run.state, pipeline.to_global_arrays(b, batch_sharding)))

  return embed


def embed_records(run, dataset: str, records, batch_size: int,
                  output: str = "embedding") -> np.ndarray:
  """The model's `output` (e.g. the pooled `embedding`) of a few records of `dataset` (any
  random-access source of its examples), (n, E) float32, in record order."""
  return _make_embedder(run, dataset, output)(records, batch_size)["image"].astype(np.float32)


def _absolute(path: epath.Path) -> str:
  return str(path) if workdir_lib.is_remote(path) else os.path.abspath(path)


def is_complete(out_dir: workdir_lib.PathLike) -> bool:
  """Whether an extraction has its manifest and every shard."""
  out_dir = epath.Path(out_dir)
  if not (out_dir / MANIFEST).exists():
    return False
  shards = workdir_lib.read_json(out_dir / MANIFEST)["shards"]
  return all((out_dir / s).is_dir() for s in shards)


def stage1_step(out_dir: workdir_lib.PathLike) -> int:
  """The stage-1 checkpoint step an extraction was made with."""
  return workdir_lib.read_json(epath.Path(out_dir) / MANIFEST)["stage1_step"]


def load_embeddings(out_dir: workdir_lib.PathLike, image_dtype=np.float32) -> Embeddings:
  """All shards of an extraction, concatenated; a clear error if it is incomplete.

  The image embeddings are cast shard by shard into one array of `image_dtype` (bfloat16 holds
  MP-16's 4.7M x 768 in 7 GB, where float32 shards would first need twice that).
  """
  out_dir = epath.Path(out_dir)
  path = out_dir / MANIFEST
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: extract the embeddings first.")
  manifest = workdir_lib.read_json(path)
  missing = [s for s in manifest["shards"] if not (out_dir / s).is_dir()]
  if missing:
    raise FileNotFoundError(f"{out_dir}: shards {missing} are missing (an interrupted "
                            "extraction: run it again to finish).")
  arrays = {field: np.concatenate([_load_field(out_dir / s, field) for s in manifest["shards"]])
            for field in _FIELDS if field != "image"}
  image, start = None, 0
  for s in manifest["shards"]:
    part = workdir_lib.load_npy(out_dir / s / "image.npy")
    if image is None:
      image = np.empty((len(arrays["latitude"]), part.shape[1]), image_dtype)
    image[start:start + len(part)] = part
    start += len(part)
  arrays["image"] = image
  arrays["photo_id"] = arrays["photo_id"].astype(str)
  arrays["user"] = np.char.decode(arrays["user"].astype(np.bytes_), "utf-8")
  return Embeddings(**arrays)


def _load_field(shard: epath.Path, field: str) -> np.ndarray:
  """One array of a shard; shards written before photographers were kept have no `user`."""
  path = shard / f"{field}.npy"
  if field == "user" and not path.exists():
    return np.full(len(workdir_lib.load_npy(shard / "latitude.npy")), b"")
  return workdir_lib.load_npy(path)
