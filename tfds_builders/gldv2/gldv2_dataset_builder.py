"""gldv2: Google Landmarks Dataset v2 (train, GLDv2-clean, index and test), read from its tars.

Configs:
  train_full: `train.csv` (id,url,landmark_id), 4.1M images of 203k landmarks; splits train and
    validation.
  train_clean: GLDv2-clean, `train_clean.csv` (landmark_id,images): 1.6M images of 81k
    landmarks, relabelled to contiguous ids 0..K-1 in the order of the original ids (both ids are
    stored; the mapping is written to `landmark_ids.csv` next to the data set); splits train and
    validation.
  index: the retrieval index, `index.csv` + `index_image_to_landmark.csv` (index landmark ids are
    their own id space, not train ids); split index.
  test: `test.csv` + the v2.1 recognition and retrieval solutions; split test.

The images are read straight from the official tar files (`<set>/images_*.tar`, members
`a/b/c/<id>.jpg`), streaming, without extracting them. Skipped records (unreadable images, tar
members not in the CSV, duplicate ids, CSV ids without an image, bad CSV rows) are counted by
reason in `build_report.json` next to the data set. Train and validation are split by a stable
hash of the image id.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from jaxgeo.data import landmark_ids
from jaxgeo.data.raw import images, skips, splits

_DESCRIPTION = __doc__
_CITATION = """\
@inproceedings{weyand2020GLDv2,
  author = {Weyand, T. and Araujo, A. and Cao, B. and Sim, J.},
  title = {{Google Landmarks Dataset v2 - A Large-Scale Benchmark for Instance-Level Recognition
            and Retrieval}},
  year = {2020},
  booktitle = {Proc. CVPR},
}
"""
_HOMEPAGE = "https://github.com/cvdfoundation/google-landmark"

SUBSETS = ("train_full", "train_clean", "index", "test")
# Written next to the data set by train_clean: contiguous id -> original id, category, size.
RECOGNITION_SOLUTION = "recognition_solution_v2.1.csv"
RETRIEVAL_SOLUTION = "retrieval_solution_v2.1.csv"
# The manual files each config needs: CSVs, then the folder of its tars.
_REQUIRED = {
    "train_full": (("train.csv", "train_label_to_category.csv"), "train"),
    "train_clean": (("train_clean.csv", "train_label_to_category.csv"), "train"),
    "index": (("index.csv", "index_image_to_landmark.csv"), "index"),
    "test": (("test.csv", RECOGNITION_SOLUTION, RETRIEVAL_SOLUTION), "test"),
}
# A truncated download ends the scan of that tar, not the build.
_TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
  """Which part of GLDv2 to build, and how to store its images.

  Attributes:
    subset: "train_full", "train_clean", "index" or "test"; empty means the config's name.
    image_size: shorter side of stored images in pixels (never upscaled; 0 keeps the size).
    validation_fraction: share of train images, by a stable hash of the image id, in the
      validation split (train configs only; 0 builds no validation split).
  """
  subset: str = ""
  image_size: int = images.DEFAULT_MAX_SIZE
  validation_fraction: float = 0.02


class Builder(tfds.core.GeneratorBasedBuilder):
  """Google Landmarks v2 images with their landmark labels or test solutions."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
      BuilderConfig(name="train_full", subset="train_full",
                    description="All 4.1M train images (train.csv); train/validation."),
      BuilderConfig(name="train_clean", subset="train_clean",
                    description="GLDv2-clean (train_clean.csv), contiguous landmark ids."),
      BuilderConfig(name="index", subset="index",
                    description="The 762k retrieval index images, with index landmark ids."),
      BuilderConfig(name="test", subset="test",
                    description="The 118k test images with v2.1 recognition/retrieval solutions."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download Google Landmarks v2 (https://github.com/cvdfoundation/google-landmark) into manual_dir,
  keeping the tar files as they are (not extracted):
    from https://s3.amazonaws.com/google-landmark/metadata/: train.csv, train_clean.csv,
      train_label_to_category.csv, index.csv, index_image_to_landmark.csv, test.csv;
    from https://s3.amazonaws.com/google-landmark/ground_truth/: recognition_solution_v2.1.csv,
      retrieval_solution_v2.1.csv;
    from https://s3.amazonaws.com/google-landmark/{train,index,test}/: train/images_000.tar ...
      images_499.tar, index/images_000.tar ... images_099.tar, test/images_000.tar ...
      images_019.tar.
  Each config needs only its own files: train_full: train.csv, train_label_to_category.csv,
  train/; train_clean: train_clean.csv, train_label_to_category.csv, train/; index: index.csv,
  index_image_to_landmark.csv, index/; test: test.csv, both solutions, test/.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    subset = _subset_of(self.builder_config)
    features = {
        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
        "image_id": tfds.features.Text(doc="16-hex-character GLDv2 image id."),
    }
    category = tfds.features.Text(doc="Wikimedia Commons category URL of the landmark ('' if "
                                      "train_label_to_category.csv lacks it).")
    supervised_keys = None
    if subset == "train_full":
      features["landmark_id"] = tfds.features.Scalar(np.int64, doc="GLDv2 train landmark id.")
      features["category"] = category
      supervised_keys = ("image", "landmark_id")
    elif subset == "train_clean":
      features["landmark_id"] = tfds.features.Scalar(
          np.int64, doc=f"Contiguous landmark id 0..K-1 (see {landmark_ids.FILE}).")
      features["original_landmark_id"] = tfds.features.Scalar(
          np.int64, doc="GLDv2 train landmark id.")
      features["category"] = category
      supervised_keys = ("image", "landmark_id")
    elif subset == "index":
      features["landmark_id"] = tfds.features.Scalar(
          np.int64, doc="Index landmark id (not a train id); -1 if the image is not in "
                        "index_image_to_landmark.csv.")
    else:
      features["landmarks"] = tfds.features.Sequence(
          tfds.features.Scalar(np.int64),
          doc="Train landmark ids shown (recognition solution); empty: no landmark.")
      features["retrieval_images"] = tfds.features.Sequence(
          tfds.features.Text(), doc="Index image ids that match (retrieval solution).")
      features["usage"] = tfds.features.Text(
          doc="Recognition solution Usage: Public, Private or Ignored (not scored).")
      features["retrieval_usage"] = tfds.features.Text(
          doc="Retrieval solution Usage: Public, Private or Ignored (not scored).")
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict(features),
        supervised_keys=supervised_keys,
        homepage=_HOMEPAGE,
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager
                        ) -> dict[str, Iterator[tuple[str, dict[str, Any]]]]:
    cfg = self.builder_config
    subset = _subset_of(cfg)
    root = epath.Path(dl_manager.manual_dir)
    csv_names, tar_folder = _REQUIRED[subset]
    for name in csv_names:
      _require(root / name, subset, "file")
    tar_paths = _tar_files(root / tar_folder, subset)
    if subset in ("train_full", "train_clean"):
      split_names = ["train", "validation"] if cfg.validation_fraction > 0 else ["train"]
      split_fn = _HashSplit(cfg.validation_fraction)
    else:
      split_names = [subset]
      split_fn = _OneSplit(subset)
    catalog = _READERS[subset](root, split_fn)
    if subset == "train_clean":
      # Written now, into the folder TFDS moves into place once all splits are written.
      landmark_ids.write(epath.Path(self.data_dir) / landmark_ids.FILE, catalog.landmarks)
    for split in split_names:  # fail before the long scan when the CSV already says so
      if not any(split_fn(i) == split for i in catalog.records):
        raise skips.EmptySplitError(
            f"gldv2/{cfg.name}: split {split!r} would be empty: no usable image id of "
            f"{catalog.csv_name} falls in it. " + self._empty_hint(split))
    return {split: self._generate_examples(catalog, tar_paths, split) for split in split_names}

  def _empty_hint(self, split: str) -> str:
    cfg = self.builder_config
    if split == "validation":
      return skips.validation_hint(f"gldv2/{cfg.name}", {"name": cfg.name, "subset": cfg.subset},
                                   cfg.validation_fraction)
    return ("See the build report for why each record was skipped, and "
            "Builder.MANUAL_DOWNLOAD_INSTRUCTIONS for the files expected.")

  def _generate_examples(self, catalog: _Catalog, tar_paths: list[epath.Path], split: str
                         ) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from _scan_split(catalog, tar_paths, split, self.builder_config.image_size,
                           self.data_dir, f"gldv2/{self.builder_config.name}",
                           self._empty_hint(split))


def _subset_of(cfg: BuilderConfig) -> str:
  subset = cfg.subset or cfg.name
  if subset not in SUBSETS:
    raise ValueError(f"gldv2 config {cfg.name!r}: subset {subset!r} is not one of {SUBSETS}.")
  return subset


def _require(path: epath.Path, subset: str, what: str) -> None:
  if not path.exists():
    raise FileNotFoundError(
        f"{path} not found: the gldv2 {subset} config needs this {what} in manual_dir. See "
        "Builder.MANUAL_DOWNLOAD_INSTRUCTIONS in tfds_builders/gldv2/gldv2_dataset_builder.py "
        "(or tfds_builders/gldv2/README.md) for the files and where to put them.")


def _tar_files(folder: epath.Path, subset: str) -> list[epath.Path]:
  _require(folder, subset, "folder of images_*.tar files")
  found = sorted(folder.glob("images_*.tar"), key=lambda p: p.name)
  if not found:
    raise FileNotFoundError(
        f"No images_*.tar in {folder}: the gldv2 {subset} config reads the official tar files "
        "there (not extracted). See Builder.MANUAL_DOWNLOAD_INSTRUCTIONS "
        "(tfds_builders/gldv2/README.md).")
  return found


class _HashSplit:
  """train/validation by a stable hash of the image id."""

  first = "train"  # where rows that name no image are counted

  def __init__(self, validation_fraction: float):
    self.validation_fraction = validation_fraction

  def __call__(self, image_id: str) -> str:
    if self.validation_fraction <= 0:
      return "train"
    return splits.split_of(image_id, self.validation_fraction)


class _OneSplit:
  """Every id in the one split of the config."""

  def __init__(self, split: str):
    self.split = self.first = split

  def __call__(self, image_id: str) -> str:
    del image_id
    return self.split


@dataclasses.dataclass
class _BadRow:
  """A CSV row that was not used, counted in the split of its image id."""
  reason: str
  image_id: str  # "" when the row names no image; then it counts in the first split
  detail: str


@dataclasses.dataclass
class _Catalog:
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
  bad_rows: list[_BadRow]
  split_of: _HashSplit | _OneSplit
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


def _read_categories(path: epath.Path, bad_rows: list[_BadRow]) -> dict[int, str]:
  categories: dict[int, str] = {}
  for where, row in _read_csv(path, ("landmark_id", "category")):
    landmark = _parse_int(row[0]) if len(row) >= 2 else None
    if landmark is None:
      bad_rows.append(_BadRow("malformed_row", "", f"{where}: {row!r}"))
      continue
    # The category is the last column: an unquoted comma in it only splits it.
    categories.setdefault(landmark, ",".join(row[1:]))
  return categories


def _add_id(image_id: str, value: Any, where: str, catalog: _Catalog) -> None:
  """Records the first row of an id; later rows are duplicates."""
  if image_id in catalog.records or image_id in catalog.rejected:
    catalog.bad_rows.append(_BadRow("duplicate_id", image_id,
                                    f"{where}: {image_id} is listed earlier"))
    return
  catalog.records[image_id] = value


def _bad_listing(reason: str, image_id: str, detail: str, catalog: _Catalog) -> None:
  """A bad row of the CSV that lists the images: counted; an earlier good row of the id stays."""
  catalog.bad_rows.append(_BadRow(reason, image_id, detail))
  if image_id and image_id not in catalog.records:
    catalog.rejected.add(image_id)


def _reject(reason: str, image_id: str, detail: str, catalog: _Catalog) -> None:
  """A bad label row: the image is dropped rather than stored with a wrong or missing label."""
  catalog.bad_rows.append(_BadRow(reason, image_id, detail))
  if image_id:
    catalog.records.pop(image_id, None)
    catalog.rejected.add(image_id)


def _read_train_full(root: epath.Path, split_of: _HashSplit | _OneSplit) -> _Catalog:
  bad_rows: list[_BadRow] = []
  categories = _read_categories(root / "train_label_to_category.csv", bad_rows)

  def features(landmark: int) -> dict[str, Any]:
    return {"landmark_id": landmark, "category": categories.get(landmark, "")}

  catalog = _Catalog("train.csv", "train", {}, features, set(), bad_rows, split_of)
  for where, row in _read_csv(root / "train.csv", ("id", "url", "landmark_id")):
    image_id = row[0] if row else ""
    # landmark_id is the last column, so an unquoted comma in a URL does not shift it.
    landmark = _parse_int(row[-1]) if len(row) >= 3 and image_id else None
    if landmark is None:
      _bad_listing("malformed_row", image_id, f"{where}: {row!r}", catalog)
      continue
    _add_id(image_id, landmark, where, catalog)
  return catalog


def _read_train_clean(root: epath.Path, split_of: _HashSplit | _OneSplit) -> _Catalog:
  bad_rows: list[_BadRow] = []
  categories = _read_categories(root / "train_label_to_category.csv", bad_rows)
  listed: dict[int, list[str]] = {}
  seen: set[str] = set()
  for where, row in _read_csv(root / "train_clean.csv", ("landmark_id", "images")):
    landmark = _parse_int(row[0]) if len(row) == 2 else None
    ids = row[1].split() if len(row) == 2 else []
    if landmark is None:
      bad_rows.append(_BadRow("malformed_row", "", f"{where}: {row[:1]!r}"))
      seen.update(ids)  # their images are known bad, not "not in the CSV"
      continue
    for image_id in ids:
      if image_id in seen:
        bad_rows.append(_BadRow("duplicate_id", image_id,
                                f"{where}: {image_id} is listed earlier"))
        continue
      seen.add(image_id)
      listed.setdefault(landmark, []).append(image_id)
  # Contiguous ids in the order of the original ids: the same mapping for the same CSV.
  originals = sorted(listed)
  contiguous = {original: k for k, original in enumerate(originals)}
  catalog = _Catalog(
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


def _read_index(root: epath.Path, split_of: _HashSplit | _OneSplit) -> _Catalog:
  catalog = _Catalog("index.csv", "index", {}, lambda landmark: {"landmark_id": landmark},
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
    elif image_id in catalog.rejected:
      continue  # counted already
    elif image_id not in catalog.records:
      catalog.bad_rows.append(_BadRow("not_in_csv", image_id,
                                      f"{where}: {image_id} is not in index.csv"))
    elif image_id in mapped:
      catalog.bad_rows.append(_BadRow("duplicate_id", image_id,
                                      f"{where}: {image_id} is mapped earlier"))
    else:
      mapped.add(image_id)
      catalog.records[image_id] = landmark
  return catalog


def _split_tokens(text: str) -> list[str]:
  # "None" is how the retrieval solution writes an ignored query's empty list.
  return [t for t in text.split() if t != "None"]


def _read_test(root: epath.Path, split_of: _HashSplit | _OneSplit) -> _Catalog:
  catalog = _Catalog(
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


def _read_solution(path: epath.Path, column: str, catalog: _Catalog
                   ) -> dict[str, tuple[str, str]]:
  """id -> (the list column, Usage) of a solution file; rows of unknown ids are counted."""
  solution: dict[str, tuple[str, str]] = {}
  for where, row in _read_csv(path, ("id", column, "Usage")):
    image_id = row[0] if row else ""
    if len(row) != 3 or not image_id:
      _reject("malformed_row", image_id, f"{where}: {row!r}", catalog)
    elif image_id in catalog.rejected:
      continue
    elif image_id not in catalog.records:
      catalog.bad_rows.append(_BadRow("not_in_csv", image_id,
                                      f"{where}: {image_id} is not in test.csv"))
    elif image_id in solution:
      catalog.bad_rows.append(_BadRow("duplicate_id", image_id,
                                      f"{where}: {image_id} is listed earlier"))
    else:
      solution[image_id] = (row[1], row[2])
  return solution


_READERS: dict[str, Callable[[epath.Path, _HashSplit | _OneSplit], _Catalog]] = {
    "train_full": _read_train_full,
    "train_clean": _read_train_clean,
    "index": _read_index,
    "test": _read_test,
}


def _member_id(name: str) -> str:
  """`0/1/2/0123456789abcdef.jpg` -> `0123456789abcdef` (other names are kept whole)."""
  base = name.rsplit("/", 1)[-1]
  return base[:-len(".jpg")] if base.endswith(".jpg") else base


def _scan_split(catalog: _Catalog, tar_paths: list[epath.Path], split: str, image_size: int,
                report_dir: epath.PathLike, dataset: str, empty_hint: str
                ) -> Iterator[tuple[str, dict[str, Any]]]:
  """Examples of one split, from one streaming pass over all tars, then its build report."""
  counter = skips.SkipCounter()
  found: set[str] = set()
  for tar_path in tar_paths:
    try:
      # "r|*": a forward-only stream. Members of other splits are never read into memory and
      # nothing is extracted to disk.
      with tar_path.open("rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
        for member in tar:
          if not member.isfile():
            continue  # the a/b/c/ folder entries
          image_id = _member_id(member.name)
          if catalog.split_of(image_id) != split or image_id in catalog.rejected:
            continue  # another split's image, or a row counted already
          where = f"{tar_path.name}:{member.name}"
          if image_id not in catalog.records:
            counter.skip("not_in_csv", f"{where}: {image_id} is not in {catalog.csv_name}")
            continue
          if image_id in found:
            counter.skip("duplicate_id", f"{where}: {image_id} is in a tar member before")
            continue
          raw = tar.extractfile(member).read()
          found.add(image_id)  # after the read: a truncated member counts as missing
          try:
            data, _ = images.normalize_photo(raw, image_size, name=where)
          except images.BadImage as e:
            counter.skip(e.reason, e.detail)
            continue
          counter.keep()
          yield image_id, {"image": data, "image_id": image_id,
                           **catalog.features(catalog.records[image_id])}
    except _TAR_ERRORS as e:
      counter.skip("corrupt_tar", f"{tar_path.name}: {e} (the rest of this tar is skipped)")
  for image_id in catalog.records:
    if image_id not in found and catalog.split_of(image_id) == split:
      counter.skip("missing_image", f"{image_id} ({catalog.csv_name}) is in no "
                                    f"{catalog.tar_folder}/images_*.tar")
  for bad in catalog.bad_rows:
    if (catalog.split_of(bad.image_id) if bad.image_id else catalog.split_of.first) == split:
      counter.skip(bad.reason, bad.detail)
  skips.write_split_report(os.fspath(report_dir), split, counter.as_dict())
  skips.require_examples(counter, dataset, split, report_dir, empty_hint)
