"""The GLDv2 builder's catalogue: which image ids each config keeps, read from the CSVs.

The official CSVs (train, train_clean, index, test and the v2.1 solutions) are read here into a
`Catalog` of the records a split will hold, with the features of each and every bad row counted
by reason; the builder (gldv2_dataset_builder.py) then streams the images from the tars. Kept
beside the builder as TFDS keeps such helpers (`imagenet2012/imagenet_common.py`).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from etils import epath

from jaxgeo.data.raw import splits

RECOGNITION_SOLUTION = "recognition_solution_v2.1.csv"
RETRIEVAL_SOLUTION = "retrieval_solution_v2.1.csv"
# The manual files each config needs: CSVs, then the folder of its tars.
REQUIRED = {
    "train_full": (("train.csv", "train_label_to_category.csv"), "train"),
    "train_clean": (("train_clean.csv", "train_label_to_category.csv"), "train"),
    "index": (("index.csv", "index_image_to_landmark.csv"), "index"),
    "test": (("test.csv", RECOGNITION_SOLUTION, RETRIEVAL_SOLUTION), "test"),
}

def require(path: epath.Path, subset: str, what: str) -> None:
  if not path.exists():
    raise FileNotFoundError(
        f"{path} not found: the gldv2 {subset} config needs this {what} in manual_dir. See "
        "Builder.MANUAL_DOWNLOAD_INSTRUCTIONS in tfds_builders/gldv2/gldv2_dataset_builder.py "
        "(or tfds_builders/gldv2/README.md) for the files and where to put them.")


def tar_files(folder: epath.Path, subset: str) -> list[epath.Path]:
  require(folder, subset, "folder of images_*.tar files")
  found = sorted(folder.glob("images_*.tar"), key=lambda p: p.name)
  if not found:
    raise FileNotFoundError(
        f"No images_*.tar in {folder}: the gldv2 {subset} config reads the official tar files "
        "there (not extracted). See Builder.MANUAL_DOWNLOAD_INSTRUCTIONS "
        "(tfds_builders/gldv2/README.md).")
  return found


class HashSplit:
  """train/validation by a stable hash of the image id."""

  first = "train"  # where rows that name no image are counted

  def __init__(self, validation_fraction: float):
    self.validation_fraction = validation_fraction

  def __call__(self, image_id: str) -> str:
    if self.validation_fraction <= 0:
      return "train"
    return splits.split_of(image_id, self.validation_fraction)


class OneSplit:
  """Every id in the one split of the config."""

  def __init__(self, split: str):
    self.split = self.first = split

  def __call__(self, image_id: str) -> str:
    del image_id
    return self.split


@dataclasses.dataclass
class BadRow:
  """A CSV row that was not used, counted in the split of its image id."""
  reason: str
  image_id: str  # "" when the row names no image; then it counts in the first split
  detail: str


@dataclasses.dataclass
class Catalog:
  """What the CSVs of one config say about its images.

  Attributes:
    csv_name: the CSV that lists the images (named in skip details).
    tar_folder: the folder of the tars (named in skip details).
    records: image id -> compact value, in CSV order; `features` turns a value into features.
    features: value -> the example's features other than image and image_id.
    rejected: ids whose rows were unusable (already in bad_rows; their images are not counted
      again as not_in_csv).
    bad_rows: unusable CSV rows.
    split_of: image id -> split name.
    landmarks: train_clean only: (contiguous id, original id, category, listed images).
  """
  csv_name: str
  tar_folder: str
  records: dict[str, Any]
  features: Callable[[Any], dict[str, Any]]
  rejected: set[str]
  bad_rows: list[BadRow]
  split_of: HashSplit | OneSplit
  landmarks: list[tuple[int, int, str, int]] = dataclasses.field(default_factory=list)


def _read_csv(path: epath.Path, columns: tuple[str, ...]) -> Iterator[tuple[str, list[str]]]:
  """(where, fields) of each non-blank row after the header, which must be `columns`."""
  with path.open("r", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = [h.strip() for h in next(reader, [])]
    if header != list(columns):
      raise ValueError(f"{path}: the header is {','.join(header) or '(empty)'}, expected "
                       f"{','.join(columns)}; is this the official GLDv2 file?")
    for line, row in enumerate(reader, start=2):
      if row:
        yield f"{path.name}:{line}", [x.strip() for x in row]


def _parse_int(text: str) -> int | None:
  try:
    return int(text)
  except ValueError:
    return None


def _read_categories(path: epath.Path, bad_rows: list[BadRow]) -> dict[int, str]:
  categories: dict[int, str] = {}
  for where, row in _read_csv(path, ("landmark_id", "category")):
    landmark = _parse_int(row[0]) if len(row) >= 2 else None
    if landmark is None:
      bad_rows.append(BadRow("malformed_row", "", f"{where}: {row!r}"))
      continue
    # The category is the last column: an unquoted comma in it only splits it.
    categories.setdefault(landmark, ",".join(row[1:]))
  return categories


def _add_id(image_id: str, value: Any, where: str, catalog: Catalog) -> None:
  """Records the first row of an id; later rows are duplicates."""
  if image_id in catalog.records or image_id in catalog.rejected:
    catalog.bad_rows.append(BadRow("duplicate_id", image_id,
                                    f"{where}: {image_id} is listed earlier"))
    return
  catalog.records[image_id] = value


def _bad_listing(reason: str, image_id: str, detail: str, catalog: Catalog) -> None:
  """A bad row of the CSV that lists the images: counted; an earlier good row of the id stays."""
  catalog.bad_rows.append(BadRow(reason, image_id, detail))
  if image_id and image_id not in catalog.records:
    catalog.rejected.add(image_id)


def _reject(reason: str, image_id: str, detail: str, catalog: Catalog) -> None:
  """A bad label row: the image is dropped rather than stored with a wrong or missing label."""
  catalog.bad_rows.append(BadRow(reason, image_id, detail))
  if image_id:
    catalog.records.pop(image_id, None)
    catalog.rejected.add(image_id)


def _read_train_full(root: epath.Path, split_of: HashSplit | OneSplit) -> Catalog:
  bad_rows: list[BadRow] = []
  categories = _read_categories(root / "train_label_to_category.csv", bad_rows)

  def features(landmark: int) -> dict[str, Any]:
    return {"landmark_id": landmark, "category": categories.get(landmark, "")}

  catalog = Catalog("train.csv", "train", {}, features, set(), bad_rows, split_of)
  for where, row in _read_csv(root / "train.csv", ("id", "url", "landmark_id")):
    image_id = row[0] if row else ""
    # landmark_id is the last column, so an unquoted comma in a URL does not shift it.
    landmark = _parse_int(row[-1]) if len(row) >= 3 and image_id else None
    if landmark is None:
      _bad_listing("malformed_row", image_id, f"{where}: {row!r}", catalog)
      continue
    _add_id(image_id, landmark, where, catalog)
  return catalog


def _read_train_clean(root: epath.Path, split_of: HashSplit | OneSplit) -> Catalog:
  bad_rows: list[BadRow] = []
  categories = _read_categories(root / "train_label_to_category.csv", bad_rows)
  listed: dict[int, list[str]] = {}
  seen: set[str] = set()
  for where, row in _read_csv(root / "train_clean.csv", ("landmark_id", "images")):
    landmark = _parse_int(row[0]) if len(row) == 2 else None
    ids = row[1].split() if len(row) == 2 else []
    if landmark is None:
      bad_rows.append(BadRow("malformed_row", "", f"{where}: {row[:1]!r}"))
      seen.update(ids)  # their images are known bad, not "not in the CSV"
      continue
    for image_id in ids:
      if image_id in seen:
        bad_rows.append(BadRow("duplicate_id", image_id,
                                f"{where}: {image_id} is listed earlier"))
        continue
      seen.add(image_id)
      listed.setdefault(landmark, []).append(image_id)
  # Contiguous ids in the order of the original ids: the same mapping for the same CSV.
  originals = sorted(listed)
  contiguous = {original: k for k, original in enumerate(originals)}
  catalog = Catalog(
      "train_clean.csv", "train", {},
      lambda k: {"landmark_id": k, "original_landmark_id": originals[k],
                 "category": categories.get(originals[k], "")},
      seen - {i for ids in listed.values() for i in ids}, bad_rows, split_of)
  for original in originals:
    for image_id in listed[original]:
      catalog.records[image_id] = contiguous[original]
  catalog.landmarks = [(k, o, categories.get(o, ""), len(listed[o]))
                       for k, o in enumerate(originals)]
  return catalog


def _read_index(root: epath.Path, split_of: HashSplit | OneSplit) -> Catalog:
  catalog = Catalog("index.csv", "index", {}, lambda landmark: {"landmark_id": landmark},
                     set(), [], split_of)
  for where, row in _read_csv(root / "index.csv", ("id",)):
    if len(row) != 1 or not row[0]:
      _bad_listing("malformed_row", "", f"{where}: {row!r}", catalog)
      continue
    _add_id(row[0], -1, where, catalog)  # -1 until the mapping names its landmark
  mapped: set[str] = set()
  for where, row in _read_csv(root / "index_image_to_landmark.csv", ("id", "landmark_id")):
    image_id = row[0] if row else ""
    landmark = _parse_int(row[1]) if len(row) == 2 and image_id else None
    if landmark is None:
      _reject("malformed_row", image_id, f"{where}: {row!r}", catalog)
    elif _listed_usably(image_id, where, catalog, mapped, "mapped"):
      mapped.add(image_id)
      catalog.records[image_id] = landmark
  return catalog


def _listed_usably(image_id: str, where: str, catalog: Catalog, seen, verb: str) -> bool:
  """Whether a later file's row of `image_id` adds to the catalogue: not for an id rejected
  before (counted already), one the catalogue's CSV lacks, or one this file `verb`s earlier."""
  if image_id in catalog.rejected:
    return False
  if image_id not in catalog.records:
    catalog.bad_rows.append(BadRow("not_in_csv", image_id,
                                   f"{where}: {image_id} is not in {catalog.csv_name}"))
    return False
  if image_id in seen:
    catalog.bad_rows.append(BadRow("duplicate_id", image_id,
                                   f"{where}: {image_id} is {verb} earlier"))
    return False
  return True


def _split_tokens(text: str) -> list[str]:
  # "None" is how the retrieval solution writes an ignored query's empty list.
  return [t for t in text.split() if t != "None"]


def _read_test(root: epath.Path, split_of: HashSplit | OneSplit) -> Catalog:
  catalog = Catalog(
      "test.csv", "test", {},
      lambda v: {"landmarks": list(v[0]), "usage": v[1], "retrieval_images": list(v[2]),
                 "retrieval_usage": v[3]},
      set(), [], split_of)
  for where, row in _read_csv(root / "test.csv", ("id",)):
    if len(row) != 1 or not row[0]:
      _bad_listing("malformed_row", "", f"{where}: {row!r}", catalog)
      continue
    _add_id(row[0], None, where, catalog)
  recognition = _read_solution(root / RECOGNITION_SOLUTION, "landmarks", catalog)
  retrieval = _read_solution(root / RETRIEVAL_SOLUTION, "images", catalog)
  for image_id in list(catalog.records):
    rec, ret = recognition.get(image_id), retrieval.get(image_id)
    if rec is None or ret is None:
      missing = " and ".join(n for n, s in ((RECOGNITION_SOLUTION, rec),
                                           (RETRIEVAL_SOLUTION, ret)) if s is None)
      _reject("no_solution", image_id, f"test.csv id {image_id} has no row in {missing}",
              catalog)
      continue
    landmarks = [_parse_int(t) for t in _split_tokens(rec[0])]
    if None in landmarks:
      _reject("malformed_row", image_id, f"{RECOGNITION_SOLUTION}: {image_id}: landmarks "
                                         f"{rec[0]!r} are not integers", catalog)
      continue
    catalog.records[image_id] = (tuple(landmarks), rec[1], tuple(_split_tokens(ret[0])), ret[1])
  return catalog


def _read_solution(path: epath.Path, column: str, catalog: Catalog
                   ) -> dict[str, tuple[str, str]]:
  """id -> (the list column, Usage) of a solution file; rows of unknown ids are counted."""
  solution: dict[str, tuple[str, str]] = {}
  for where, row in _read_csv(path, ("id", column, "Usage")):
    image_id = row[0] if row else ""
    if len(row) != 3 or not image_id:
      _reject("malformed_row", image_id, f"{where}: {row!r}", catalog)
    elif _listed_usably(image_id, where, catalog, solution, "listed"):
      solution[image_id] = (row[1], row[2])
  return solution


READERS: dict[str, Callable[[epath.Path, HashSplit | OneSplit], Catalog]] = {
    "train_full": _read_train_full,
    "train_clean": _read_train_clean,
    "index": _read_index,
    "test": _read_test,
}
