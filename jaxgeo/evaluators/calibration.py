"""Confidence that means something: the probability that the true place lies within 25 / 200 /
750 km of the answer, and how well calibrated it is.

The hierarchy gives a distribution over the finest cells. Its mass within r km of the answered
point (each cell's mass at its mean coordinate) is the model's probability that the answer is
right at that scale: one number a person can read ("82% within 200 km") where the top cell's own
probability (often a few %) says little. The evaluator checks it against what happened: binned,
the mean predicted probability against the observed share of photos within r km (a reliability
diagram), and the expected calibration error, ECE = sum over bins of (n_bin / n) |observed -
predicted|.
"""

from __future__ import annotations

import io
import os

import numpy as np
from etils import epath
from PIL import Image, ImageDraw

from jaxgeo.geo import distance

RADII_KM = (25.0, 200.0, 750.0)
NUM_BINS = 10


def probability_within(xp, probs, latitude, longitude, cell_latitude, cell_longitude,
                       radii_km=RADII_KM) -> dict[float, object]:
  """P(true place within r km of (latitude, longitude)) under `probs`, for each radius.

  Args:
    xp: numpy or jax.numpy (jit-compatible with the latter).
    probs: (B, C) probabilities over the finest cells.
    latitude, longitude: (B,) the answered points, degrees.
    cell_latitude, cell_longitude: (C,) the cells' coordinates.
  """
  great_circle_km = distance.great_circle_km if xp is np else distance.great_circle_km_jax
  km = great_circle_km(latitude[:, None], longitude[:, None],
                       xp.asarray(cell_latitude)[None, :], xp.asarray(cell_longitude)[None, :])
  return {r: xp.sum(xp.where(km <= r, probs, 0.0), axis=-1) for r in radii_km}


def reliability(predicted: np.ndarray, observed: np.ndarray,
                num_bins: int = NUM_BINS) -> dict[str, np.ndarray]:
  """Equal-width bins of the predicted probability: count, mean predicted, observed share."""
  predicted = np.clip(np.asarray(predicted, np.float64), 0.0, 1.0)
  observed = np.asarray(observed, np.float64)
  bins = np.minimum((predicted * num_bins).astype(int), num_bins - 1)
  count = np.bincount(bins, minlength=num_bins).astype(np.float64)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean_predicted = np.bincount(bins, predicted, num_bins) / count
    mean_observed = np.bincount(bins, observed, num_bins) / count
  return {"count": count, "predicted": mean_predicted, "observed": mean_observed}


def expected_calibration_error(predicted: np.ndarray, observed: np.ndarray,
                               num_bins: int = NUM_BINS) -> float:
  """ECE: the count-weighted mean gap between observed share and mean prediction per bin."""
  table = reliability(predicted, observed, num_bins)
  used = table["count"] > 0
  weights = table["count"][used] / table["count"].sum()
  return float(np.sum(weights * np.abs(table["observed"][used] - table["predicted"][used])))


def calibration_metrics(within: dict[float, np.ndarray],
                        errors_km: np.ndarray) -> dict[str, float]:
  """Per radius: ECE, the mean predicted probability and the observed share within it."""
  out = {}
  for r, predicted in within.items():
    hit = np.asarray(errors_km) <= r
    out[f"ece@{r:g}km"] = expected_calibration_error(predicted, hit)
    out[f"predicted@{r:g}km"] = float(np.mean(predicted))
    out[f"observed@{r:g}km"] = float(np.mean(hit))
  return out


_COLOURS = {25.0: (214, 39, 40), 200.0: (31, 119, 180), 750.0: (44, 160, 44)}


def reliability_png(within: dict[float, np.ndarray], errors_km: np.ndarray, title: str,
                    path: str | os.PathLike, size: int = 480) -> None:
  """A reliability diagram: observed share against mean predicted probability per bin, one
  series per radius (dot area ~ photos in the bin), the diagonal where calibration is perfect."""
  image = Image.new("RGB", (size, size), "white")
  draw = ImageDraw.Draw(image)
  left, top, right, bottom = 50, 30, size - 20, size - 50
  def xy(p, q):
    return left + p * (right - left), bottom - q * (bottom - top)
  draw.rectangle((left, top, right, bottom), outline=(0, 0, 0))
  for tick in np.linspace(0, 1, 6):
    x, y = xy(tick, tick)
    draw.line((x, bottom, x, bottom + 4), fill=(0, 0, 0))
    draw.line((left - 4, y, left, y), fill=(0, 0, 0))
    draw.text((x - 8, bottom + 8), f"{tick:.1f}", fill=(0, 0, 0))
    draw.text((left - 30, y - 6), f"{tick:.1f}", fill=(0, 0, 0))
  draw.line((*xy(0, 0), *xy(1, 1)), fill=(160, 160, 160))
  draw.text((left, 8), title[:70], fill=(0, 0, 0))
  draw.text((left + 60, size - 22), "predicted P(within r km)", fill=(0, 0, 0))
  total = len(errors_km)
  for row, (r, predicted) in enumerate(within.items()):
    colour = _COLOURS.get(r, (0, 0, 0))
    table = reliability(predicted, np.asarray(errors_km) <= r)
    points = [(xy(p, q), n) for p, q, n in zip(table["predicted"], table["observed"],
                                               table["count"]) if n > 0]
    for (a, _), (b, _) in zip(points, points[1:]):
      draw.line((*a, *b), fill=colour, width=2)
    for (x, y), n in points:
      radius = 2 + 10 * np.sqrt(n / max(total, 1))
      draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colour, width=2)
    ece = expected_calibration_error(predicted, np.asarray(errors_km) <= r)
    draw.text((left + 10, top + 10 + 16 * row), f"{r:g} km: ECE {ece:.3f}", fill=colour)
  out = io.BytesIO()
  image.save(out, format="PNG")
  epath.Path(path).write_bytes(out.getvalue())
