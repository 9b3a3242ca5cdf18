"""`landmark_ids.csv`: which GLDv2 landmark each of the landmark head's classes is.

The GLDv2 builder relabels landmarks to contiguous classes 0..K-1 and writes this file beside the
data set; the trainer copies it into the workdir, so that the workdir alone can name a predicted
class. One row a class, in class order:

  landmark_id,original_landmark_id,category,num_images
  0,1001,http://commons.wikimedia.org/wiki/Category:Eiffel_Tower,52

(`category` is GLDv2's `train_label_to_category.csv` URL, "" when unknown).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import urllib.parse
from collections.abc import Iterable

import numpy as np
from etils import epath

FILE = "landmark_ids.csv"
HEADER = ("landmark_id", "original_landmark_id", "category", "num_images")


@dataclasses.dataclass(frozen=True)
class LandmarkIds:
  """The file, read: each class's GLDv2 landmark id, and readable names by that id."""
  ids: np.ndarray  # (K,) int64, indexed by class
  names: dict[int, str]  # from the Wikimedia Commons category; landmarks without one are absent


def write(path: str | os.PathLike, rows: Iterable[tuple[int, int, str, int]]) -> None:
  """Writes one (class, GLDv2 landmark id, category URL, images) row per class."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with path.open("w", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)


def _name(category: str) -> str:
  """`.../Category:Eiffel_Tower` -> `Eiffel Tower`."""
  title = urllib.parse.unquote(category.rsplit("/", 1)[-1])
  return (title.split(":", 1)[1] if title.startswith("Category:") else title).replace("_", " ")


def read(path: str | os.PathLike) -> LandmarkIds:
  """The classes' landmark ids and names; the first two columns are read by position.

  Raises:
    FileNotFoundError: no such file (the landmark head needs a relabelled data set).
    ValueError: a row without a class and an id, naming its line.
  """
  path = epath.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: the landmark head needs a data set with "
                            "contiguous landmark ids, such as gldv2/train_clean.")
  rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
  header, rows = rows[0] if rows else [], rows[1:]
  category = header.index("category") if "category" in header else None
  ids, names = np.full(len(rows), -1, dtype=np.int64), {}
  for number, row in enumerate(rows, start=2):
    if not row:
      continue
    try:
      ids[int(row[0])] = int(row[1])
    except (ValueError, IndexError) as e:
      raise ValueError(f"{path}:{number}: expected 'class,landmark_id,...', got {row}") from e
    if category is not None and len(row) > category and row[category].strip():
      names[int(row[1])] = _name(row[category].strip())
  return LandmarkIds(ids, names)
