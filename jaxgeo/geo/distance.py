"""Great-circle distances and the geolocation metrics of the literature.

Every paper since Im2GPS reports the share of test photos predicted within 1 / 25 / 200 / 750 /
2500 km of the truth (street, city, region, country, continent), on a sphere of radius 6371 km.
The same formulas are given for NumPy (evaluation, data) and for JAX (inside jitted steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np

EARTH_RADIUS_KM = 6371.0
# Thresholds of Im2GPS (Hays & Efros 2008) and everyone after: street, city, region, country,
# continent.
ACCURACY_THRESHOLDS_KM = (1.0, 25.0, 200.0, 750.0, 2500.0)
# GeoScore of GeoGuessr as used by Haas et al. (PIGEON): 5000 points at 0 km, halving every
# ~1035 km.
GEOSCORE_MAX = 5000.0
GEOSCORE_SCALE_KM = 1492.7


def _haversine(xp, lat1, lon1, lat2, lon2, radius_km):
  lat1, lon1, lat2, lon2 = (xp.radians(v) for v in (lat1, lon1, lat2, lon2))
  sin_dlat = xp.sin((lat2 - lat1) / 2)
  sin_dlon = xp.sin((lon2 - lon1) / 2)
  a = sin_dlat**2 + xp.cos(lat1) * xp.cos(lat2) * sin_dlon**2
  # Rounding can push `a` a hair past 1 for antipodal points.
  return 2 * radius_km * xp.arcsin(xp.sqrt(xp.clip(a, 0.0, 1.0)))


def great_circle_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
  """Great-circle distance in km between points given in degrees (NumPy, broadcasting).

  Uses the haversine formula, which stays accurate for nearby points where the spherical law of
  cosines loses all digits.
  """
  return _haversine(np, lat1, lon1, lat2, lon2, radius_km)


def great_circle_km_jax(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM) -> jnp.ndarray:
  """`great_circle_km` in JAX, for use inside jitted code (dtype follows the inputs)."""
  return _haversine(jnp, lat1, lon1, lat2, lon2, radius_km)


def geoscore(distance_km) -> np.ndarray:
  """GeoGuessr-style score per prediction: 5000 * exp(-d / 1492.7)."""
  return GEOSCORE_MAX * np.exp(-np.asarray(distance_km, dtype=np.float64) / GEOSCORE_SCALE_KM)


def accuracy_at_km(distance_km,
                   thresholds_km: Sequence[float] = ACCURACY_THRESHOLDS_KM,
                   mask=None) -> dict[float, float]:
  """Share of predictions within each threshold (inclusive), over the unmasked examples."""
  d = np.asarray(distance_km, dtype=np.float64)
  if mask is not None:
    d = d[np.asarray(mask, dtype=bool)]
  if d.size == 0:
    raise ValueError("accuracy_at_km needs at least one (unmasked) distance.")
  return {float(t): float(np.mean(d <= t)) for t in thresholds_km}


def geolocation_metrics(distance_km,
                        thresholds_km: Sequence[float] = ACCURACY_THRESHOLDS_KM,
                        mask=None) -> dict[str, float]:
  """The standard report: accuracy at each threshold, median error and mean GeoScore.

  Keys are `acc@<t>km`, `median_km`, `mean_km` and `geoscore`, so they can go straight to a
  metrics writer.
  """
  d = np.asarray(distance_km, dtype=np.float64)
  if mask is not None:
    d = d[np.asarray(mask, dtype=bool)]
  metrics: dict[str, float] = {
      f"acc@{t:g}km": acc for t, acc in accuracy_at_km(d, thresholds_km).items()}
  metrics["median_km"] = float(np.median(d))
  metrics["mean_km"] = float(np.mean(d))
  metrics["geoscore"] = float(np.mean(geoscore(d)))
  metrics["num_examples"] = float(d.size)
  return metrics


def format_metrics_table(rows: Mapping[str, Mapping[str, float]],
                         thresholds_km: Sequence[float] = ACCURACY_THRESHOLDS_KM) -> str:
  """Formats {name: geolocation_metrics(...)} as the usual km-accuracy table (percent)."""
  header = ["", *(f"{t:g} km" for t in thresholds_km), "median km", "GeoScore"]
  lines = [header]
  for name, m in rows.items():
    lines.append([name, *(f"{100 * m[f'acc@{t:g}km']:.1f}" for t in thresholds_km),
                  f"{m['median_km']:.0f}", f"{m['geoscore']:.0f}"])
  widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
  return "\n".join(
      "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths)))
      for line in lines)
