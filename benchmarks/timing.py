"""The benchmarks' timer: the median of repeated calls after a warm-up (which also compiles)."""

import statistics
import time


def median_seconds(fn, repeats: int, warmup: int = 1) -> float:
  """Median seconds of `fn()`; `fn` must block until its result is ready."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def interleaved_median_seconds(fns: dict, repeats: int, warmup: int = 1) -> dict:
  """Median seconds of each of `fns` (name -> call that blocks until ready), timed in rounds of
  one call each, so that a change in the machine's load weighs on every one alike."""
  for fn in fns.values():
    for _ in range(warmup):
      fn()
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(t) for name, t in times.items()}


def cpu_description() -> str:
  """The CPU's model name and its vector extensions: XLA:CPU compiles (and numbers differ) for
  each, so every benchmark figure says which CPU it came from."""
  import platform  # pylint: disable=g-import-not-at-top
  model, flags = platform.processor() or platform.machine(), set()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
          model = value.strip()
        elif key.strip() == "flags":
          flags = set(value.split())
          break
  except OSError:
    pass
  vector = sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma"))
  return f"{model} ({', '.join(vector) or 'no AVX2/AVX-512/AMX'})"
