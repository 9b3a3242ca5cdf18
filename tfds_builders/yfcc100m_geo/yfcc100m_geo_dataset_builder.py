"""yfcc100m_geo: the geotagged photos of YFCC100M and of its MP-16 subset.

Configs:
  yfcc100m: the YFCC100M metadata file(s) (`yfcc100m_dataset*`, plain or .bz2, 25- or 23-column
    layout) and the images, in the Multimedia Commons layout
    (`data/images/<h[:3]>/<h[3:6]>/<h>.jpg`) or a flat folder `images/<photo id>.jpg`.
  mp16: the MP-16 meta CSV (`mp16_places365.csv`) and GeoEstimation's msgpack image shards
    (`shard_<i>.msg`); tags, date and user are joined from YFCC100M metadata when it is present.

Only photos with valid coordinates are kept; labels for partitions are NOT stored (they are
computed at load time, so a new partitioning needs no rebuild). Skipped records are counted by
reason in `build_report.json` next to the data set, and the tags of each split's photos in
`tag_counts_<split>.tsv` (for the tag vocabulary). The validation split is a stable hash of the
photo id. Passing Beam options (`tfds build ... --beam_pipeline_options=...`) runs the scan as an
Apache Beam pipeline, for the 100M-row metadata on a distributed runner.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Iterator

import msgpack
import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from jaxgeo.data.raw import images, skips, splits, yfcc
from jaxgeo.geo import coordinate_csv

_DESCRIPTION = __doc__
_CITATION = """\
@article{thomee2016yfcc100m,
  title={YFCC100M: The New Data in Multimedia Research},
  author={Thomee, Bart and Shamma, David A and Friedland, Gerald and Elizalde, Benjamin and
          Ni, Karl and Poland, Douglas and Borth, Damian and Li, Li-Jia},
  journal={Communications of the ACM}, volume={59}, number={2}, pages={64--73}, year={2016}}
@inproceedings{muller2018geolocation,
  title={Geolocation Estimation of Photos using a Hierarchical Model and Scene Classification},
  author={M{\"u}ller-Budack, Eric and Pustu-Iren, Kader and Ewerth, Ralph},
  booktitle={ECCV}, year={2018}}
"""


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
  """Which raw layout to read, and how to store photos.

  Attributes:
    source: "yfcc100m" or "mp16".
    image_size: shorter side of stored photos in pixels (never upscaled; 0 keeps the size).
    face_ratio: compute each photo's face-area ratio (jaxgeo.predict.faces; slower).
    validation_fraction: share of photos, by a stable hash of the id, in the validation split
      (0 builds no validation split).
    coordinate_columns: mp16 only: which column of the meta CSV holds latitudes: "auto" (from
      the values), "as_named" (the one named LAT) or "swapped" (the one named LON).
  """
  source: str = "yfcc100m"
  image_size: int = images.DEFAULT_MAX_SIZE
  face_ratio: bool = False
  validation_fraction: float = 0.01
  coordinate_columns: str = "auto"


class Builder(tfds.core.GeneratorBasedBuilder):
  """Geotagged photos with coordinates, tags and their source row."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "mp16: `user` from the meta CSV's AUTHOR where no YFCC100M metadata "
                            "names the photographer."}
  BUILDER_CONFIGS = [
      BuilderConfig(name="yfcc100m", source="yfcc100m",
                    description="YFCC100M metadata + Multimedia Commons or flat image folders."),
      BuilderConfig(name="mp16", source="mp16",
                    description="MP-16: meta CSV + GeoEstimation msgpack shards."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  yfcc100m: put the metadata file(s) `yfcc100m_dataset` (or its parts, `.bz2` allowed) in
  manual_dir, and the images either in `manual_dir/data/images/` (the Multimedia Commons layout,
  `<first 3 hex of hash>/<next 3>/<hash>.jpg`) or in `manual_dir/images/<photo id>.jpg`.
  mp16: put `mp16_places365.csv` in manual_dir and the msgpack shards `shard_<i>.msg` in
  manual_dir or `manual_dir/shards/`; add `yfcc100m_dataset` to join tags, dates and users.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
            # Bytes-encoded float64: a float Scalar would be stored as float32 (tf.train.Example
            # keeps floats in float32) and no longer equal the source coordinates.
            "latitude": tfds.features.Tensor(shape=(), dtype=np.float64,
                                             encoding=tfds.features.Encoding.BYTES,
                                             doc="Degrees north."),
            "longitude": tfds.features.Tensor(shape=(), dtype=np.float64,
                                              encoding=tfds.features.Encoding.BYTES,
                                              doc="Degrees east."),
            "photo_id": tfds.features.Text(),
            "tags": tfds.features.Sequence(tfds.features.Text()),
            "date_taken": tfds.features.Text(),
            "user": tfds.features.Text(),
            "source": tfds.features.Text(doc="Where the record came from: file:line or shard."),
            "face_area_ratio": tfds.features.Scalar(
                np.float32, doc="Share of the image covered by faces; -1 if not computed."),
        }),
        supervised_keys=None,
        homepage="https://multimediacommons.wordpress.com/yfcc100m-core-dataset/",
        citation=_CITATION,
    )

  def _generate_splits(self, dl_manager, download_config):
    # Beam is used when the user passes a runner or pipeline options (tfds build
    # --beam_pipeline_options=...), the same switch TFDS's own Beam data sets rely on.
    self._use_beam = (download_config.beam_runner is not None
                      or download_config.beam_options is not None)
    return super()._generate_splits(dl_manager, download_config)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = os.fspath(dl_manager.manual_dir)
    if self.builder_config.source == "yfcc100m":
      source = _YfccSource(manual_dir, require_metadata=True)
    elif self.builder_config.source == "mp16":
      source = _Mp16Source(manual_dir, self.builder_config.coordinate_columns)
      skips.write_split_report(self.data_dir, "meta_csv", source.meta_report.as_dict())
    else:
      raise ValueError(f"Unknown source {self.builder_config.source!r}; use yfcc100m or mp16.")
    splits_built = ("train", "validation") if self.builder_config.validation_fraction > 0 else (
        "train",)
    return {split: self._generate_examples(source, split) for split in splits_built}

  def _generate_examples(self, source, split: str):
    cfg = self.builder_config
    processor = _Processor(split, cfg.image_size, cfg.face_ratio, cfg.validation_fraction)
    report_dir = self.data_dir
    if getattr(self, "_use_beam", False):
      return _beam_transform(source, processor, report_dir)
    name = f"yfcc100m_geo/{cfg.name}"
    if split == "validation":
      hint = skips.validation_hint(name, {"name": cfg.name, "source": cfg.source},
                                   cfg.validation_fraction)
    else:
      hint = ("See the build report for why each record was skipped, and "
              "Builder.MANUAL_DOWNLOAD_INSTRUCTIONS for the files and folders expected.")
    return _generate_locally(source, processor, report_dir, name, hint)


def _generate_locally(source, processor, report_dir, name: str,
                      empty_hint: str) -> Iterator[tuple[str, dict]]:
  counter = skips.SkipCounter()
  tag_counts: collections.Counter[str] = collections.Counter()
  seen: set[str] = set()
  for item in source.items():
    result = processor(item)
    if result is None:
      continue  # The other split's photo.
    if isinstance(result, images.BadImage | yfcc.BadRecord):
      counter.skip(result.reason, result.detail)
      continue
    key, example = result
    if key in seen:
      counter.skip("duplicate_id", f"photo {key} ({example['source']})")
      continue
    seen.add(key)
    counter.keep()
    tag_counts.update(example["tags"])
    yield key, example
  skips.write_split_report(report_dir, processor.split, counter.as_dict())
  skips.write_tag_counts(report_dir, processor.split, tag_counts)
  skips.require_examples(counter, name, processor.split, report_dir, empty_hint)


def _beam_transform(source, processor, report_dir):
  """The same scan as a Beam pipeline: skips become Beam counters and the build report."""
  beam = tfds.core.lazy_imports.apache_beam

  class Process(beam.DoFn):

    def process(self, item):
      result = processor(item)
      if result is None:
        return
      if isinstance(result, images.BadImage | yfcc.BadRecord):
        beam.metrics.Metrics.counter("yfcc100m_geo", result.reason).inc()
        yield beam.pvalue.TaggedOutput("skipped", (result.reason, result.detail))
        return
      yield result

  def first_of_duplicates(key_examples):
    key, examples = key_examples
    examples = sorted(examples, key=lambda e: e["source"])  # deterministic choice
    for dup in examples[1:]:
      beam.metrics.Metrics.counter("yfcc100m_geo", "duplicate_id").inc()
      yield beam.pvalue.TaggedOutput("skipped", ("duplicate_id", f"photo {key} ({dup['source']})"))
    yield key, examples[0]

  def write_report(skipped, num_kept):
    counter = skips.SkipCounter()
    counter.num_kept = num_kept
    for reason, detail in sorted(skipped):
      counter.skip(reason, detail)
    skips.write_split_report(report_dir, processor.split, counter.as_dict())

  @beam.ptransform_fn
  def scan(root):
    processed = (root
                 | "Shards" >> beam.Create(source.shards())
                 | "Read" >> beam.FlatMap(source.items_of_shard)
                 | "Spread" >> beam.Reshuffle()
                 | "Process" >> beam.ParDo(Process()).with_outputs("skipped", main="examples"))
    unique = (processed.examples
              | "Group ids" >> beam.GroupByKey()
              | "Dedupe" >> beam.FlatMap(first_of_duplicates).with_outputs("skipped",
                                                                          main="examples"))
    skipped = ((processed.skipped, unique.skipped) | "Skips" >> beam.Flatten()
               | "All skips" >> beam.combiners.ToList())
    num_kept = unique.examples | "Count kept" >> beam.combiners.Count.Globally()
    _ = (skipped | "Report" >> beam.Map(write_report,
                                        num_kept=beam.pvalue.AsSingleton(num_kept)))
    _ = (unique.examples
         | "Tags" >> beam.FlatMap(lambda key_example: key_example[1]["tags"])
         | "Count tags" >> beam.combiners.Count.PerElement()
         | "All tags" >> beam.combiners.ToList()
         | "Write tags" >> beam.Map(
             lambda counts: skips.write_tag_counts(report_dir, processor.split, dict(counts))))
    return unique.examples

  return scan()  # pylint: disable=no-value-for-parameter


class _Processor:
  """Turns one raw item into (key, example), a BadImage/BadRecord, or None (other split).

  An item is a BadRecord, or (features, image) where image is a file path or JPEG bytes.

  A picklable object so the same code runs in the local loop and in Beam workers.
  """

  def __init__(self, split: str, image_size: int, face_ratio: bool, validation_fraction: float):
    self.split = split
    self.image_size = image_size
    self.face_ratio = face_ratio
    self.validation_fraction = validation_fraction

  def __call__(self, item):
    if isinstance(item, yfcc.BadRecord):
      # Counted once, in its record's split (rows without an id count in train).
      mine = splits.split_of(item.record_id, self.validation_fraction) if item.record_id else (
          "train")
      return item if mine == self.split else None
    record, image_source = item
    if splits.split_of(record["photo_id"], self.validation_fraction) != self.split:
      return None
    try:
      # Sources give the image as a file path (read here, in the worker) or as bytes.
      raw = image_source if isinstance(image_source, bytes) else images.read_file(image_source)
      data, image = images.normalize_photo(raw, self.image_size, name=record["source"])
    except images.BadImage as e:
      return e
    ratio = -1.0
    if self.face_ratio:
      from jaxgeo.predict import faces  # pylint: disable=g-import-not-at-top
      ratio = faces.face_area_ratio(image)
    return record["photo_id"], {**record, "image": data, "face_area_ratio": ratio}


def _find(manual_dir: str, patterns: list[str]) -> list[str]:
  """Files matching the patterns, sorted (epath, as TFDS builders do, to reach cloud storage)."""
  found = {os.fspath(p) for pattern in patterns for p in epath.Path(manual_dir).glob(pattern)
           if p.is_file()}
  return sorted(found)


class _YfccSource:
  """Metadata lines + images of YFCC100M. `items()` yields (record, image loader) or BadRecord."""

  def __init__(self, manual_dir: str, require_metadata: bool):
    self.manual_dir = manual_dir
    self.metadata_files = _find(manual_dir, ["yfcc100m_dataset*"])
    if require_metadata and not self.metadata_files:
      raise FileNotFoundError(
          f"No YFCC100M metadata file (yfcc100m_dataset*) in {manual_dir}; see the manual "
          "download instructions of yfcc100m_geo.")
    mc_root = os.path.join(manual_dir, "data", "images")
    flat_root = os.path.join(manual_dir, "images")
    if epath.Path(mc_root).is_dir():
      self.layout, self.images_root = "multimedia_commons", mc_root
    elif epath.Path(flat_root).is_dir():
      self.layout, self.images_root = "flat", flat_root
    elif require_metadata:
      raise FileNotFoundError(f"No image folder in {manual_dir}: expected data/images/ "
                              "(Multimedia Commons layout) or images/ (<photo id>.jpg).")

  def shards(self) -> list[str]:
    return self.metadata_files

  def image_file(self, photo_id: str, photo_hash: str) -> str:
    if self.layout == "flat":
      return os.path.join(self.images_root, f"{photo_id}.jpg")
    return yfcc.image_path(self.images_root, photo_hash)

  def records(self, path: str):
    """Parsed records of one metadata file: dicts of features, or BadRecord."""
    name = os.path.basename(path)
    num_columns = None
    for number, line in yfcc.iter_lines(path):
      where = f"{name}:{number}"
      if num_columns is None:
        num_columns = yfcc.detect_layout(line, where)
      try:
        rec = yfcc.parse_line(line, num_columns, where)
      except yfcc.BadRecord as e:
        yield e
        continue
      yield {"photo_id": rec.photo_id, "latitude": rec.latitude, "longitude": rec.longitude,
             "tags": list(rec.tags), "date_taken": rec.date_taken, "user": rec.user,
             "source": where, "_hash": rec.photo_hash}

  def items_of_shard(self, path: str):
    for rec in self.records(path):
      if isinstance(rec, yfcc.BadRecord):
        yield rec
        continue
      yield rec, self.image_file(rec["photo_id"], rec.pop("_hash"))

  def items(self):
    for path in self.metadata_files:
      yield from self.items_of_shard(path)


class _Mp16Source:
  """MP-16 meta CSV + msgpack shards (+ YFCC metadata for tags when present)."""

  def __init__(self, manual_dir: str, coordinate_columns: str = "auto"):
    meta = os.path.join(manual_dir, "mp16_places365.csv")
    if not epath.Path(meta).exists():
      raise FileNotFoundError(f"{meta} not found; see the manual download instructions.")
    self.shard_files = _find(manual_dir, ["shard_*.msg", "shards/shard_*.msg"])
    if not self.shard_files:
      raise FileNotFoundError(f"No msgpack shards (shard_<i>.msg) in {manual_dir} or "
                              f"{manual_dir}/shards.")
    ids, lat, lon, self.meta_report = coordinate_csv.read_coordinates(meta, coordinate_columns)
    if self.meta_report.columns and self.meta_report.columns.order == "swapped":
      logging.warning("%s: %s.", meta, self.meta_report.columns.evidence)
    self.coordinates = dict(zip(ids.tolist(), zip(lat.tolist(), lon.tolist())))
    # The photographer: the meta CSV's AUTHOR, unless YFCC100M metadata (below) names one.
    self.authors = {_mp16_photo_id(i): a for i, a in coordinate_csv.read_authors(meta).items()}
    self.extra = {}
    yfcc_source = _YfccSource(manual_dir, require_metadata=False)
    wanted = {_mp16_photo_id(i) for i in self.coordinates}
    for path in yfcc_source.metadata_files:
      for rec in yfcc_source.records(path):
        if isinstance(rec, dict) and rec["photo_id"] in wanted:
          self.extra[rec["photo_id"]] = {k: rec[k] for k in ("tags", "date_taken", "user")}

  def shards(self) -> list[str]:
    return self.shard_files

  def items_of_shard(self, path: str):
    name = os.path.basename(path)
    with epath.Path(path).open("rb") as f:
      for index, entry in enumerate(msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 30)):
        where = f"{name}:{index}"
        image_id = entry.get("id") if isinstance(entry, dict) else None
        if image_id is None or "image" not in entry:
          yield yfcc.BadRecord("malformed_row", f"{where}: not an {{image, id}} map")
          continue
        if image_id not in self.coordinates:
          yield yfcc.BadRecord("no_metadata", f"{where}: {image_id} has no usable row in the "
                                              "meta CSV", _mp16_photo_id(image_id))
          continue
        lat, lon = self.coordinates[image_id]
        photo_id = _mp16_photo_id(image_id)
        extra = self.extra.get(photo_id, {"tags": [], "date_taken": "", "user": ""})
        extra = {**extra, "user": extra["user"] or self.authors.get(photo_id, "")}
        rec = {"photo_id": photo_id, "latitude": lat, "longitude": lon, "source": where,
               **extra}
        yield rec, bytes(entry["image"])

  def items(self):
    for path in self.shard_files:
      yield from self.items_of_shard(path)


def _mp16_photo_id(image_id: str) -> str:
  """`e1/55/4763369508.jpg` -> `4763369508`."""
  return os.path.splitext(os.path.basename(image_id))[0]
