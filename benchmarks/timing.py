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
