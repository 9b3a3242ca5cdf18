r"""Train input pipeline throughput at 224 px from ArrayRecord, against a plain PIL loop.

  python benchmarks/input_pipeline.py [--num_photos 2000] [--workers 0,2]

Generates a toy world with photos at 320 px on the shorter side (the size the builders store, as
in MP-16's shards), builds it with the yfcc100m_geo builder, then times in the same run:
  * reference: a plain loop that decodes each JPEG with PIL and resizes it to 224 x 224;
  * the jaxgeo train pipeline (decode, random-resized crop, flip, labels, batching) with 0
    worker processes and with each count in --workers.
Examples/s are also given per CPU core used (worker processes, or 1 for the in-process run).
"""

import io
import os
import tempfile
import time

import grain
import numpy as np
import tensorflow_datasets as tfds
from absl import app, flags
from PIL import Image

from jaxgeo.data import pipeline, vocab
from jaxgeo.geo import partitions as partitions_lib
from jaxgeo.toy_world import generator
from jaxgeo.toy_world.config import ToyWorldConfig
from tfds_builders.yfcc100m_geo import yfcc100m_geo_dataset_builder as yfcc_builder
from timing import cpu_description

_NUM_PHOTOS = flags.DEFINE_integer("num_photos", 2000, "Photos in the generated data set.")
_WORKERS = flags.DEFINE_list("workers", ["2"], "grain worker counts to time besides 0.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Time each configuration for about this long.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Reuse/keep the built data here.")
SIZE = 224


def build_data(root: str) -> tuple[str, str]:
  name = "yfcc100m_geo/yfcc100m"
  data_dir = os.path.join(root, "tfds")
  if not os.path.exists(os.path.join(data_dir, name)):
    world = os.path.join(root, "world")
    generator.generate_toy_world(world, ToyWorldConfig(
        num_train_photos=_NUM_PHOTOS.value, num_test_photos=10, num_yfcc4k_photos=2,
        num_landmarks=4, image_size=320, gldv2_train_per_landmark=2,
        gldv2_index_per_landmark=1, gldv2_test_photos=2))
    builder = yfcc_builder.Builder(config="yfcc100m", data_dir=data_dir,
                                   file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.path.join(world, "yfcc100m")))
  return name, data_dir


def time_plain_pil(source, seconds: float) -> float:
  """The reference: decode + resize with PIL, nothing else."""
  blobs = [source[i]["image"] for i in range(min(len(source), 512))]
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    image = Image.open(io.BytesIO(blobs[count % len(blobs)])).convert("RGB")
    np.asarray(image.resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    count += 1
  return count / (time.perf_counter() - start)


def time_pipeline(source, parts, vocabulary, workers: int, seconds: float) -> float:
  loader = pipeline.make_train_loader(
      source, batch_size=_BATCH.value, image_size=SIZE, partitions=parts,
      vocabulary=vocabulary, worker_count=workers,
      shard_options=grain.sharding.NoSharding())
  iterator = iter(loader)
  next(iterator)  # start-up (worker processes) is not throughput
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    count += len(next(iterator)["image"])
  return count / (time.perf_counter() - start)


def main(argv):
  del argv
  print(cpu_description(), flush=True)
  with tempfile.TemporaryDirectory() as tmp:
    name, data_dir = build_data(_DATA_DIR.value or tmp)
    source = pipeline.open_split(name, "train", data_dir)
    lat = np.array([source[i]["latitude"] for i in range(len(source))], np.float64)
    lon = np.array([source[i]["longitude"] for i in range(len(source))], np.float64)
    parts, _ = partitions_lib.build_partitions(lat, lon, tau_min=5, tau_max=[400, 100])
    counts = vocab.read_tag_counts(os.path.join(
        data_dir, name, "1.0.0", "tag_counts_train.tsv"))
    vocabulary = vocab.make_vocabulary(counts, size=1000)
    first = Image.open(io.BytesIO(source[0]["image"]))
    print(f"{len(source)} photos, stored at {first.size[0]}x{first.size[1]} px; crops "
          f"{SIZE}x{SIZE}; {os.cpu_count()} CPU cores")
    reference = time_plain_pil(source, _SECONDS.value)
    print(f"reference, plain PIL decode + resize loop: {reference:8.0f} examples/s (1 core)")
    for workers in [0] + [int(w) for w in _WORKERS.value]:
      rate = time_pipeline(source, parts, vocabulary, workers, _SECONDS.value)
      cores = max(workers, 1)
      print(f"jaxgeo train pipeline, {workers} worker processes: {rate:8.0f} examples/s, "
            f"{rate / cores:6.0f} per core, {rate / reference:.2f}x the reference")


if __name__ == "__main__":
  app.run(main)
