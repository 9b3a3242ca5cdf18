"""The tag vocabulary, made from the tag counts a builder writes (`tag_counts_train.tsv`).

LocSens (Gomez et al. 2020) keeps the most frequent user tags after dropping the very most
frequent ones (camera brands, "2012", "travel": they say nothing about a photo) and purely numeric
tags.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from etils import epath


def tag_counts_path(dataset_dir: str | os.PathLike, split: str = "train") -> epath.Path:
  """Where a builder writes the tag counts of a split, beside the data set's shards."""
  return epath.Path(dataset_dir) / f"tag_counts_{split}.tsv"


class TagVocabulary:
  """Tags and their ids (0..n-1, most frequent first)."""

  def __init__(self, tags: Sequence[str]):
    self.tags = list(tags)
    self.ids = {tag: i for i, tag in enumerate(self.tags)}
    if len(self.ids) != len(self.tags):
      raise ValueError("Tag vocabulary has duplicate tags.")

  def __len__(self) -> int:
    return len(self.tags)

  def encode(self, tags: Sequence[str | bytes], max_tags: int) -> np.ndarray:
    """Ids of the known tags among `tags`, in order, padded with -1 to `max_tags`."""
    ids = []
    for tag in tags:
      i = self.ids.get(tag.decode("utf-8") if isinstance(tag, bytes) else tag)
      if i is not None:
        ids.append(i)
    out = np.full(max_tags, -1, dtype=np.int32)
    ids = ids[:max_tags]
    out[:len(ids)] = ids
    return out

  def save(self, path: str | os.PathLike) -> None:
    epath.Path(path).write_text("".join(f"{tag}\n" for tag in self.tags))

  @classmethod
  def load(cls, path: str | os.PathLike) -> "TagVocabulary":
    return cls([line for line in epath.Path(path).read_text().split("\n") if line.strip()])


def read_tag_counts(path: str | os.PathLike) -> list[tuple[str, int]]:
  """(tag, count) pairs of a `tag_counts_<split>.tsv` file, as written, most frequent first."""
  pairs = []
  with epath.Path(path).open() as f:
    for number, line in enumerate(f, start=1):
      tag, sep, count = line.rstrip("\n").rpartition("\t")
      if not sep or not count.isdigit():
        raise ValueError(f"{path}:{number}: expected 'tag<TAB>count', got {line!r}")
      pairs.append((tag, int(count)))
  return pairs


def make_vocabulary(tag_counts: Sequence[tuple[str, int]], size: int, drop_most_frequent: int = 10,
                    min_count: int = 1) -> TagVocabulary:
  """The `size` most frequent tags after dropping the top `drop_most_frequent` and numeric tags."""
  ranked = sorted(tag_counts, key=lambda tc: (-tc[1], tc[0]))[drop_most_frequent:]
  kept = [t for t, c in ranked if c >= min_count and not t.replace(".", "").isdigit()]
  return TagVocabulary(kept[:size])
