"""Great-circle distances and metrics, against geopy and known city pairs."""

import geopy.distance
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.geo import distance

# (lat, lon) of city pairs and their great-circle distance on a 6371 km sphere.
PARIS = (48.8566, 2.3522)
NEW_YORK = (40.7128, -74.0060)
SYDNEY = (-33.8688, 151.2093)
LONDON = (51.5074, -0.1278)


def test_known_city_pairs():
  d = distance.great_circle_km([PARIS[0], LONDON[0]], [PARIS[1], LONDON[1]],
                               [NEW_YORK[0], PARIS[0]], [NEW_YORK[1], PARIS[1]])
  # Paris-New York ~5837 km, London-Paris ~344 km on the 6371 km sphere.
  np.testing.assert_allclose(d, [5837.2, 343.6], atol=0.5)


def test_matches_geopy_on_random_points():
  rng = np.random.default_rng(0)
  lat1, lat2 = rng.uniform(-90, 90, (2, 500))
  lon1, lon2 = rng.uniform(-180, 180, (2, 500))
  expected = [geopy.distance.great_circle((a, b), (c, d), radius=6371.0).km
              for a, b, c, d in zip(lat1, lon1, lat2, lon2)]
  np.testing.assert_allclose(distance.great_circle_km(lat1, lon1, lat2, lon2), expected,
                             rtol=1e-9, atol=1e-6)


def test_edge_cases():
  # Same point, antipodes, across the antimeridian, pole to pole.
  d = distance.great_circle_km([10, 0, 0, 90], [20, 0, 179.5, 0], [10, 0, 0, -90],
                               [20, 180, -179.5, 123])
  half_circumference = np.pi * 6371.0
  np.testing.assert_allclose(d, [0.0, half_circumference, 111.19, half_circumference],
                             atol=0.01)


def test_jax_matches_numpy_and_jits():
  rng = np.random.default_rng(1)
  pts = [rng.uniform(-90, 90, 64), rng.uniform(-180, 180, 64),
         rng.uniform(-90, 90, 64), rng.uniform(-180, 180, 64)]
  got = jax.jit(distance.great_circle_km_jax)(*[jnp.asarray(p, jnp.float32) for p in pts])
  np.testing.assert_allclose(got, distance.great_circle_km(*pts), rtol=1e-4, atol=0.5)


def test_metrics_values():
  d = np.array([0.5, 10.0, 150.0, 700.0, 2000.0, 9000.0])
  m = distance.geolocation_metrics(d)
  assert m["acc@1km"] == pytest.approx(1 / 6)
  assert m["acc@25km"] == pytest.approx(2 / 6)
  assert m["acc@200km"] == pytest.approx(3 / 6)
  assert m["acc@750km"] == pytest.approx(4 / 6)
  assert m["acc@2500km"] == pytest.approx(5 / 6)
  assert m["median_km"] == pytest.approx(425.0)
  assert m["geoscore"] == pytest.approx(np.mean(5000 * np.exp(-d / 1492.7)))
  assert distance.geoscore(0.0) == pytest.approx(5000.0)
  # GeoScore halves every 1492.7 * ln 2 km.
  assert distance.geoscore(1492.7 * np.log(2)) == pytest.approx(2500.0)


def test_metrics_mask_excludes_padding():
  d = np.array([1.0, 5000.0, 0.0])
  m = distance.geolocation_metrics(d, mask=[True, True, False])
  assert m["num_examples"] == 2
  assert m["acc@1km"] == pytest.approx(0.5)
  with pytest.raises(ValueError, match="at least one"):
    distance.accuracy_at_km(d, mask=[False, False, False])


def test_table_format():
  table = distance.format_metrics_table(
      {"model": distance.geolocation_metrics([0.5, 3000.0])})
  lines = table.splitlines()
  assert lines[0].split() == ["1", "km", "25", "km", "200", "km", "750", "km", "2500", "km",
                              "median", "km", "GeoScore"]
  assert lines[1].split()[:6] == ["model", "50.0", "50.0", "50.0", "50.0", "50.0"]
