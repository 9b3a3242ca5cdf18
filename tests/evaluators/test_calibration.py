"""The probability of being within r km of the answer, and its calibration (ECE, reliability)."""

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxgeo.evaluators import calibration

# Three cells: Paris, London (344 km from Paris), Tokyo.
CELL_LAT = np.array([48.8566, 51.5074, 35.6762])
CELL_LON = np.array([2.3522, -0.1278, 139.6503])


def test_mass_within_each_radius_of_the_answer():
  probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
  lat, lon = np.array([48.8584, 35.6586]), np.array([2.2945, 139.7454])  # Eiffel, Tokyo Tower
  within = calibration.probability_within(np, probs, lat, lon, CELL_LAT, CELL_LON,
                                          radii_km=(25.0, 400.0, 20000.0))
  np.testing.assert_allclose(within[25.0], [0.5, 0.8])
  np.testing.assert_allclose(within[400.0], [0.8, 0.8])  # London joins Paris at 344 km
  np.testing.assert_allclose(within[20000.0], [1.0, 1.0])
  on_device = calibration.probability_within(jnp, jnp.asarray(probs), jnp.asarray(lat),
                                             jnp.asarray(lon), CELL_LAT, CELL_LON,
                                             radii_km=(25.0, 400.0))
  for r in (25.0, 400.0):
    np.testing.assert_allclose(np.asarray(on_device[r]), within[r], rtol=1e-6)


def test_expected_calibration_error_and_bins():
  # Ten answers at 0.9: nine right is calibrated, five right is 0.4 off.
  assert calibration.expected_calibration_error(np.full(10, 0.9), np.arange(10) < 9) == (
      pytest.approx(0.0))
  assert calibration.expected_calibration_error(np.full(10, 0.9), np.arange(10) < 5) == (
      pytest.approx(0.4))
  # Bins of width 0.1: 0.1 (right), 0.2 (wrong), and 0.95 and 1.0 (both right) in the last.
  table = calibration.reliability(np.array([0.1, 0.2, 0.95, 1.0]),
                                  np.array([True, False, True, True]))
  assert table["count"].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 2]
  np.testing.assert_allclose(table["predicted"][[1, 2, 9]], [0.1, 0.2, 0.975])
  np.testing.assert_allclose(table["observed"][[1, 2, 9]], [1.0, 0.0, 1.0])
  ece = calibration.expected_calibration_error(np.array([0.1, 0.2, 0.95, 1.0]),
                                               np.array([True, False, True, True]))
  assert ece == pytest.approx(0.25 * 0.9 + 0.25 * 0.2 + 0.5 * 0.025)


def test_metrics_and_reliability_diagram(tmp_path):
  rng = np.random.default_rng(0)
  predicted = rng.uniform(size=2000)
  errors = np.where(rng.uniform(size=2000) < predicted, 10.0, 5000.0)  # calibrated at 25 km
  metrics = calibration.calibration_metrics({25.0: predicted}, errors)
  assert metrics["ece@25km"] < 0.05
  assert abs(metrics["observed@25km"] - metrics["predicted@25km"]) < 0.03
  path = tmp_path / "reliability.png"
  calibration.reliability_png({25.0: predicted, 750.0: np.full(2000, 0.99)}, errors, "test",
                              path)
  with Image.open(path) as image:
    assert image.format == "PNG" and image.size == (480, 480)
