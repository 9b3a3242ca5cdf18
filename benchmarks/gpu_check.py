r"""The accelerator check: one call, one table of the figures docs/benchmarks.md records for a
GPU or TPU.

  python benchmarks/gpu_check.py            # one accelerator, under 8 minutes
  python benchmarks/gpu_check.py --smoke    # tiny sizes on the CPU in about a minute (tested)

Rows, each timed after its compilation (median of the timed repeats):
  * train step, ResNet-50 and ViT-B/16, bf16 compute at 224 px, the MP-16-sized geo heads (3,298 /
    7,202 / 12,893 cells), SGD with momentum: images/s at the largest batch of `--batches` that
    fits, and MFU (XLA's FLOP count of the step over the measured bf16 matmul peak);
  * embedding extraction with CLIP ViT-L/14 (the frozen-backbone recipe's pass over a data
    set): images/s of the jitted tower on preprocessed batches;
  * the Predictor's latency for one photo (decode, crop, model, answer), on a ResNet-50 model
    with random weights and the quickstart's head sizes;
  * the batch path (`python -m jaxgeo.predict`'s `predict_collection`) over a folder of
    1024x768 JPEGs with the same model, batches split over every local device: photos/s, and
    how its time went (decoding threads, the model, answers, writing).
Published anchors are printed beside them: MLPerf Training ResNet-50 about 7,950 images/s per
H200; ViT-B/16 training in JAX about 1,460 images/s per H100.
"""

import argparse
import functools
import os
import pathlib
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jaxgeo import train
from jaxgeo.models import geolocator
from jaxgeo.predict import collection
from jaxgeo.run import config_base, optim
from predict_latency import make_photos, random_predictor
from timing import cpu_description, median_seconds

MP16_CELLS = {"cells_50_5000": 3298, "cells_50_2000": 7202, "cells_50_1000": 12893}
ANCHORS = {"resnet50": "MLPerf ResNet-50: ~7,950 img/s per H200",
           "vit_b16": "ViT-B/16 (JAX): ~1,460 img/s per H100"}


def matmul_peak(dtype, n: int) -> float:
  """FLOP/s of an n x n matmul in `dtype`: the denominator of MFU."""
  a = jnp.ones((n, n), dtype)
  f = jax.jit(lambda x: x @ x)
  return 2 * n ** 3 / median_seconds(lambda: f(a).block_until_ready(), 10, 3)


def train_step_rate(backbone: str, image_size: int, batch: int, dtype: str, cells: dict,
                    repeats: int) -> tuple[float, float]:
  """(images/s, FLOPs per step) of jaxgeo's train step for one batch size."""
  model_config = config_base.base().model
  model_config.update(backbone=backbone, dtype=dtype, tag_head=False, landmark_head=False)
  optim_config = config_base.base().optim
  optim_config.update(optimizer="sgd", momentum=0.9, weight_decay=1e-4)
  tx = optim.make_optimizer(optim_config, optax.constant_schedule(0.01))
  make = functools.partial(geolocator.make_model, model_config, cells, 0, 0, 0, image_size)

  def init_state():
    _, params, rest = nnx.split(make(), nnx.Param, ...)
    return {"params": params, "rest": rest, "opt_state": tx.init(params),
            "step": jnp.zeros((), jnp.int32)}

  rng = np.random.default_rng(0)
  data = {"image": rng.integers(0, 256, (batch, image_size, image_size, 3), dtype=np.uint8)}
  data.update({f"label_{n}": rng.integers(0, c, (batch,), dtype=np.int32)
               for n, c in cells.items()})
  data = jax.device_put(data)
  step = jax.jit(functools.partial(
      train.train_step, graphdef=nnx.graphdef(nnx.eval_shape(make)), tx=tx,
      partition_names=tuple(cells), seed=0,
      loss_weights=ml_collections.ConfigDict({"geo": 1.0, "tag": 0.0, "landmark": 0.0})),
      donate_argnums=0)
  holder = {"state": jax.jit(init_state)()}
  compiled = step.lower(holder["state"], data).compile()
  cost = compiled.cost_analysis()
  flops = float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])

  def one():
    holder["state"], metrics = compiled(holder["state"], data)
    jax.block_until_ready(metrics)

  return batch / median_seconds(one, repeats), flops


def largest_batch_rate(backbone: str, image_size: int, batches: list[int], dtype: str,
                       cells: dict, repeats: int) -> tuple[int, float, float]:
  """The first batch size of `batches` (largest first) that fits, with its rate and FLOPs."""
  for batch in batches:
    try:
      rate, flops = train_step_rate(backbone, image_size, batch, dtype, cells, repeats)
      return batch, rate, flops
    except Exception as e:  # pylint: disable=broad-except  (XLA's out-of-memory error types vary)
      if "RESOURCE_EXHAUSTED" not in str(e) and "out of memory" not in str(e).lower():
        raise
      print(f"  {backbone}: batch {batch} does not fit; trying a smaller one", flush=True)
  raise RuntimeError(f"{backbone}: none of the batches {batches} fits.")


def extraction_rate(backbone: str, image_size: int, batch: int, dtype: str,
                    repeats: int) -> float:
  """Images/s of the jitted image tower alone (the frozen-backbone extraction pass)."""
  model_config = config_base.base().model
  model_config.update(backbone=backbone, dtype=dtype, tag_head=False, landmark_head=False)
  model = geolocator.make_model(model_config, {}, 0, 0, 0, image_size)
  model.eval()
  graphdef, state = nnx.split(model)
  images = jax.device_put(jnp.zeros((batch, image_size, image_size, 3), jnp.uint8))

  @jax.jit
  def embed(state, images):
    m = nnx.merge(graphdef, state)
    return m.backbone.encode(m.preprocess(images, m.dtype))[1]

  return batch / median_seconds(lambda: embed(state, images).block_until_ready(), repeats)


def predictor_latency_ms(image_size: int, repeats: int) -> float:
  predictor = random_predictor("resnet50" if image_size >= 224 else "tiny", image_size,
                               num_photos=20_000, tau_min=10, tau_max=[1000, 400, 150],
                               vocabulary_size=1000, num_landmarks=30, batch_size=16)
  photos = make_photos(4, 1024, 768)
  predictor.predict(photos[0])  # compile
  return 1e3 * median_seconds(lambda: predictor.predict(photos[1]), repeats)


def batch_path_rate(image_size: int, num_photos: int, batch: int) -> tuple[float, dict]:
  """Photos/s of the batch path over a folder of JPEGs (after a warm-up that compiles), and
  its report (the time split)."""
  predictor = random_predictor("resnet50" if image_size >= 224 else "tiny", image_size,
                               num_photos=20_000, tau_min=10, tau_max=[1000, 400, 150],
                               vocabulary_size=1000, num_landmarks=30, batch_size=batch,
                               devices=jax.local_devices())
  unique = make_photos(32, 1024, 768)
  with tempfile.TemporaryDirectory() as scratch:
    folder = pathlib.Path(scratch, "photos")
    folder.mkdir()
    for i in range(num_photos):
      (folder / f"{i:06d}.jpg").write_bytes(unique[i % len(unique)])
    predictor.predict_batch(sorted(folder.iterdir())[:predictor.batch_size])  # compile
    start = time.perf_counter()
    report = collection.predict_collection(predictor, [str(folder)], os.path.join(scratch, "out"),
                                           shard_size=max(batch * 4, 256), progress=False)
    seconds = time.perf_counter() - start
  return report["predicted"] / seconds, report


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--smoke", action="store_true",
                      help="Tiny models and sizes (float32) so that it runs on a CPU.")
  parser.add_argument("--batches", default="512,256,128,64,32",
                      help="Train batch sizes to try, largest first.")
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  print(cpu_description(), flush=True)
  start = time.perf_counter()
  device = jax.devices()[0]
  if args.smoke:
    size, dtype, cells, batches, repeats = 32, "float32", {"a": 50, "b": 120}, [8], 2
    train_models = {"resnet50": "tiny", "vit_b16": "vit_tiny"}
    extractor, extract_batch = "vit_tiny", 8
  else:
    size, dtype, cells, repeats = 224, "bfloat16", MP16_CELLS, args.repeats
    batches = [int(b) for b in args.batches.split(",")]
    train_models = {"resnet50": "resnet50", "vit_b16": "vit_b16"}
    extractor, extract_batch = "clip_vit_l14", 256
  peak = matmul_peak(jnp.float32 if dtype == "float32" else jnp.bfloat16,
                     512 if args.smoke else 8192)
  print(f"jaxgeo accelerator check on {len(jax.devices())} x {device.device_kind} "
        f"({device.platform}); {dtype} matmul peak {peak / 1e12:.2f} TFLOP/s; "
        f"{'SMOKE (tiny sizes)' if args.smoke else 'full sizes'}", flush=True)
  rows = []
  for anchor, backbone in train_models.items():
    batch, rate, flops = largest_batch_rate(backbone, size, batches, dtype, cells, repeats)
    mfu = rate / batch * flops / peak
    rows.append((f"train step {backbone}", f"{size} px, batch {batch}", f"{rate:,.1f} img/s",
                 f"{mfu:.1%}", ANCHORS[anchor]))
    print(f"  done: {rows[-1]}", flush=True)
  rate = extraction_rate(extractor, size, extract_batch, dtype, repeats)
  rows.append((f"extraction {extractor}", f"{size} px, batch {extract_batch}",
               f"{rate:,.1f} img/s", "", "frozen-backbone pass over a data set"))
  latency = predictor_latency_ms(size if not args.smoke else 32, repeats)
  rows.append(("Predictor, one photo", "1024x768 JPEG in", f"{latency:.1f} ms", "",
               "decode + crop + model + answer"))
  num_photos, batch = (64, 8) if args.smoke else (8192, 256)
  rate, report = batch_path_rate(size if not args.smoke else 32, num_photos, batch)
  s = report["seconds"]
  rows.append(("batch path, photos/s", f"{num_photos} JPEGs, batch {batch}",
               f"{rate:,.1f} photos/s", "",
               f"{jax.local_device_count()} device(s), {report['decode_threads']} decode "
               f"threads: decode {s['decode']:.1f} s (waited {s['waiting']:.1f}), model "
               f"{s['model']:.1f} s, answers {s['answers']:.1f} s, writing {s['writing']:.1f} s"))
  widths = [max(len(str(r[i])) for r in rows + [HEADER]) for i in range(len(HEADER))]
  for row in [HEADER] + rows:
    print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
  print(f"({time.perf_counter() - start:.0f} s in all)")
  return 0


HEADER = ("what", "setting", "speed", "MFU", "anchor")

if __name__ == "__main__":
  sys.exit(main())
