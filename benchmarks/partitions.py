r"""Builds the three MP-16-sized partitionings and prints the time (target: under 60 s here).

  python benchmarks/partitions.py [--num-photos 4723695]

4.7M synthetic coordinates are clustered like real photo locations: a Zipf-weighted set of
"cities" with log-normal spreads, plus a share scattered widely. The reference printed next to it
is s2sphere's per-photo cell lookup (what GeoEstimation's builder does), timed on a sample in the
same run and scaled to all photos: a lower bound, since the reference walks several levels.
"""

import argparse
import time

import numpy as np
import s2sphere

from jaxgeo.geo import partitions as partitions_lib


def clustered_coordinates(num_photos: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(seed)
  num_cities = 5000
  city_lat = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-55)), np.sin(np.radians(70)),
                                              num_cities)))
  city_lon = rng.uniform(-180, 180, num_cities)
  weights = 1.0 / np.arange(1, num_cities + 1) ** 1.1
  spread_deg = np.exp(rng.normal(np.log(0.1), 1.0, num_cities))  # ~11 km median, heavy tail
  city = rng.choice(num_cities, size=num_photos, p=weights / weights.sum())
  lat = city_lat[city] + rng.normal(0, 1, num_photos) * spread_deg[city]
  lon = city_lon[city] + rng.normal(0, 1, num_photos) * spread_deg[city]
  scattered = rng.random(num_photos) < 0.05
  lat[scattered] = np.degrees(np.arcsin(rng.uniform(-1, 1, scattered.sum())))
  lon[scattered] = rng.uniform(-180, 180, scattered.sum())
  return np.clip(lat, -90, 90), (lon + 180) % 360 - 180


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num-photos", type=int, default=4_723_695)
  parser.add_argument("--reference-sample", type=int, default=50_000)
  args = parser.parse_args()

  lat, lon = clustered_coordinates(args.num_photos)
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
