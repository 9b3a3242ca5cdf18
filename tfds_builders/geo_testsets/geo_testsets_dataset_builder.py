"""geo_testsets: the standard photo-geolocation test sets Im2GPS, Im2GPS3k and YFCC4k.

Configs (one split, `test`, each):
  im2gps: Hays & Efros' 237 test images; labels from GeoEstimation's `im2gps_places365.csv`,
    images in `images/` named by IMG_ID.
  im2gps3k: Vo et al.'s 3,000 test images; the usual `im2gps3k_places365.csv` labels 2,997 of
    them. Images without a row are reported by name in the build report (reason `no_label`),
    never given invented coordinates.
  Both label files circulate in two versions with the same values: the 2018 files' header says
  `IMG_ID,AUTHOR,LON,LAT,...` over latitudes then longitudes, later ones say
  `IMG_ID,AUTHOR,LAT,LON,...`.
  Which column holds the latitudes is decided from the values (jaxgeo.geo.coordinate_csv) and
  written to the build report; where the values do not settle it the build stops and says how
  to force it (the config field `coordinate_columns`).
  yfcc4k: Vo et al.'s 4,536 YFCC100M photos; labels from their YFCC100M metadata rows
    (`yfcc4k_dataset`, 25- or 23-column layout), images in the Multimedia Commons layout
    (`data/images/<h[:3]>/<h[3:6]>/<h>.jpg`) or a flat folder `images/<photo id>.jpg`.

Every example has the photo (an RGB JPEG whose shorter side is at most `image_size`, never
upscaled), its id, its ground-truth coordinate and the file:line it came from. Records that
cannot be used are skipped and counted by reason in `build_report.json` next to the data set,
which also lists every unlabelled image by name. Building needs no TensorFlow:

  tfds build tfds_builders/geo_testsets --config im2gps3k --manual_dir DIR --data_dir DIR \
      --file_format array_record
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import glob
import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from jaxgeo.data.raw import images, skips, yfcc
from jaxgeo.geo import coordinate_csv

_DESCRIPTION = __doc__
_CITATION = """\
@inproceedings{hays2008im2gps,
  title={IM2GPS: estimating geographic information from a single image},
  author={Hays, James and Efros, Alexei A},
  booktitle={CVPR}, year={2008}}
@inproceedings{vo2017revisiting,
  title={Revisiting IM2GPS in the Deep Learning Era},
  author={Vo, Nam and Jacobs, Nathan and Hays, James},
  booktitle={ICCV}, year={2017}}
"""

# The labels file of each CSV-labelled test set (GeoEstimation's meta/ folder).
_LABEL_FILES = {"im2gps": "im2gps_places365.csv", "im2gps3k": "im2gps3k_places365.csv"}
_YFCC4K_METADATA = "yfcc4k_dataset"
# Photo decoding and resizing run in threads: PIL releases the GIL while it decodes, and the
# Im2GPS3k originals are full-size Flickr photos.
_NUM_THREADS = min(8, os.cpu_count() or 1)


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
  """Which test set to read, and how to store its photos.

  Attributes:
    test_set: "im2gps", "im2gps3k" or "yfcc4k"; also the name of the test set's folder in
      manual_dir.
    image_size: shorter side of stored photos in pixels (never upscaled; 0 keeps the size).
    coordinate_columns: which column of the labels CSV holds latitudes: "auto" (from the
      values), "as_named" (the one named LAT) or "swapped" (the one named LON).
  """
  test_set: str = "im2gps3k"
  image_size: int = images.DEFAULT_MAX_SIZE
  coordinate_columns: str = "auto"


class Builder(tfds.core.GeneratorBasedBuilder):
  """Geolocation test photos with their ground-truth coordinates."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "`user`, the photographer (for the retrieval leakage report)."}
  BUILDER_CONFIGS = [
      BuilderConfig(name="im2gps", test_set="im2gps",
                    description="Im2GPS (237 images): im2gps_places365.csv + images/."),
      BuilderConfig(name="im2gps3k", test_set="im2gps3k",
                    description="Im2GPS3k (3,000 images, 2,997 labelled): "
                                "im2gps3k_places365.csv + images/."),
      BuilderConfig(name="yfcc4k", test_set="yfcc4k",
                    description="YFCC4k (4,536 photos): YFCC100M metadata rows + images."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Each config reads `manual_dir/<config name>/` if that folder exists, else manual_dir itself,
  so one manual_dir can hold all three test sets (manual_dir/im2gps/, manual_dir/im2gps3k/,
  manual_dir/yfcc4k/), or --manual_dir can point at one test set's folder.
  im2gps: `im2gps_places365.csv` (GeoEstimation, meta/) and the images in `images/`, each file
  named by its IMG_ID (images: http://graphics.cs.cmu.edu/projects/im2gps/).
  im2gps3k: `im2gps3k_places365.csv` (GeoEstimation, meta/) and the images in `images/`, each
  file named by its IMG_ID (images: https://github.com/lugiavn/revisiting-im2gps/).
  yfcc4k: the YFCC100M metadata rows of the 4,536 photos in `yfcc4k_dataset` (tab-separated,
  25 or 23 columns, `.bz2` allowed) and the images either in `data/images/` (Multimedia Commons
  layout, `<first 3 hex of hash>/<next 3>/<hash>.jpg`) or in `images/<photo id>.jpg`.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
            "image_id": tfds.features.Text(doc="IMG_ID of the labels CSV, or YFCC photo id."),
            "latitude": _exact_float64("Ground-truth latitude, degrees."),
            "longitude": _exact_float64("Ground-truth longitude, degrees."),
            "source": tfds.features.Text(doc="Where the label came from: file:line."),
            "user": tfds.features.Text(doc="The photographer's Flickr NSID: the labels CSV's "
                                           "AUTHOR or the YFCC100M row's user; empty if the "
                                           "copy names none."),
        }),
        supervised_keys=None,
        homepage="https://github.com/lugiavn/revisiting-im2gps/",
        citation=_CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    test_set = self.builder_config.test_set
    root = _test_set_root(os.fspath(dl_manager.manual_dir), test_set)
    if test_set in _LABEL_FILES:
      try:
        source = _CsvLabelledSource(root, _LABEL_FILES[test_set],
                                    self.builder_config.coordinate_columns)
      except coordinate_csv.ColumnOrderError as e:
        forced = json.dumps({"name": f"{test_set}_as_named", "test_set": test_set,
                             "coordinate_columns": "as_named"})
        raise coordinate_csv.ColumnOrderError(
            f"{e}\nFor this builder, e.g.: tfds build tfds_builders/geo_testsets --config "
            f"'{forced}' --manual_dir ... (the data set is then named "
            f"geo_testsets/{test_set}_as_named).") from None
    elif test_set == "yfcc4k":
      source = _Yfcc4kSource(root)
    else:
      raise ValueError(f"Unknown test_set {test_set!r} in config {self.builder_config.name!r}; "
                       f"use one of {sorted([*_LABEL_FILES, 'yfcc4k'])}.")
    return {"test": self._generate_examples(source)}

  def _generate_examples(self, source):
    return _generate(source, self.builder_config.image_size, self.data_dir, "test",
                     f"geo_testsets/{self.builder_config.name}")


def _exact_float64(doc: str) -> tfds.features.Tensor:
  """A float64 scalar stored as its 8 bytes.

  A `Scalar(np.float64)` goes into tf.train.Example's FloatList, which is float32: ground truth
  would come back rounded (up to ~2 m) and no longer equal to the labels file.
  """
  return tfds.features.Tensor(shape=(), dtype=np.float64,
                              encoding=tfds.features.Encoding.BYTES, doc=doc)


def _test_set_root(manual_dir: str, test_set: str) -> str:
  """`manual_dir/<test_set>/` if it exists, else manual_dir (a folder holding one set)."""
  sub = os.path.join(manual_dir, test_set)
  return sub if os.path.isdir(sub) else manual_dir


def _generate(source, image_size: int, report_dir: str, split: str, dataset: str
              ) -> Iterator[tuple[str, dict[str, Any]]]:
  """Loads the photos of the source's labelled records; writes the build report at the end."""
  counter = skips.SkipCounter()
  for reason, detail in source.skipped():
    counter.skip(reason, detail)
  kept_per_layout: dict[str, int] = {}

  def load(record: dict[str, Any]):
    try:
      raw, layout = source.read_image(record)
      data, _ = images.normalize_photo(
          raw, image_size, name=f"{record['source']} ({record['image_id']})")
    except images.BadImage as e:
      return e
    except OSError as e:  # unreadable (permissions, a folder named like the photo): skip it too
      return images.BadImage("unreadable_image", f"{record['source']}: {e}")
    return record, data, layout

  for result in _map_ordered(load, source.records(), _NUM_THREADS):
    if isinstance(result, images.BadImage):
      counter.skip(result.reason, result.detail)
      continue
    record, data, layout = result
    counter.keep()
    kept_per_layout[layout] = kept_per_layout.get(layout, 0) + 1
    yield record["image_id"], {"image": data, "image_id": record["image_id"],
                               "latitude": record["latitude"],
                               "longitude": record["longitude"], "source": record["source"],
                               "user": record["user"]}
  for reason, detail in source.skipped_after_scan():
    counter.skip(reason, detail)
  report = {**counter.as_dict(), **source.report_extras(),
            "kept_per_image_layout": dict(sorted(kept_per_layout.items()))}
  skips.write_split_report(report_dir, split, report)
  skips.require_examples(counter, dataset, split, report_dir,
                         "See the build report for why each photo was skipped, and "
                         "Builder.MANUAL_DOWNLOAD_INSTRUCTIONS for the files expected.")


def _map_ordered(fn: Callable, items: Iterable, num_threads: int, window: int = 64) -> Iterator:
  """fn over items in threads, results in input order, at most `window` items in flight."""
  if num_threads <= 1:
    yield from map(fn, items)
    return
  with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
    pending = collections.deque()
    for item in items:
      pending.append(pool.submit(fn, item))
      if len(pending) >= window:
        yield pending.popleft().result()
    for future in pending:
      yield future.result()


class _CsvLabelledSource:
  """Im2GPS / Im2GPS3k: a places365 labels CSV and a folder of images named by IMG_ID."""

  def __init__(self, root: str, csv_name: str, coordinate_columns: str = "auto"):
    self.csv_path = os.path.join(root, csv_name)
    self.images_root = os.path.join(root, "images")
    if not os.path.isfile(self.csv_path):
      raise FileNotFoundError(f"{self.csv_path} not found (looked in {root}); see the manual "
                              "download instructions of geo_testsets.")
    if not os.path.isdir(self.images_root):
      raise FileNotFoundError(f"No image folder {self.images_root}: put the test images there, "
                              "each named by its IMG_ID.")
    self.csv_name = csv_name
    ids, lat, lon, self.csv_report = coordinate_csv.read_coordinates(self.csv_path,
                                                                     coordinate_columns)
    if self.csv_report.columns and self.csv_report.columns.order == "swapped":
      logging.warning("%s: %s.", self.csv_path, self.csv_report.columns.evidence)
    self.row_ids, self.row_lines = _csv_rows(self.csv_path)
    first_line = {}
    for image_id, line in zip(self.row_ids, self.row_lines):
      first_line.setdefault(image_id, line)
    authors = coordinate_csv.read_authors(self.csv_path)
    self.labelled = [{"image_id": i, "latitude": float(a), "longitude": float(o),
                      "source": f"{csv_name}:{first_line.get(i, '?')}",
                      "user": authors.get(i, "")}
                     for i, a, o in zip(ids.tolist(), lat.tolist(), lon.tolist())]
    # An image whose row is bad is counted with its row; only images no row names are unlabelled.
    named = set(self.row_ids)
    self.unlabelled = [name for name in _image_files(self.images_root) if name not in named]
    logging.info("%s: %d rows, %d usable; %d images in %s have no row. %s", self.csv_path,
                 self.csv_report.num_rows, len(self.labelled), len(self.unlabelled),
                 self.images_root, self.csv_report.summary())

  def skipped(self) -> Iterator[tuple[str, str]]:
    """The labels CSV's bad rows, as read_coordinates counted them."""
    for reason, count in self.csv_report.skipped.items():
      rows = self.csv_report.examples.get(reason, [])
      for k in range(count):
        # read_coordinates keeps the row numbers of the first few only (as SkipCounter does).
        yield reason, (self._where(rows[k]) if k < len(rows) else f"{self.csv_name}: row")

  def _where(self, row: int) -> str:
    """`file:line` of a data row numbered from 1, as read_coordinates numbers them."""
    if 1 <= row <= len(self.row_lines):
      return f"{self.csv_name}:{self.row_lines[row - 1]}"
    return f"{self.csv_name}: data row {row}"

  def records(self) -> list[dict[str, Any]]:
    return self.labelled

  def read_image(self, record: dict[str, Any]) -> tuple[bytes, str]:
    """The photo's bytes and its layout; BadImage if missing or empty."""
    return images.read_file(os.path.join(self.images_root, record["image_id"])), "images"

  def skipped_after_scan(self) -> Iterator[tuple[str, str]]:
    for name in self.unlabelled:
      yield "no_label", f"{name}: image in images/ without a row in {self.csv_name}"

  def report_extras(self) -> dict[str, Any]:
    return {"unlabelled_images": list(self.unlabelled), "labels_file": self.csv_path,
            "images_dir": self.images_root,
            "coordinate_columns": (self.csv_report.columns.as_dict()
                                   if self.csv_report.columns else None)}


def _csv_rows(path: str) -> tuple[list[str], list[int]]:
  """IMG_ID and first file line of each data row, numbered as pandas numbers them.

  pandas (coordinate_csv.read_coordinates) skips empty lines; so does this, so row r here is
  its row r.
  """
  ids, lines = [], []
  with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
    reader = csv.reader(f)
    header = [h.strip() for h in next(reader, [])]
    column = header.index("IMG_ID")  # read_coordinates has already checked the header
    previous = reader.line_num
    for row in reader:
      start, previous = previous + 1, reader.line_num
      if not row:
        continue
      ids.append(row[column] if column < len(row) else "")
      lines.append(start)
  return ids, lines


def _image_files(root: str) -> list[str]:
  """Image files under root as paths relative to it ('/'-separated), sorted; no hidden files."""
  found = []
  for folder, dirs, files in os.walk(root, followlinks=True):
    dirs[:] = [d for d in dirs if not d.startswith(".")]
    rel = os.path.relpath(folder, root)
    for name in files:
      if not name.startswith("."):  # .DS_Store and the like are not photos
        found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
  return sorted(found)


class _Yfcc4kSource:
  """YFCC4k: YFCC100M metadata rows and the photos in either image layout."""

  def __init__(self, root: str):
    self.metadata_files = sorted(p for p in glob.glob(os.path.join(root, _YFCC4K_METADATA + "*"))
                                 if os.path.isfile(p))
    if not self.metadata_files:
      raise FileNotFoundError(f"No YFCC4k metadata file ({_YFCC4K_METADATA}, the YFCC100M rows "
                              f"of the test photos) in {root}; see the manual download "
                              "instructions of geo_testsets.")
    # Both layouts may be present (a partial Multimedia Commons copy topped up by hand): each
    # photo is looked up in the Multimedia Commons tree first, then in the flat folder.
    self.roots = [(layout, path) for layout, path in (
        ("multimedia_commons", os.path.join(root, "data", "images")),
        ("flat", os.path.join(root, "images"))) if os.path.isdir(path)]
    if not self.roots:
      raise FileNotFoundError(f"No image folder in {root}: expected data/images/ (Multimedia "
                              "Commons layout) or images/ (<photo id>.jpg).")
    self.layouts: dict[str, int] = {}
    self.bad: list[tuple[str, str]] = []
    self.labelled: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in self.metadata_files:
      for rec in self._records_of(path):
        if isinstance(rec, yfcc.BadRecord):
          self.bad.append((rec.reason, rec.detail))
        elif rec["image_id"] in seen:
          self.bad.append(("duplicate_id", f"{rec['source']}: photo {rec['image_id']} again "
                                           "(first row kept)"))
        else:
          seen.add(rec["image_id"])
          self.labelled.append(rec)

  def _records_of(self, path: str) -> Iterator[dict[str, Any] | yfcc.BadRecord]:
    name = os.path.basename(path)
    lines = list(yfcc.iter_lines(path))  # 4,536 rows: small enough to hold
    num_columns = _detect_layout(lines, name)
    self.layouts[name] = num_columns
    logging.info("%s: %d-column YFCC100M layout%s.", path, num_columns,
                 " (with line number and photo hash)" if num_columns == 25 else
                 " (no line number or hash; hashes recomputed from the download URL)")
    for number, line in lines:
      where = f"{name}:{number}"
      try:
        rec = yfcc.parse_line(line, num_columns, where)
      except yfcc.BadRecord as e:
        yield e
        continue
      if not rec.photo_id.strip():
        yield yfcc.BadRecord("malformed_row", f"{where}: empty photo id")
        continue
      yield {"image_id": rec.photo_id, "latitude": rec.latitude, "longitude": rec.longitude,
             "source": where, "_hash": rec.photo_hash, "user": rec.user}

  def skipped(self) -> list[tuple[str, str]]:
    return self.bad

  def records(self) -> list[dict[str, Any]]:
    return self.labelled

  def read_image(self, record: dict[str, Any]) -> tuple[bytes, str]:
    """The photo's bytes and the layout it was found in; BadImage if missing or empty."""
    tried = []
    for layout, root in self.roots:
      if layout == "flat":
        path = os.path.join(root, f"{record['image_id']}.jpg")
      else:
        path = yfcc.image_path(root, record["_hash"])
      if os.path.exists(path):
        return images.read_file(path), layout
      tried.append(path)
    raise images.BadImage("missing_image", f"{record['source']}: photo {record['image_id']}: "
                                           f"no file at {' or '.join(tried)}")

  def skipped_after_scan(self) -> list[tuple[str, str]]:
    return []

  def report_extras(self) -> dict[str, Any]:
    return {"metadata_columns": dict(self.layouts),
            "image_folders": {layout: path for layout, path in self.roots}}


def _detect_layout(lines: list[tuple[int, str]], name: str) -> int:
  """The column count of the first line in a known layout; lines before it become bad rows.

  Raises:
    ValueError: If no line has 25 or 23 columns (not a YFCC100M metadata file).
  """
  first_error = None
  for number, line in lines:
    try:
      return yfcc.detect_layout(line, f"{name}:{number}")
    except ValueError as e:
      first_error = first_error or e
  if first_error is None:
    raise ValueError(f"{name} is empty: expected the YFCC100M metadata rows of the test photos.")
  raise first_error
