r"""Builds the three MP-16-sized partitionings and prints the time (target: under 60 s here).

  python benchmarks/partitions.py [--num-photos 4723695]

4.7M synthetic coordinates are clustered like real photo locations: a Zipf-weighted set of
"cities" with log-normal spreads, plus a share scattered widely. The reference printed next to it
is s2sphere's per-photo cell lookup (what GeoEstimation's builder does), timed on a sample in the
same run and scaled to all photos: a lower bound, since the reference walks several levels.
"""

import argparse
import time

import s2sphere

from jaxgeo.geo import partitions as partitions_lib
from photo_locations import photo_like_points
from timing import cpu_description


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num-photos", type=int, default=4_723_695)
  parser.add_argument("--reference-sample", type=int, default=50_000)
  args = parser.parse_args()
  print(cpu_description(), flush=True)

  # 5% scattered widely, as in the partitions target's 4.7M-photo set-up.
  lat, lon = photo_like_points(args.num_photos, uniform_share=0.05)
  start = time.perf_counter()
  parts, classes = partitions_lib.build_partitions(lat, lon, tau_min=50,
                                                   tau_max=[5000, 2000, 1000])
  seconds = time.perf_counter() - start
  for part, column in zip(parts, classes.T):
    print(f"{part.name}: {part.num_classes} classes, {(column >= 0).mean():.1%} of photos kept")
  print("(MP-16's real photos give 3,298 / 7,202 / 12,893 classes with these thresholds.)")

  n = args.reference_sample
  start = time.perf_counter()
  for a, b in zip(lat[:n], lon[:n]):
    s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(a, b))
  reference = (time.perf_counter() - start) / n * args.num_photos
  print(f"jaxgeo build_partitions, {args.num_photos:,} photos, 3 partitionings: {seconds:.1f} s "
        f"(target < 60 s)")
  print(f"reference, s2sphere leaf cell per photo (sample of {n:,}, scaled): {reference:.1f} s")
  print(f"ratio reference / jaxgeo: {reference / seconds:.1f}x")


if __name__ == "__main__":
  main()
