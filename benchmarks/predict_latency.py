r"""Predictor latency per photo on CPU: one photo at a time vs jitted batches, two model sizes.

  python benchmarks/predict_latency.py [--workdir runs/quickstart] [--batch_size 16]
      [--single 8] [--rounds 6] [--photo_size 1024x768] [--models quickstart,resnet50]

Times in ONE run, on this machine, the real `jaxgeo.predict.predictor.Predictor` end to end:
JPEG bytes of a phone-sized photo in (decoded with EXIF orientation, resized and centre-cropped
as evaluation does), the full `Prediction` out (top-5 places with offline place names,
per-granularity probabilities, tags, landmark). Two models:
  * quickstart: the tiny ResNet at 64 px with the quickstart's heads. With --workdir, the trained
    checkpoint of that run (its partitions, vocabulary, landmark head); without, RANDOM weights
    with heads of the same kind (partitions built from synthetic photo-like coordinates with the
    quickstart's tau, 1000 tags, 30 landmarks). Weights do not change the time.
  * resnet50: ResNet-50 at 224 px, RANDOM init (no weights can be downloaded here), with
    GeoEstimation-sized heads (three partitionings from synthetic coordinates, ~2.5k/5.5k/10k
    classes) and a 10k-tag head.
For each: per-photo latency p50/p95 calling `predict` on one photo at a time (bucket shape 1),
and `predict_batch` on --batch_size photos (its p50/p95 is the whole batch's latency, what each
photo in it waits), interleaved round by round; photos/s of both (from the medians), and the
ratio batch vs single. The model-only part
(the jitted forward on prepared pixels) is shown next to it, so decode/crop/naming costs are
visible. Compilation happens in a warm-up and is not timed.
"""

from __future__ import annotations

import argparse
import io
import os
import time

import jax
import numpy as np
from flax import nnx
from PIL import Image

from jaxgeo.geo import hierarchy as hierarchy_lib, partitions as partitions_lib
from jaxgeo.models import geolocator
from jaxgeo.predict import assembler, predictor as predictor_lib, runner
from photo_locations import photo_like_points
from timing import cpu_description, median_seconds


def make_photos(n: int, width: int, height: int, seed: int = 0) -> list[bytes]:
  """Phone-sized JPEGs with smooth structure (random noise compresses unlike photos)."""
  rng = np.random.default_rng(seed)
  photos = []
  for _ in range(n):
    small = rng.integers(0, 256, (height // 32, width // 32, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    photos.append(out.getvalue())
  return photos


def random_predictor(backbone: str, image_size: int, num_photos: int, tau_min: int,
                     tau_max: list[int], vocabulary_size: int, num_landmarks: int,
                     batch_size: int, devices=None) -> predictor_lib.Predictor:
  lat, lon = photo_like_points(num_photos, uniform_share=0.05)
  parts, _ = partitions_lib.build_partitions(lat, lon, tau_min=tau_min, tau_max=tau_max)
  parts = [dataclass_replace_name(p, partitions_lib.partition_name(tau_min, t))
           for p, t in zip(parts, tau_max)]
  hierarchy = hierarchy_lib.make_hierarchy(parts)
  model = geolocator.Geolocator(backbone, {p.name: p.num_classes for p in hierarchy.partitions},
                                image_size=image_size, vocabulary_size=vocabulary_size,
                                num_landmarks=num_landmarks, rngs=nnx.Rngs(params=0))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  return predictor_lib.Predictor(
      runner.ModelRunner(graphdef, params, rest, image_size=image_size, hierarchy=hierarchy,
                         batch_size=batch_size, devices=devices),
      assembler.AnswerAssembler(
          hierarchy=hierarchy,
          tags=[f"tag{i}" for i in range(vocabulary_size)] if vocabulary_size else None,
          landmark_ids=np.arange(num_landmarks) if num_landmarks else None))


def dataclass_replace_name(part, name):
  import dataclasses  # pylint: disable=g-import-not-at-top
  return dataclasses.replace(part, name=name)


def percentiles(seconds: list[float]) -> tuple[float, float]:
  return float(np.percentile(seconds, 50)) * 1e3, float(np.percentile(seconds, 95)) * 1e3


def time_model_only(predictor: predictor_lib.Predictor, size: int, repeats: int) -> float:
  """Median seconds of the jitted forward on a prepared (size, H, W, 3) batch."""
  pixels = jax.device_put(np.zeros((size, predictor.image_size, predictor.image_size, 3),
                                   np.uint8), predictor.devices[0])
  run = lambda: jax.block_until_ready(predictor.runner.compiled_forward(
      predictor.params, predictor.rest, pixels, graphdef=predictor.graphdef,
      hierarchy=predictor.hierarchy, crops=1, top_k=predictor.top_k, num_tags=predictor.num_tags))
  return median_seconds(run, repeats)


def bench(name: str, predictor: predictor_lib.Predictor, photos: list[bytes], single: int,
          rounds: int) -> dict[str, float]:
  b = predictor.batch_size
  predictor.predict(photos[0])  # compile the 1-photo shape
  predictor.predict_batch([photos[i % len(photos)] for i in range(b)])  # and the batch shape
  # Interleaved (a batch, then `single` photos one at a time, per round), so that other work on
  # a shared machine slows both modes alike and the ratio stays fair.
  one, batch = [], []
  for r in range(rounds):
    chunk = [photos[(r * b + i) % len(photos)] for i in range(b)]
    start = time.perf_counter()
    predictor.predict_batch(chunk)
    batch.append(time.perf_counter() - start)
    for i in range(single):
      start = time.perf_counter()
      predictor.predict(photos[(r * single + i) % len(photos)])
      one.append(time.perf_counter() - start)
  p50, p95 = percentiles(one)
  bp50, bp95 = percentiles(batch)
  single_rate = 1.0 / float(np.median(one))
  batch_rate = b / float(np.median(batch))
  model_1 = time_model_only(predictor, 1, max(3, rounds))
  model_b = time_model_only(predictor, b, max(3, rounds))
  print(f"{name}: image {predictor.image_size} px, classes "
        f"{'/'.join(str(p.num_classes) for p in predictor.hierarchy.partitions)}, "
        f"{len(predictor.tags)} tags, landmark head {predictor.has_landmarks}")
  print(f"  single photo : p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  -> {single_rate:7.1f} photos/s"
        f"   (model only {model_1 * 1e3:7.1f} ms)")
  print(f"  batch of {b:3d} : p50 {bp50:8.1f} ms  p95 {bp95:8.1f} ms per batch -> "
        f"{batch_rate:7.1f} photos/s   (model only {model_b * 1e3:7.1f} ms, "
        f"{b / model_b:7.1f} photos/s)")
  print(f"  ratio batch vs single: {batch_rate / single_rate:.2f}x photos/s")
  return {"p50_ms": p50, "p95_ms": p95, "single_per_s": single_rate, "batch_per_s": batch_rate}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", default=None, help="A quickstart run to load (default: "
                      "random weights with the quickstart's shapes).")
  parser.add_argument("--models", default="quickstart,resnet50")
  parser.add_argument("--batch_size", type=int, default=16)
  parser.add_argument("--single", type=int, default=8,
                      help="Photos timed one at a time in each round.")
  parser.add_argument("--rounds", type=int, default=6, help="Rounds (one batch each) timed.")
  parser.add_argument("--photo_size", default="1024x768")
  args = parser.parse_args()
  print(cpu_description(), flush=True)
  width, height = (int(x) for x in args.photo_size.split("x"))
  photos = make_photos(8, width, height)
  print(f"{jax.device_count()} device(s) {jax.devices()[0].platform}, {os.cpu_count()} CPU "
        f"cores; photos {width}x{height} JPEG ~{np.mean([len(p) for p in photos]) / 1e3:.0f} kB")
  models = args.models.split(",")
  if "quickstart" in models:
    if args.workdir:
      predictor = predictor_lib.Predictor.from_workdir(args.workdir, batch_size=args.batch_size)
      label = f"quickstart (trained, {args.workdir})"
    else:
      predictor = random_predictor("tiny", 64, 20_000, 10, [1000, 400, 150], 1000, 30,
                                   args.batch_size)
      label = "quickstart shapes (tiny ResNet, RANDOM weights)"
    bench(label, predictor, photos, args.single, args.rounds)
  if "resnet50" in models:
    predictor = random_predictor("resnet50", 224, 1_000_000, 20, [2500, 1000, 500], 10_000, 0,
                                 args.batch_size)
    bench("ResNet-50 (RANDOM init)", predictor, photos, args.single, args.rounds)


if __name__ == "__main__":
  main()
