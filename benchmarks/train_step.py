r"""Images/s of the jaxgeo train step against the same model and step in PyTorch, with MFU.

  python benchmarks/train_step.py [--batch_size 8] [--steps 5] [--dtype float32|bfloat16]
      [--backbone resnet50|vit_b16|clip_vit_l14|...] [--tag_head] [--convs jaxgeo|no_rows|lax]
      [--malloc_tuning on|off|single_arena]
      [--xla_flags "..."] [--threads N] [--no_torch] [--no_jax]
      [--torch_layouts nchw,channels_last] [--interleave]

Times in ONE run, on this machine:
  * jaxgeo: `jaxgeo.train.train_step` (the real code path) on a `Geolocator` with the MP-16-sized
    geo heads (cells_50_5000: 3298, cells_50_2000: 7202, cells_50_1000: 12893 classes), no
    landmark head, a 10k-tag head with --tag_head; SGD momentum 0.9 + weight decay 1e-4 from
    `jaxgeo.run.optim.make_optimizer`; uint8 NHWC batches at --image_size; the state is built the
    way
    `train_and_evaluate` builds it (`graphdef = nnx.graphdef(nnx.eval_shape(make))`, a jitted
    `init_state`) and the step is jitted with donate_argnums=0. With --dtype bfloat16 the model
    computes in bf16 and keeps float32 parameters (the `model.dtype` config). Any backbone of
    jaxgeo.models.backbones (`--backbone vit_b16`: the ViTs are timed on the jaxgeo side only).
  * PyTorch eager: ResNet-50 v1.5 written with torch.nn exactly as torchvision builds it
    (torchvision has no CPU wheel here), the same heads, the same loss (cross-entropy averaged over
    the geo heads, + 0.5 x tag CE), SGD momentum 0.9 + weight decay 1e-4, the same uint8 input
    normalised inside the step; NCHW and channels_last, with torch.autocast(cpu, bf16) when
    --dtype bfloat16.
Each figure is the median over --steps timed steps after --warmup steps (compile included in the
JAX warm-up; `block_until_ready` on the new state). FLOPs of one step come from XLA's cost
analysis of the compiled jaxgeo step and are used for both sides (same model); MFU is achieved
FLOP/s over a jnp matmul peak measured in the same run (--matmul_size, float32, and bf16 when
--dtype bfloat16).

jaxgeo's ResNet runs its convolutions through `jaxgeo.models.convolution` (1x1 convs as 2-D dots,
k x k weight gradients on large maps as row-wise matmuls; both found with this benchmark);
--convs no_rows drops the row-wise gradients, --convs lax uses plain lax convolutions. Both sides
run under `jaxgeo.run.host_memory`'s default glibc malloc settings, as `jaxgeo.main` does on the CPU
(the script restarts itself with them); --malloc_tuning single_arena uses its one-arena setting
(faster for this model, slower for the quickstart), off glibc's defaults, for both sides.
PyTorch runs in a fresh subprocess (sharing the process with JAX made it 3-7x slower, see
run_torch_child).

Found in the third session (2026-11-24; ResNet-50, 224 px, batch 8, float32, MP-16 heads, quiet
machine, jnp matmul peak 284-316 GFLOP/s; a profile of the step with `jax.profiler` and
`jax.profiler.ProfileData`, then each op timed alone against torch's):
  * PyTorch's and jaxgeo's forward passes took the same time (0.34-0.37 s); the whole gap was in
    the backward pass (jaxgeo 1.3 s vs PyTorch 0.64 s) and the optimizer update.
  * Page faults: XLA:CPU allocates each execution's 1.3 GB temporary buffer afresh and glibc
    maps and unmaps it with mmap: 334k minor page faults per step (`/usr/bin/time`, strace shows
    one 1.3 GB mmap per step). GLIBC_TUNABLES with one arena, no mmap, no trim (now
    `jaxgeo.run.host_memory.SINGLE_ARENA`) brought that to 55k: jaxgeo 1.78 -> 1.47 s/step.
    PyTorch gains as much from the same setting (channels_last 1.12 -> 0.96, NCHW 1.52 ->
    1.11), so the ratios barely move.
  * 3x3 weight gradients: XLA's runs at 40-70 GFLOP/s on the 56x56 and 28x28 maps (PyTorch's
    oneDNN: ~400, at 4.5 ms where XLA takes 26-47 ms); as 3 matmuls of 3 shifted views each
    (`convolution._weight_grad_by_rows`) 10-18 ms. Step with one arena: 1.69 -> 1.50 s/step
    (--convs no_rows vs jaxgeo). Wider matmuls (all 9 taps at once: 25 ms) and 9 single-tap
    matmuls (31 ms) were slower; so were the rows for the 3-channel stem (no gain at 224 px,
    9 -> 26 ms on the tiny quickstart ResNet), which keeps XLA's gradient.
  * A hand-written BatchNorm backward (two passes: per-channel sums, then one elementwise
    expression) was 3-6x faster than autodiff's in isolation (8x28x28x512 BN+ReLU: 13.0 ->
    2.3 ms) but only 2-3% on the step (1.44 vs 1.47 s, alternated twice), same temp memory:
    not kept.
  * The gradient-norm metric costs ~60-70 ms of the step (any reduction over the gradients
    does, even a plain sum; in isolation the same norm takes 7 ms).
  * XLA's default CPU pipeline already runs convolutions and dots through YNNPACK
    (`ynn_fusion` in the compiled HLO); --xla_cpu_experimental_ynn_fusion_type=-reduce made the
    step 1.9x slower, +eltwise changed nothing.
  * Result, both sides under the one-arena setting: jaxgeo 1.47 s/step (5.46 img/s, 47% of the
    matmul peak) vs PyTorch NCHW 1.11 (ratio 0.76) and channels_last 0.96 (0.66); under glibc's
    defaults 1.78 vs 1.52 (0.85) and 1.12 (0.63). At the start of the session: 1.93 vs 1.63
    and 1.24. Left: YNNPACK's 3x3 forward/input-gradient convolutions are 1.3-2.4x slower than
    oneDNN's (56x56x64: 11.5 vs 4.7 ms), the row-wise weight gradients still 2-4x, and the
    1x1 weight-gradient dots 1.3-2x.

Found in the fourth session (2026-11-24): the one-arena malloc setting of the third session made
the quickstart train 1.5x slower (500 steps: 73 s vs 52-54 s under glibc's defaults): its input
pipeline decodes JPEGs on threads of the training process, and one arena serialises their
allocations. Without the arena limit (no mmap, no trim only) the quickstart is 1.1x faster than
under the defaults (48 s), but XLA's 1.3 GB buffer, allocated in a thread's arena, is mapped
afresh again: jaxgeo 1.68 s/step, PyTorch (which allocates on its main thread) keeps most of
the gain: NCHW 1.15, channels_last 1.05 (0.69 / 0.62). So `jaxgeo.main` now uses that setting
and offers one arena as JAXGEO_MALLOC_TUNING=single_arena (--malloc_tuning single_arena here:
jaxgeo 1.47, PyTorch 1.17 / 1.00, i.e. 0.79 / 0.68).

Earlier sessions:

What was tried (2026-11, this 2-core Intel Xeon with AVX-512-BF16 and AMX-BF16 that other jobs
share -- figures from quiet moments, i.e. jnp f32 matmul ~300-335 GFLOP/s; under load everything
halves and PyTorch's OpenMP suffers most; jax/jaxlib 0.10.2, torch 2.13 CPU; ResNet-50, 224 px,
MP-16 heads; 194 GFLOP per batch-8 step by XLA's cost analysis, 24.2 per image):
  * batch 8, float32: jaxgeo with 1x1 as lax conv 2.41-2.50 img/s (ratio 0.36 vs NCHW,
    0.32 vs channels_last); with 1x1 convs as dots
    4.26-4.54 img/s (1.75x); PyTorch eager NCHW 6.3-6.8, channels_last 6.8-7.6: best ratio 0.60
    (vs channels_last) / 0.67 (vs NCHW), MFU jaxgeo 35% vs PyTorch 53-59% of the jnp matmul peak.
    The 1x1 weight gradient is the culprit: XLA CPU computes it as a convolution whose window is
    the whole 56x56 output gradient, ~5-7 GFLOP/s in isolation (as a dot: 37-52 GFLOP/s).
    The 3x3 weight gradient is slow too (~20 GFLOP/s vs ~95 for the forward conv), but doing it
    as patches (conv_general_dilated_patches + einsum, 14) or 9 shifted dots (15-16) is slower.
  * --dtype bfloat16 (bf16 compute, f32 params): jaxgeo 3.56 img/s, SLOWER than float32: XLA's
    CPU dot/conv do not use AMX (jnp bf16 2048^2 matmul 270 GFLOP/s < f32's 336), while
    torch.mm bf16 reaches ~2,650 GFLOP/s through oneDNN+AMX; PyTorch autocast bf16 9.3 (NCHW) /
    12.2 (channels_last) img/s, ratio 0.29-0.38. (PyTorch's MFU against the jnp bf16 peak is
    above 100% for that reason.)
  * XLA_FLAGS (names taken from `strings libjax_common.so`), batch 8 float32 with 1x1 dots, in
    s/step (quiet): none 1.76-1.88; --xla_cpu_use_xnnpack=true 1.86;
    --xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY 1.81;
    --xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true 1.84;
    --xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=individual_dot,
    individual_convolution 1.88 (oneDNN 3.7.3 then runs the f32 matmuls only, per ONEDNN_VERBOSE:
    no convolutions, no bf16); --xla_cpu_enable_fast_math=true 1.74;
    --xla_cpu_experimental_ynn_fusion_type=individual_dot,individual_convolution 3.21 (slower);
    --xla_cpu_use_thunk_runtime=false is "no longer supported" (ignored). None helps beyond noise.
  * --tag_head (10k tags) at batch 8: 4.40 vs 6.49 (NCHW, 0.68) / 7.48 (channels_last, 0.59).
  * batch 32, float32, 1x1 as dots: jaxgeo 4.69 img/s (35% MFU), PyTorch NCHW 5.76 (ratio 0.81),
    channels_last 8.14 (0.58, 61% MFU). Batch size barely moves jaxgeo (4.5 -> 4.7).
  * Threads: by default both sides use the 2 cores. --threads 1 (both pinned to one core):
    jaxgeo 2.65 img/s vs PyTorch channels_last 3.91 (ratio 0.68); 1 -> 2 cores scales jaxgeo by
    1.7x and PyTorch by 1.95x.
  * Same process: PyTorch steps run after jaxgeo's in one process took 6-9 s instead of 1.0-1.2
    (PyTorch alone, minutes apart under the same outside load: 1.1-1.3 s; cause not
    found), hence the subprocess.
  Target (jaxgeo >= PyTorch) not met: best ratios 0.67 (b8) / 0.81 (b32) vs NCHW and 0.60 / 0.58
  vs channels_last in float32; bf16 cannot get there without AMX kernels in XLA:CPU. The gap
  left is XLA:CPU's convolution kernels (Eigen spatial convolutions, slow weight gradients)
  against oneDNN's: XLA reaches 35% of its matmul peak on the step, PyTorch 53-62%.
"""

import argparse
import os
import statistics
import sys
import time

_parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
_parser.add_argument("--batch_size", type=int, default=8)
_parser.add_argument("--steps", type=int, default=5, help="Timed steps (median is reported).")
_parser.add_argument("--warmup", type=int, default=2, help="Untimed steps first (JAX: +compile).")
_parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
_parser.add_argument("--backbone", default="resnet50")
_parser.add_argument("--image_size", type=int, default=224)
_parser.add_argument("--tag_head", action="store_true", help="Add a 10k-tag head (both sides).")
_parser.add_argument("--xla_flags", default=None,
                     help="Appended to XLA_FLAGS before jax is imported (default: none).")
_parser.add_argument("--threads", type=int, default=0,
                     help="Threads for both sides (0: all cores). XLA's via the Eigen pool size.")
_parser.add_argument("--matmul_size", type=int, default=2048)
_parser.add_argument("--no_torch", action="store_true", help="Time only the jaxgeo step.")
_parser.add_argument("--no_jax", action="store_true", help="Time only PyTorch (FLOPs still "
                     "come from XLA's cost analysis, compiled but not run).")
_parser.add_argument("--torch_layouts", default="nchw,channels_last")
_parser.add_argument("--torch_child", action="store_true", help=argparse.SUPPRESS)
_parser.add_argument("--interleave", action="store_true",
                     help="Alternate the timed steps of the sides instead of timing in blocks.")
_parser.add_argument("--convs", choices=("jaxgeo", "no_rows", "lax"), default="jaxgeo",
                     help="jaxgeo's convolutions (jaxgeo.models.convolution: 1x1 as dots, "
                     "row-wise weight gradients), without the row-wise gradients, or plain lax "
                     "convolutions, to time the difference.")
_parser.add_argument("--malloc_tuning", choices=("on", "off", "single_arena"), default="on",
                     help="Run both sides under jaxgeo.run.host_memory's default glibc settings "
                     "(as "
                     "jaxgeo.main does on the CPU), its one-arena setting, or glibc's defaults.")
ARGS = _parser.parse_args()
if not ARGS.backbone.startswith("resnet") and not ARGS.no_torch and not ARGS.torch_child:
  # jaxgeo.testing.torch_resnet is the PyTorch twin of the ResNets only.
  print(f"{ARGS.backbone}: no PyTorch twin; timing jaxgeo alone (as with --no_torch).")
  ARGS.no_torch = True

if not ARGS.torch_child:  # the PyTorch process inherits the environment chosen here
  from jaxgeo.run import host_memory  # noqa: E402
  os.environ[host_memory.ENV_VAR] = {"on": "default", "off": "0"}.get(ARGS.malloc_tuning,
                                                                      ARGS.malloc_tuning)
  host_memory.reexec_with_malloc_tuning()

if ARGS.xla_flags:
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + ARGS.xla_flags).strip()
if ARGS.threads:
  for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
  if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:ARGS.threads]))

import functools  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from jaxgeo import train  # noqa: E402
from jaxgeo.models import convolution, geolocator  # noqa: E402
from jaxgeo.run import config_base, optim  # noqa: E402
from timing import cpu_description, median_seconds  # noqa: E402

PARTITIONS = {"cells_50_5000": 3298, "cells_50_2000": 7202, "cells_50_1000": 12893}
VOCABULARY_SIZE = 10_000
MOMENTUM, WEIGHT_DECAY, LEARNING_RATE, TAG_WEIGHT = 0.9, 1e-4, 0.01, 0.5


def patch_plain_convs():
  """Makes every nnx.Conv built from here on use plain `lax.conv_general_dilated` (--convs lax),
  undoing `jaxgeo.models.convolution`, to time the difference."""
  init = nnx.Conv.__init__

  @functools.wraps(init)
  def patched(self, *args, **kwargs):
    kwargs["conv_general_dilated"] = jax.lax.conv_general_dilated
    init(self, *args, **kwargs)

  nnx.Conv.__init__ = patched


def matmul_peak(n: int, dtype) -> float:
  """FLOP/s of an n x n jnp matmul (median of 10 after warm-up)."""
  a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype)
  b = jnp.asarray(np.random.default_rng(1).standard_normal((n, n)), dtype)
  f = jax.jit(jnp.matmul)
  seconds = median_seconds(lambda: f(a, b).block_until_ready(), 10, 3)
  return 2 * n**3 / seconds


def make_batch(rng: np.random.Generator, batch_size: int, size: int, tags: bool) -> dict:
  batch = {"image": rng.integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8)}
  for name, n in PARTITIONS.items():
    batch[f"label_{name}"] = rng.integers(0, n, (batch_size,), dtype=np.int32)
  if tags:
    batch["tag"] = rng.integers(0, VOCABULARY_SIZE, (batch_size,), dtype=np.int32)
  return batch


# --------------------------------------------------------------------------------------------
# jaxgeo


def jaxgeo_step(batch_np: dict, run: bool):
  """(seconds per step or None, step FLOPs from XLA's cost analysis, step times)."""
  model_config = config_base.base().model
  model_config.update(backbone=ARGS.backbone, dtype=ARGS.dtype, tag_head=ARGS.tag_head,
                      landmark_head=False)
  optim_config = config_base.base().optim
  optim_config.update(optimizer="sgd", momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
  tx = optim.make_optimizer(optim_config, optax.constant_schedule(LEARNING_RATE))
  make = functools.partial(geolocator.make_model, model_config, PARTITIONS,
                           VOCABULARY_SIZE if ARGS.tag_head else 0, 0, 0, ARGS.image_size)

  def init_state():
    _, params, rest = nnx.split(make(), nnx.Param, ...)
    return {"params": params, "rest": rest, "opt_state": tx.init(params),
            "step": jnp.zeros((), jnp.int32)}

  graphdef = nnx.graphdef(nnx.eval_shape(make))
  state = jax.jit(init_state)()
  step_fn = jax.jit(
      functools.partial(train.train_step, graphdef=graphdef, tx=tx,
                        partition_names=tuple(PARTITIONS),
                        loss_weights=ml_collections.ConfigDict(
                            {"geo": 1.0, "tag": TAG_WEIGHT, "landmark": 0.0}),
                        seed=0),
      donate_argnums=0)
  batch = jax.device_put(batch_np)
  start = time.perf_counter()
  compiled = step_fn.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost["flops"])
  print(f"jaxgeo: compiled in {compile_s:.1f} s; XLA cost analysis: {flops / 1e9:.1f} GFLOP "
        f"per step ({flops / 1e9 / batch_np['image'].shape[0]:.2f} per image)", flush=True)
  if not run:
    return None, flops

  holder = {"state": state}

  def one():
    holder["state"], metrics = compiled(holder["state"], batch)
    jax.block_until_ready((holder["state"], metrics))
    return float(metrics["loss"])

  return one, flops


# --------------------------------------------------------------------------------------------
# PyTorch: ResNet-50 v1.5 as torchvision builds it, the same heads, loss and optimizer.


def torch_model():
  import torch
  from torch import nn

  from jaxgeo.testing import torch_resnet

  class Net(nn.Module):
    def __init__(self):
      super().__init__()
      self.backbone = torch_resnet.ResNet(int(ARGS.backbone.removeprefix("resnet")))
      width = self.backbone.num_features
      self.heads = nn.ModuleList(nn.Linear(width, n) for n in PARTITIONS.values())
      if ARGS.tag_head:
        self.tag = nn.Sequential(nn.Linear(width, 300), nn.Linear(300, VOCABULARY_SIZE))
      mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
      std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
      self.register_buffer("mean", mean)
      self.register_buffer("std", std)

    def forward(self, images_uint8):
      x = self.backbone.features((images_uint8.float() - self.mean) / self.std)
      out = [h(x) for h in self.heads]
      tag = self.tag(x) if ARGS.tag_head else None
      return out, tag

  return Net()


def torch_step(batch_np: dict, layout: str):
  """A function that runs one eager PyTorch train step and returns the loss."""
  import torch
  import torch.nn.functional as F

  torch.manual_seed(0)
  model = torch_model().train()
  images = torch.from_numpy(batch_np["image"]).permute(0, 3, 1, 2)  # NHWC uint8 -> NCHW view
  if layout == "channels_last":
    model = model.to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)  # free: it is NHWC already
  else:
    images = images.contiguous()
  labels = [torch.from_numpy(batch_np[f"label_{n}"]).long() for n in PARTITIONS]
  tags = torch.from_numpy(batch_np["tag"]).long() if ARGS.tag_head else None
  opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM,
                        weight_decay=WEIGHT_DECAY)
  bf16 = ARGS.dtype == "bfloat16"

  def one():
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
      logits, tag_logits = model(images)
      loss = sum(F.cross_entropy(lg.float(), y) for lg, y in zip(logits, labels)) / len(labels)
      if tag_logits is not None:
        loss = loss + TAG_WEIGHT * F.cross_entropy(tag_logits.float(), tags)
    loss.backward()
    opt.step()
    return float(loss.detach())

  return one


def run_torch_child() -> dict:
  """Times the PyTorch side in a fresh process: after jaxgeo's steps have run in this process,
  PyTorch's eager step here ran 3-7x slower (and not from outside load), so the sides must not
  share a process."""
  import json
  import subprocess
  argv = [a for a in sys.argv[1:]] + ["--torch_child"]
  out = subprocess.run([sys.executable, os.path.abspath(__file__), *argv], check=True,
                       capture_output=True, text=True).stdout
  for line in out.splitlines():
    if line.startswith("TORCH_TIMES "):
      return json.loads(line[len("TORCH_TIMES "):])
  raise RuntimeError(f"no times from the PyTorch process:\n{out}")


def main():
  print(cpu_description(), flush=True)
  import torch
  if ARGS.threads:
    torch.set_num_threads(ARGS.threads)
  if ARGS.torch_child:
    import json
    batch = make_batch(np.random.default_rng(0), ARGS.batch_size, ARGS.image_size, ARGS.tag_head)
    result = {}
    for layout in ARGS.torch_layouts.split(","):
      one = torch_step(batch, layout)
      for _ in range(ARGS.warmup):
        one()
      result[layout] = []
      for _ in range(ARGS.steps):
        start = time.perf_counter()
        loss = one()
        result[layout].append(time.perf_counter() - start)
      result[layout + "/loss"] = loss
    print("TORCH_TIMES " + json.dumps(result), flush=True)
    return
  b = ARGS.batch_size
  print(f"{ARGS.backbone}, {ARGS.image_size} px, batch {b}, {ARGS.dtype}, "
        f"tag head {'on' if ARGS.tag_head else 'off'}, convs {ARGS.convs}; "
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}; "
        f"jax {jax.__version__} "
        f"({jax.devices()[0].device_kind}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); cores {len(os.sched_getaffinity(0))}; "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}", flush=True)
  peaks = {"float32": matmul_peak(ARGS.matmul_size, jnp.float32)}
  if ARGS.dtype == "bfloat16":
    peaks["bfloat16"] = matmul_peak(ARGS.matmul_size, jnp.bfloat16)
  for k, v in peaks.items():
    print(f"matmul peak ({k}, jnp {ARGS.matmul_size}^2): {v / 1e9:.1f} GFLOP/s", flush=True)
  peak = peaks[ARGS.dtype]
  if not ARGS.no_torch:  # for reference only: oneDNN's matmul in the same run
    n = ARGS.matmul_size
    for k, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
      if k in peaks:
        a, c = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
        s = median_seconds(lambda: torch.mm(a, c), 10, 3)
        print(f"  (torch.mm {k} {n}^2 for reference: {2 * n**3 / s / 1e9:.1f} GFLOP/s; "
              "oneDNN, with AMX for bf16, which XLA:CPU does not use)")

  batch = make_batch(np.random.default_rng(0), b, ARGS.image_size, ARGS.tag_head)
  if ARGS.convs == "lax":
    patch_plain_convs()
  elif ARGS.convs == "no_rows":
    convolution.ROWS_MIN_POSITIONS = sys.maxsize
  runners = {}
  jax_one, flops = jaxgeo_step(batch, run=not ARGS.no_jax)
  if jax_one is not None:
    runners["jaxgeo (XLA, NHWC)"] = jax_one
  torch_name = lambda layout: (f"PyTorch eager {layout}" +  # noqa: E731
                                (" bf16" if ARGS.dtype == "bfloat16" else ""))
  if not ARGS.no_torch and ARGS.interleave:
    for layout in ARGS.torch_layouts.split(","):
      runners[torch_name(layout)] = torch_step(batch, layout)
  # jaxgeo here, PyTorch afterwards in a fresh process (see run_torch_child), each with its
  # warm-up, then its timed steps. --interleave alternates the timed steps of all sides in this
  # process instead (which spreads outside load evenly, but PyTorch then runs slow).
  times = {name: [] for name in runners}
  losses = {}
  if ARGS.interleave:
    for name, one in runners.items():
      for _ in range(ARGS.warmup):
        one()
  for i in range(ARGS.steps if ARGS.interleave else 1):
    for name, one in runners.items():
      if not ARGS.interleave:
        for _ in range(ARGS.warmup):
          one()
      for _ in range(1 if ARGS.interleave else ARGS.steps):
        start = time.perf_counter()
        losses[name] = one()
        times[name].append(time.perf_counter() - start)
  if not ARGS.no_torch and not ARGS.interleave:
    child = run_torch_child()
    for layout in ARGS.torch_layouts.split(","):
      times[torch_name(layout)] = child[layout]
      losses[torch_name(layout)] = child[layout + "/loss"]
  rows = []
  for name in times:
    print(f"{name}: step times {[round(t, 3) for t in times[name]]} s, "
          f"loss {losses[name]:.3f}")
    rows.append((name, statistics.median(times[name]), min(times[name])))
  jax_s = rows[0][1] if jax_one is not None else None
  jax_min = rows[0][2] if jax_one is not None else None

  print(f"\n{'':36s} {'s/step':>8s} {'img/s':>8s} {'GFLOP/s':>8s} {'MFU':>6s} {'jaxgeo/this':>12s}"
        f" | {'best img/s':>10s} {'MFU':>6s} {'jaxgeo/this':>12s}")
  for name, s, m in rows:
    ratio = f"{s / jax_s:12.2f}" if jax_s and not name.startswith("jaxgeo") else " " * 12
    ratio_min = f"{m / jax_min:12.2f}" if jax_min and not name.startswith("jaxgeo") else ""
    print(f"{name:36s} {s:8.3f} {b / s:8.2f} {flops / s / 1e9:8.1f} "
          f"{flops / s / peak:6.1%} {ratio} | {b / m:10.2f} {flops / m / peak:6.1%} {ratio_min}")
  print(f"(MFU against the {ARGS.dtype} jnp matmul peak {peak / 1e9:.1f} GFLOP/s; "
        f"{flops / 1e9:.1f} GFLOP per step from XLA's cost analysis for every row; "
        f"jaxgeo/this = speed of jaxgeo over speed of that row; left: median step, right: fastest "
        f"step, "
        f"the better estimate when other jobs load the machine)")


if __name__ == "__main__":
  sys.exit(main())
