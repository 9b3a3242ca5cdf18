"""The class hierarchy across partitionings, and the product rule that combines their outputs.

A model with one head per partitioning predicts a fine cell best when all heads agree
(Müller-Budack et al. 2018): the score of a fine class is the product of its own probability and
the probabilities of the coarser classes that contain it. The parent of a fine class in a coarser
partitioning is found from the fine class's mean coordinate: its S2 ancestors, from the fine
cell's level up to level 2, are looked up among the coarser cells.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from jaxgeo.geo import distance, s2
from jaxgeo.geo.partitions import Partition

# What the product rule's predictions are called next to each partition's (metrics, results,
# per-granularity answers).
NAME = "hierarchy"


@dataclasses.dataclass(frozen=True, eq=False)
class Hierarchy:
  """Partitionings ordered coarse to fine, and each finest class's class in every one.

  Attributes:
    partitions: coarse to fine (ascending number of classes).
    parents: int array (num_finest_classes, num_partitions); column k holds the class in
      `partitions[k]` of each finest class (the last column is 0..n-1).
  """
  partitions: tuple[Partition, ...]
  parents: np.ndarray

  @property
  def finest(self) -> Partition:
    return self.partitions[-1]

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(p.name for p in self.partitions)

  def combine_log_probs(self, log_probs: Sequence) -> jnp.ndarray:
    """Hierarchical log-score of each finest class from per-partition log-probabilities.

    Args:
      log_probs: one (..., num_classes_k) array per partition, in `self.partitions` order
        (log-softmax outputs of the heads). NumPy or JAX arrays; jit-compatible.

    Returns:
      (..., num_finest_classes): sum over partitions of the parent's log-probability, i.e. the
      log of the product rule. Summing logs avoids the underflow of multiplying small
      probabilities.
    """
    if len(log_probs) != len(self.partitions):
      raise ValueError(f"Got {len(log_probs)} outputs for partitions {self.names}.")
    total = 0
    for k, lp in enumerate(log_probs):
      if lp.shape[-1] != self.partitions[k].num_classes:
        raise ValueError(f"Output {k} has {lp.shape[-1]} classes; partition "
                         f"{self.partitions[k].name} has {self.partitions[k].num_classes}.")
      total = total + jnp.take(lp, self.parents[:, k], axis=-1)
    return total

  def combine_probs(self, probs: Sequence) -> jnp.ndarray:
    """The product rule on probabilities: p_coarse[parent] * ... * p_fine[class]."""
    return jnp.exp(self.combine_log_probs([jnp.log(p) for p in probs]))

  def top_k(self, scores, k: int = 5) -> dict[str, np.ndarray]:
    """The k best finest classes for each row of `scores` (..., num_finest_classes).

    Returns:
      `classes`, `scores`, `latitudes`, `longitudes`, each (..., k), best first; the
      coordinates are the classes' mean training locations.
    """
    scores = np.asarray(scores)
    k = min(k, scores.shape[-1])
    top = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    return {
        "classes": top,
        "scores": np.take_along_axis(scores, top, axis=-1),
        "latitudes": self.finest.latitudes[top],
        "longitudes": self.finest.longitudes[top],
    }


def _find_parents(fine: Partition, coarse: Partition) -> np.ndarray:
  """Class in `coarse` containing each fine class's mean coordinate, at a level <= the fine one.

  A coarse cell contains the mean's leaf cell exactly when it is one of the leaf's ancestors, so
  the ancestor walk of the paper becomes one vectorized lookup. A coarse cell deeper than the
  fine cell is not an ancestor and does not count.
  """
  leaf_ids = s2.latlng_to_cell_ids(fine.latitudes, fine.longitudes)
  parents = coarse.classify_cells(leaf_ids)
  found = parents >= 0
  too_deep = np.zeros_like(found)
  too_deep[found] = (s2.cell_levels(coarse.cell_ids[parents[found]])
                     > s2.cell_levels(fine.cell_ids[found]))
  missing = np.flatnonzero(~found | too_deep)
  if missing.size:
    # Only possible for partitionings not built from the same photos (e.g. files brought from
    # elsewhere); fall back to the nearest coarse class and say so.
    d = distance.great_circle_km(fine.latitudes[missing, None], fine.longitudes[missing, None],
                                 coarse.latitudes[None, :], coarse.longitudes[None, :])
    parents[missing] = np.argmin(d, axis=1)
    logging.warning("%d of %d classes of %s have no ancestor in %s (e.g. cell %s); they were "
                    "given the nearest class instead. Were the partitionings built from the "
                    "same photos?", missing.size, fine.num_classes, fine.name, coarse.name,
                    s2.cell_ids_to_tokens(fine.cell_ids[missing[:1]])[0])
  return parents


def make_hierarchy(partitions: Sequence[Partition]) -> Hierarchy:
  """Orders partitionings coarse to fine and links every finest class to its ancestors."""
  if not partitions:
    raise ValueError("make_hierarchy needs at least one partition.")
  ordered = tuple(sorted(partitions, key=lambda p: p.num_classes))
  finest = ordered[-1]
  parents = np.stack([_find_parents(finest, p) for p in ordered[:-1]]
                     + [np.arange(finest.num_classes)], axis=1)
  return Hierarchy(partitions=ordered, parents=parents)
