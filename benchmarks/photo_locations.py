"""Synthetic coordinates clustered like photo locations, shared by the benchmarks.

Zipf-weighted "cities" with log-normal spreads (~11 km median, heavy tail), plus a share of
points uniform on the sphere.
"""

import numpy as np


def photo_like_points(n: int, uniform_share: float = 0.2,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(lat, lon) degrees: clustered around 5000 Zipf-weighted cities, plus uniform points."""
  rng = np.random.default_rng(seed)
  num_cities = 5000
  city_lat = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-55)), np.sin(np.radians(70)),
                                              num_cities)))
  city_lon = rng.uniform(-180, 180, num_cities)
  weights = 1.0 / np.arange(1, num_cities + 1) ** 1.1
  spread_deg = np.exp(rng.normal(np.log(0.1), 1.0, num_cities))
  city = rng.choice(num_cities, size=n, p=weights / weights.sum())
  lat = city_lat[city] + rng.normal(0, 1, n) * spread_deg[city]
  lon = city_lon[city] + rng.normal(0, 1, n) * spread_deg[city]
  uniform = rng.random(n) < uniform_share
  lat[uniform] = np.degrees(np.arcsin(rng.uniform(-1, 1, uniform.sum())))
  lon[uniform] = rng.uniform(-180, 180, uniform.sum())
  return np.clip(lat, -90, 90), (lon + 180) % 360 - 180
