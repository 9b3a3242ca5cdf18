"""Which test photos the gallery gives away: retrieval scores are inflated when a test photo, or a
near-copy of it, is in the gallery, or when its photographer's other photos of the same trip
are (YFCC4k's photos come from the same YFCC100M as MP-16's).

A test photo is leaked when its nearest gallery photo is a near-duplicate (cosine at least a
stated threshold) or when a gallery photo shares its photographer. The evaluation reports how
many are, and every metric with them left out next to the metric over all photos.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Leakage:
  """Per test photo: near_duplicate, same_photographer and their union, leaked ((Q,) bool)."""
  near_duplicate: np.ndarray
  same_photographer: np.ndarray
  threshold: float

  @property
  def leaked(self) -> np.ndarray:
    return self.near_duplicate | self.same_photographer

  def summary(self) -> dict[str, float]:
    """Counts for results.json (floats, as every metric there)."""
    return {"num_photos": float(len(self.leaked)),
            "near_duplicate_cosine": float(self.threshold),
            "near_duplicates": float(self.near_duplicate.sum()),
            "same_photographer": float(self.same_photographer.sum()),
            "left_out": float(self.leaked.sum())}


def find_leakage(nearest_similarity: np.ndarray, test_users: np.ndarray,
                 gallery_users: np.ndarray, threshold: float) -> Leakage:
  """Leakage of Q test photos.

  Args:
    nearest_similarity: (Q,) cosine of each test photo's nearest gallery photo.
    test_users, gallery_users: photographers; "" (unknown) never matches.
    threshold: the near-duplicate cosine.
  """
  known = np.unique(gallery_users[gallery_users != ""])
  same = (test_users != "") & np.isin(test_users, known)
  return Leakage(np.asarray(nearest_similarity) >= threshold, same, threshold)
