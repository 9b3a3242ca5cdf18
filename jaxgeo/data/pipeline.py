"""Input pipelines: a built TFDS split -> grain -> per-process batches -> global jax.Arrays.

Each JAX process reads a disjoint part of the split (`ShardByJaxProcess`), so a pod reads every
photo once per epoch; per-process batches become global arrays sharded over the mesh. TensorFlow
is never imported here: ArrayRecord files are read through `tfds.data_source`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence

import grain
import jax
import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from jaxgeo.data import transforms
from jaxgeo.data.vocab import TagVocabulary
from jaxgeo.geo.partitions import Partition

MASK_KEY = "_mask"
# Eval batches: each row's record number in the source (host-only), so results gathered from
# several processes can be put back in the source's order.
INDEX_KEY = "_index"


def parse_dataset(spec: str) -> tuple[str, str]:
  """`name[:split]`, e.g. `geo_testsets/im2gps3k` or `yfcc100m_geo/yfcc100m:validation`."""
  name, _, split = spec.partition(":")
  return name, split or "test"


def _built(name: str, data_dir: str):
  """TFDS's builder of a built data set (read from its files), or FileNotFoundError."""
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    builder = None
  if builder is None or not builder.is_prepared():
    raise FileNotFoundError(
        f"Built data set {name} not found in {data_dir}: build it with `tfds build "
        f"tfds_builders/{name.split('/')[0]} ...` (see README), or point --config.data.dir at "
        "where it was built.")
  return builder


def dataset_dir(name: str, data_dir: str) -> epath.Path:
  """The folder of a built data set (`<data_dir>/<name>/<version>`), as TFDS finds it.

  Files the builders write beside the shards (build reports, tag counts, landmark ids) are read
  from here; the version is TFDS's business, not spelled out by callers.
  """
  return epath.Path(_built(name, data_dir).data_dir)


# The feature naming a record, by builder: YFCC100M / MP-16 photos have Flickr's photo id,
# GLDv2 and the test sets an image id.
ID_KEYS = ("photo_id", "image_id")


def id_key(name: str, data_dir: str) -> str:
  """The feature that names each record of a built data set, read from its features."""
  features = _built(name, data_dir).info.features
  keys = [key for key in ID_KEYS if key in features]
  if len(keys) != 1:
    raise ValueError(f"Built data set {name} has {keys or 'none'} of the id features "
                     f"{ID_KEYS}; expected exactly one.")
  return keys[0]


def has_feature(name: str, data_dir: str, key: str) -> bool:
  """Whether the records of a built data set carry `key` (e.g. `user`, the photographer)."""
  return key in _built(name, data_dir).info.features


def split_size(name: str, split: str, data_dir: str) -> int:

  """Examples in a built split, from the data set's info (no record is read)."""
  return _built(name, data_dir).info.splits[split].num_examples


def open_split(name: str, split: str, data_dir: str):
  """Random-access source over a built split; images stay JPEG bytes (decoded by transforms)."""
  return tfds.data_source(name, split=split, data_dir=data_dir, download=False,
                          decoders={"image": tfds.decode.SkipDecoding()})


class MixedSource:
  """A training source that mixes a second data set in at a fixed share of the records.

  Records [0, len(main)) are the main source's; the rest repeat the extra source as often as
  needed for `extra_share` of the whole (GLDv2's 1.6M landmark photos next to MP-16's 4.7M, or
  the toy world's few hundred next to its 20k). One random-access source means one shuffled
  sampler and one iterator state, so checkpoints and resume work as for a single data set.
  """

  def __init__(self, main, extra, extra_share: float):
    if not 0 < extra_share < 1:
      raise ValueError(f"extra_share must be in (0, 1), got {extra_share}.")
    if not len(extra):
      raise ValueError("The source to mix in is empty.")
    self.main, self.extra = main, extra
    self.num_extra = int(round(len(main) * extra_share / (1 - extra_share)))

  def __len__(self) -> int:
    return len(self.main) + self.num_extra

  def __repr__(self) -> str:
    # grain checks a restored iterator against the source by its repr.
    return f"MixedSource(main={self.main!r}, extra={self.extra!r}, num_extra={self.num_extra})"

  def __getitem__(self, i: int):
    n = len(self.main)
    return self.main[i] if i < n else self.extra[(i - n) % len(self.extra)]


def make_train_loader(source, *, batch_size: int, image_size: int,
                      partitions: Sequence[Partition], vocabulary: TagVocabulary | None = None,
                      seed: int = 0, worker_count: int = 0,
                      shard_options: grain.sharding.ShardOptions | None = None,
                      read_threads: int | None = None) -> grain.DataLoader:
  """Endless shuffled train batches of this process's shard.

  Args:
    source: from `open_split`.
    batch_size: examples per batch in this process (global batch / process count).
    image_size: side of the square crops.
    partitions: label each photo with its class in each (-1 outside the cells; masked in the
      loss, so the photo still trains the heads whose cells contain it).
    vocabulary: adds `tag_ids` and one random positive `tag` per photo and step.
    seed: fixes the order and the augmentations: a resumed run sees the same data.
    worker_count: grain worker processes (0: in this process).
    shard_options: default `ShardByJaxProcess`; tests pass explicit shards.
    read_threads: threads that read and transform records in each process (default: one per
      CPU core; PIL decodes outside the GIL). grain's default of 16 threads with a 500-element
      prefetch was 35% slower than this on a 2-core machine (benchmarks/input_pipeline.py).

  The prefetch buffer keeps each thread 4 records ahead and no more: grain scans the buffer's
  ready records once per record it hands out, so a deeper buffer costs the consumer time
  (256 records: 11.8 batches/s of 64 on 2 cores; 16: 14.6).
  """
  sampler = grain.samplers.IndexSampler(
      len(source), shard_options=shard_options or grain.sharding.ShardByJaxProcess(
          drop_remainder=True), shuffle=True, num_epochs=None, seed=seed)
  operations = [transforms.RandomCropFlip(image_size),
                transforms.GeoLabels(partitions, vocabulary)]
  if vocabulary is not None:
    operations.append(transforms.SampleTag())
  operations.append(grain.transforms.Batch(batch_size, drop_remainder=True))
  threads = read_threads or os.cpu_count() or 1
  read_options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=max(16, 4 * threads))
  return grain.DataLoader(data_source=source, sampler=sampler, operations=operations,
                          worker_count=worker_count, read_options=read_options)


def num_eval_batches(num_examples: int, batch_size: int, num_shards: int) -> int:
  """Batches every process runs, so that all run the same number (the largest shard's)."""
  return math.ceil(math.ceil(num_examples / num_shards) / batch_size)


def pad_batch(batch: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
  """Pads every field to `batch_size` rows with zeros and adds the `_mask` of real rows."""
  n = len(next(iter(batch.values())))
  out = {}
  for key, value in batch.items():
    value = np.asarray(value)
    pad = np.zeros((batch_size - n, *value.shape[1:]), dtype=value.dtype)
    if value.dtype == object:
      pad[...] = b""  # ids
    out[key] = np.concatenate([value, pad]) if n < batch_size else value
  out[MASK_KEY] = np.arange(batch_size) < n
  return out


def eval_batches(source, *, batch_size: int, image_size: int, partitions: Sequence[Partition],
                 vocabulary: TagVocabulary | None = None, five_crop: bool = False,
                 id_key: str | None = "photo_id", keep_user: bool = False,
                 shard_options: grain.sharding.ShardOptions | None = None
                 ) -> Iterator[dict[str, np.ndarray]]:
  """One pass over this process's shard, in fixed-size batches padded with a `_mask`.

  Every process yields `num_eval_batches(...)` batches (all-masked ones once its shard is
  done), so collective ops in the eval step never wait on a process that has run out. Each
  row carries its record number in `source` (`_index`).
  """
  shard_options = shard_options or grain.sharding.ShardByJaxProcess(drop_remainder=False)
  crop = transforms.FiveCrop(image_size) if five_crop else transforms.CenterCrop(image_size)
  operations = [crop, transforms.GeoLabels(partitions, vocabulary, id_key=id_key,
                                           keep_user=keep_user)]
  # grain's IndexSampler drops the remainder of an uneven split even when asked not to, so the
  # shard is cut here: every example is evaluated exactly once.
  shard = RecordRange.shard(source, shard_options.shard_index, shard_options.shard_count)
  sampler = grain.samplers.IndexSampler(len(shard), shuffle=False, num_epochs=1)
  loader = grain.DataLoader(
      data_source=shard, sampler=sampler,
      operations=[*operations, grain.transforms.Batch(batch_size, drop_remainder=False)])
  total = num_eval_batches(len(source), batch_size, shard_options.shard_count)
  count, template, index = 0, None, shard.start
  for batch in loader:  # in the sampler's order: records shard.start, shard.start + 1, ...
    rows = len(next(iter(batch.values())))
    batch[INDEX_KEY] = np.arange(index, index + rows, dtype=np.int32)
    count, template, index = count + 1, batch, index + rows
    yield pad_batch(batch, batch_size)
  if count < total:
    if template is None:  # An empty shard: shape the padding after the split's first example.
      example = source[0]
      for op in operations:
        example = op.map(example)
      template = {k: np.asarray(v)[None] for k, v in example.items()}
      template[INDEX_KEY] = np.zeros(1, np.int32)
    empty = {k: v[:0] for k, v in template.items()}
    for _ in range(total - count):
      yield pad_batch(empty, batch_size)


class RecordRange:
  """Records [start, stop) of a random-access source, itself a random-access source."""

  def __init__(self, source, start: int, stop: int):
    self.source, self.start, self.stop = source, start, stop

  @classmethod
  def shard(cls, source, index: int, count: int) -> "RecordRange":
    """Records [n*i/k, n*(i+1)/k): shard i of k, sizes within 1."""
    return cls(source, len(source) * index // count, len(source) * (index + 1) // count)

  def __len__(self) -> int:
    return self.stop - self.start

  def __getitem__(self, i: int):
    return self.source[self.start + i]


def to_global_arrays(batch: dict[str, np.ndarray],
                     sharding: jax.sharding.Sharding) -> dict[str, jax.Array]:
  """Per-process batch -> global arrays sharded over the mesh (host-only fields left out).

  Text fields (ids) stay on the host: they have no device dtype; so do record numbers.
  """
  return {key: jax.make_array_from_process_local_data(sharding, value)
          for key, value in batch.items() if value.dtype.kind not in "OSU" and key != INDEX_KEY}
