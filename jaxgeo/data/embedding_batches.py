"""Training batches from extracted embeddings: the heads of a frozen backbone train on these.

A batch is a pure function of the step (an epoch's order is a permutation seeded by the epoch),
so a resumed run sees exactly the batches an uninterrupted one would, with no iterator state to
save. Labels come from the photos' coordinates (each partition's class, -1 outside its cells or
without coordinates) and, with a tag head, one random positive tag per photo and step (-1 if
none), as the image pipeline makes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from jaxgeo.geo.partitions import Partition


class EmbeddingBatches:
  """`batches(step)`: this process's part of the global batch of `step` (1-based)."""

  def __init__(self, embeddings: np.ndarray, latitude: np.ndarray, longitude: np.ndarray,
               tag_ids: np.ndarray | None, partitions: Sequence[Partition], batch_size: int,
               seed: int):
    if batch_size % jax.process_count():
      raise ValueError(f"batch size {batch_size} does not divide over {jax.process_count()} "
                       "processes.")
    self.embeddings = np.asarray(embeddings, np.float32)
    self.tag_ids = tag_ids
    self.batch_size, self.seed = batch_size, seed
    self.steps_per_epoch = max(1, len(self.embeddings) // batch_size)
    located = np.isfinite(latitude) & np.isfinite(longitude)
    self.labels = {}
    for partition in partitions:  # vectorized, once for all photos
      labels = np.full(len(latitude), -1, np.int32)
      labels[located] = partition.classify(latitude[located], longitude[located])
      self.labels[partition.name] = labels
    self._order: tuple[int, np.ndarray] | None = None

  def _epoch_order(self, epoch: int) -> np.ndarray:
    if self._order is None or self._order[0] != epoch:
      self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(
          len(self.embeddings)))
    return self._order[1]

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    epoch, position = divmod(step - 1, self.steps_per_epoch)
    rows = self._epoch_order(epoch)[position * self.batch_size:(position + 1) * self.batch_size]
    share = self.batch_size // jax.process_count()
    rows = rows[jax.process_index() * share:(jax.process_index() + 1) * share]
    batch = {"embedding": self.embeddings[rows]}
    for name, labels in self.labels.items():
      batch[f"label_{name}"] = labels[rows]
    if self.tag_ids is not None:
      ids = self.tag_ids[rows]
      count = (ids >= 0).sum(axis=1)
      pick = np.floor(np.random.default_rng([self.seed, step]).random(len(rows)) *
                      np.maximum(count, 1)).astype(np.int64)
      batch["tag"] = np.where(count > 0, ids[np.arange(len(rows)), pick], -1).astype(np.int32)
    return batch
