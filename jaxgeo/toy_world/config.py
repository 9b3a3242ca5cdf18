"""ToyWorldConfig: the size and seed of a toy world, checked before anything is written.

Its fields are the `toy_world` section of a run config (jaxgeo.prepare) and the flags of
`python -m jaxgeo.toy_world`, whose help texts come from the Attributes section below.
"""

from __future__ import annotations

import dataclasses

from jaxgeo.toy_world.catalogue import LANDMARKS

# The kinds of bad YFCC100M rows the builders must skip; each is `bad_fraction` of all rows.
BAD_KINDS = ("no_gps", "bad_coordinates", "video", "missing_image", "empty_image",
             "corrupt_image")


@dataclasses.dataclass(frozen=True)
class ToyWorldConfig:
  """Size and seed of the toy world.

  Attributes:
    seed: Seed of everything generated.
    num_train_photos: Good (usable) YFCC100M training photos; bad records come on top.
    num_test_photos: Images of the Im2GPS3k-style test set.
    num_yfcc4k_photos: Photos of the YFCC4k-style test set.
    image_size: Shorter image side in pixels.
    num_landmarks: Landmarks of the world (the first N of catalogue.LANDMARKS).
    gldv2_train_per_landmark: GLDv2 train images per landmark (about 20% of them noisy).
    gldv2_index_per_landmark: GLDv2 index images per landmark.
    gldv2_test_photos: GLDv2 test images; about a quarter show no landmark.
    gldv2_ignored_fraction: Share of the GLDv2 test images whose solution rows say "Ignored"
      (no ground truth, left out of every score), as in the v2.1 solutions.
    bad_fraction: Share of YFCC100M metadata rows of each bad kind (BAD_KINDS).
    mp16: Also write the MP-16 layout (meta CSV, URL list, msgpack shards).
  """
  seed: int = 0
  num_train_photos: int = 20_000
  num_test_photos: int = 600
  num_yfcc4k_photos: int = 300
  image_size: int = 96
  num_landmarks: int = 30
  gldv2_train_per_landmark: int = 30
  gldv2_index_per_landmark: int = 6
  gldv2_test_photos: int = 200
  gldv2_ignored_fraction: float = 0.1
  bad_fraction: float = 0.02
  mp16: bool = True

  def validate(self) -> None:
    """Raises ValueError naming the offending field."""
    if not 0 < self.num_landmarks <= len(LANDMARKS):
      raise ValueError(f"ToyWorldConfig.num_landmarks={self.num_landmarks}: must be in "
                       f"1..{len(LANDMARKS)} (the landmarks of "
                       "jaxgeo.toy_world.catalogue.LANDMARKS).")
    if not 0.0 <= self.bad_fraction <= 0.1:
      raise ValueError(f"ToyWorldConfig.bad_fraction={self.bad_fraction}: must be in [0, 0.1] "
                       f"(it is the share of rows of each of the {len(BAD_KINDS)} bad kinds).")
    if not 0.0 <= self.gldv2_ignored_fraction <= 0.5:
      raise ValueError(f"ToyWorldConfig.gldv2_ignored_fraction={self.gldv2_ignored_fraction}: "
                       "must be in [0, 0.5], so that most test images are scored.")
    if self.image_size < 32:
      raise ValueError(f"ToyWorldConfig.image_size={self.image_size}: use at least 32 px.")
    for name in ("num_train_photos", "num_test_photos", "num_yfcc4k_photos",
                 "gldv2_train_per_landmark", "gldv2_index_per_landmark", "gldv2_test_photos"):
      if getattr(self, name) < 1:
        raise ValueError(f"ToyWorldConfig.{name}={getattr(self, name)}: must be at least 1.")

  @property
  def num_bad_per_kind(self) -> int:
    """Bad rows of each kind, so that each kind is `bad_fraction` of all metadata rows."""
    if self.bad_fraction <= 0:
      return 0
    n = self.bad_fraction * self.num_train_photos / (1.0 - len(BAD_KINDS) * self.bad_fraction)
    return max(1, int(round(n)))
