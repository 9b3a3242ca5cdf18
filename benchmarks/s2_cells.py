r"""Points/s of the vectorized S2 cell lookup (jaxgeo.geo.s2) against s2sphere, on one core.

  python benchmarks/s2_cells.py [--num-points 1000000] [--s2sphere-points 100000] [--level 30]

Coordinates are clustered like photo locations (Zipf-weighted "cities" with log-normal spreads)
plus a share uniform on the sphere. s2sphere runs on the first --s2sphere-points of the same
points in the same run, and the ids of the two are compared there.
"""

import os

# Single-threaded NumPy on a single core: set before NumPy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS"):
  os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
  os.sched_setaffinity(0, {0})

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402
import s2sphere  # noqa: E402

from jaxgeo.geo import s2  # noqa: E402
from photo_locations import photo_like_points  # noqa: E402
from timing import cpu_description  # noqa: E402  (benchmarks/ is the script's folder)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num-points", type=int, default=1_000_000)
  parser.add_argument("--s2sphere-points", type=int, default=100_000)
  parser.add_argument("--level", type=int, default=s2.MAX_LEVEL)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  print(cpu_description(), flush=True)

  cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
  where = f"one core (CPU {cores[0]} of {os.cpu_count()})" if cores == [0] else "unpinned"
  print(f"S2 cell ids at level {args.level}, {where}, single-threaded; "
        f"numpy {np.__version__}, s2sphere {metadata.version('s2sphere')}")
  lat, lon = photo_like_points(args.num_points)
  print(f"points: {args.num_points:,} (80% clustered like photos, 20% uniform on the sphere)")

  s2.latlng_to_cell_ids(lat[:10_000], lon[:10_000], args.level)  # warm up
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    ids = s2.latlng_to_cell_ids(lat, lon, args.level)
    times.append(time.perf_counter() - start)
  ours = args.num_points / statistics.median(times)
  print(f"jaxgeo.geo.s2 (NumPy, vectorized): {ours / 1e6:.2f}M points/s "
        f"(median of {args.repeats} runs of {statistics.median(times):.3f} s, "
        f"best {args.num_points / min(times) / 1e6:.2f}M/s)")

  m = min(args.s2sphere_points, args.num_points)
  sub_lat, sub_lon = lat[:m].tolist(), lon[:m].tolist()
  from_lat_lng, from_degrees = s2sphere.CellId.from_lat_lng, s2sphere.LatLng.from_degrees
  start = time.perf_counter()
  if args.level == s2.MAX_LEVEL:
    ref = [from_lat_lng(from_degrees(a, b)).id() for a, b in zip(sub_lat, sub_lon)]
  else:
    ref = [from_lat_lng(from_degrees(a, b)).parent(args.level).id()
           for a, b in zip(sub_lat, sub_lon)]
  seconds = time.perf_counter() - start
  theirs = m / seconds
  print(f"s2sphere (pure Python, per point): {theirs / 1e6:.3f}M points/s "
        f"({m:,} points in {seconds:.2f} s)")
  print(f"speed-up: {ours / theirs:.0f}x on one core")
  same = int((ids[:m] == np.array(ref, dtype=np.uint64)).sum())
  print(f"agreement on the {m:,} common points: {same:,} / {m:,} ids identical"
        + (" (bit for bit)" if same == m else " -- MISMATCH"))
  if same != m:
    raise SystemExit(1)


if __name__ == "__main__":
  main()
