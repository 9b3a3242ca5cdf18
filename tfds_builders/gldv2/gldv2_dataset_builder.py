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

import dataclasses
import os
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from jaxgeo.data import landmark_ids
from jaxgeo.data.raw import images, skips
from tfds_builders.gldv2 import gldv2_catalog

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
    csv_names, tar_folder = gldv2_catalog.REQUIRED[subset]
    for name in csv_names:
      gldv2_catalog.require(root / name, subset, "file")
    tar_paths = gldv2_catalog.tar_files(root / tar_folder, subset)
    if subset in ("train_full", "train_clean"):
      split_names = ["train", "validation"] if cfg.validation_fraction > 0 else ["train"]
      split_fn = gldv2_catalog.HashSplit(cfg.validation_fraction)
    else:
      split_names = [subset]
      split_fn = gldv2_catalog.OneSplit(subset)
    catalog = gldv2_catalog.READERS[subset](root, split_fn)
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

  def _generate_examples(self, catalog: gldv2_catalog.Catalog, tar_paths: list[epath.Path],
                         split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from _scan_split(catalog, tar_paths, split, self.builder_config.image_size,
                           self.data_dir, f"gldv2/{self.builder_config.name}",
                           self._empty_hint(split))


def _subset_of(cfg: BuilderConfig) -> str:
  subset = cfg.subset or cfg.name
  if subset not in SUBSETS:
    raise ValueError(f"gldv2 config {cfg.name!r}: subset {subset!r} is not one of {SUBSETS}.")
  return subset


def _member_id(name: str) -> str:
  """`0/1/2/0123456789abcdef.jpg` -> `0123456789abcdef` (other names are kept whole)."""
  base = name.rsplit("/", 1)[-1]
  return base[:-len(".jpg")] if base.endswith(".jpg") else base


def _scan_split(catalog: gldv2_catalog.Catalog, tar_paths: list[epath.Path], split: str,
                image_size: int, report_dir: epath.PathLike, dataset: str, empty_hint: str
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
