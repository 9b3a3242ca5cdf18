"""The demo's Explore view: a results file on the map, filtered, with its accuracy.

Every photo of an evaluation (or of a batch CLI run) is a point at its predicted place, coloured
by its error (green within 1 km to red beyond 2,500 km, grey when the truth is unknown), with a
line to its true place. Filters narrow what is shown (error range, predicted continent or
country, confidence), and the accuracy at 1 / 25 / 200 / 750 / 2,500 km and per country is that of
what is shown. A click on a point opens the photo, when it is at hand, and the model's answer for
it in the inspector.

Scale: every point is sent and drawn (no sampling, so nothing seen is a guess); the browser draws
them as small squares, one path per error colour, and draws the lines to the truth only when at
most LINE_LIMIT points are in view (zoom in to see them; the selected photo always has its line).
Points arrive as base64 float32 arrays, 21 bytes a photo.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import html
import itertools
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from demo import map_view, results as results_lib
from jaxgeo.data import pipeline
from jaxgeo.geo import gazetteer as gazetteer_lib
from jaxgeo.predict import inputs

RADII_KM = (1.0, 25.0, 200.0, 750.0, 2500.0)  # GeoEstimation's street .. continent scales
CLASSES = (("within 1 km", "#1a9850"), ("1-25 km", "#66bd63"), ("25-200 km", "#d9ef8b"),
           ("200-750 km", "#fdae61"), ("750-2,500 km", "#f46d43"), ("over 2,500 km", "#a50026"),
           ("truth unknown", "#7f7f7f"))
LINE_LIMIT = 2000  # the browser draws lines to the truth when at most this many are in view
COUNTRY_ROWS = 25
CONTINENTS = {"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
              "NA": "North America", "OC": "Oceania", "SA": "South America"}
_VIEW_IDS = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class Filters:
  """What to show: errors in [error_min_km, error_max_km] (None: no bound), the predicted
  place's `region` ("continent:EU", "country:FR" or "" for all) and a least confidence."""
  error_min_km: float | None = None
  error_max_km: float | None = None
  region: str = ""
  min_confidence: float = 0.0

  def describe(self) -> str:
    parts = []
    if self.error_min_km is not None or self.error_max_km is not None:
      low = f"{self.error_min_km:g}" if self.error_min_km is not None else "0"
      high = f"{self.error_max_km:g}" if self.error_max_km is not None else "any"
      parts.append(f"error {low}-{high} km")
    if self.region:
      parts.append(f"predicted in {region_name(self.region)}")
    if self.min_confidence > 0:
      parts.append(f"confidence at least {self.min_confidence:g}")
    return ", ".join(parts) or "none"


def region_name(region: str) -> str:
  kind, _, code = region.partition(":")
  if kind == "continent":
    return CONTINENTS.get(code, code)
  return gazetteer_lib.default_gazetteer().country_names.get(code, code)


def continents_of(codes: np.ndarray) -> np.ndarray:
  table = gazetteer_lib.default_gazetteer().continent_codes
  unique, inverse = np.unique(codes, return_inverse=True)
  return np.array([table.get(c, "") for c in unique], dtype="<U2")[inverse]


def shown(results: results_lib.Results, filters: Filters) -> np.ndarray:
  """The rows the filters keep (a bool mask). An error bound keeps only photos whose error is
  known; a confidence bound only photos with a confidence."""
  keep = np.ones(len(results), bool)
  err = results.error_km
  if filters.error_min_km is not None:
    keep &= err >= filters.error_min_km
  if filters.error_max_km is not None:
    keep &= err <= filters.error_max_km
  if filters.min_confidence > 0:
    keep &= results.confidence >= filters.min_confidence
  kind, _, code = filters.region.partition(":")
  if kind == "country":
    keep &= results.country == code
  elif kind == "continent":
    keep &= continents_of(results.country) == code
  return keep


def error_classes(error_km: np.ndarray) -> np.ndarray:
  """Each photo's colour class: 0 within 1 km ... 5 beyond 2,500 km, 6 unknown."""
  classes = np.searchsorted(np.array(RADII_KM), error_km, side="left").astype(np.uint8)
  return np.where(np.isfinite(error_km), classes, len(CLASSES) - 1).astype(np.uint8)


def accuracy(error_km: np.ndarray) -> dict[float, float]:
  """Share of photos within each radius (of those whose error is known)."""
  known = error_km[np.isfinite(error_km)]
  return {r: float(np.mean(known <= r)) if len(known) else float("nan") for r in RADII_KM}


def region_choices(results: results_lib.Results) -> list[tuple[str, str]]:
  """(label with its count, value) of every continent and country predicted, most first."""
  names = gazetteer_lib.default_gazetteer().country_names
  out = [(f"All photos ({len(results):,})", "")]
  for codes, kind, name_of in ((continents_of(results.country), "continent", CONTINENTS.get),
                               (results.country, "country", names.get)):
    unique, counts = np.unique(codes[codes != ""], return_counts=True)
    for i in np.argsort(-counts, kind="stable"):
      code = str(unique[i])
      out.append((f"{name_of(code, code)} ({counts[i]:,})", f"{kind}:{code}"))
  return out


def _pct(x: float) -> str:
  return "-" if not np.isfinite(x) else f"{100 * x:.1f}%"


def summary_html(results: results_lib.Results, mask: np.ndarray, filters: Filters) -> str:
  """How many photos are shown and their accuracy at each radius."""
  err = results.error_km[mask]
  known = int(np.isfinite(err).sum())
  acc = accuracy(err)
  head = "".join(f"<th>{r:,.0f} km</th>" for r in RADII_KM)
  cells = "".join(f"<td>{_pct(acc[r])}</td>" for r in RADII_KM)
  median = f"{np.median(err[np.isfinite(err)]):,.0f} km" if known else "-"
  return (f'<div class="jg-explore-summary"><b>{int(mask.sum()):,} of {len(results):,} photos '
          f"shown</b> (filters: {html.escape(filters.describe())}); true place known for "
          f"{known:,}.<table class='jg-accuracy'><tr><th>accuracy within</th>{head}"
          f"<th>median error</th></tr><tr><td>shown photos</td>{cells}<td>{median}</td></tr>"
          "</table></div>")


def countries_html(results: results_lib.Results, mask: np.ndarray) -> str:
  """Accuracy by the true place's country, for the shown photos with a known truth."""
  rows = mask & np.isfinite(results.error_km) & (results.true_country != "")
  if not rows.any():
    return "<p class='jg-hint'>No shown photo has a known true place.</p>"
  names = gazetteer_lib.default_gazetteer().country_names
  codes, err = results.true_country[rows], results.error_km[rows]
  unique, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
  order = np.argsort(-counts, kind="stable")
  head = "".join(f"<th>{r:,.0f} km</th>" for r in RADII_KM)
  lines = []
  for i in order[:COUNTRY_ROWS]:
    acc = accuracy(err[inverse == i])
    lines.append(f"<tr><td>{html.escape(names.get(str(unique[i]), str(unique[i])))}</td>"
                 f"<td>{counts[i]:,}</td>" + "".join(f"<td>{_pct(acc[r])}</td>"
                                                      for r in RADII_KM) + "</tr>")
  more = (f"<p class='jg-hint'>{len(unique) - COUNTRY_ROWS} more countries not listed.</p>"
          if len(unique) > COUNTRY_ROWS else "")
  return (f"<table class='jg-countries'><tr><th>true country</th><th>photos</th>{head}</tr>"
          + "".join(lines) + "</table>" + more)


def _b64(array: np.ndarray) -> str:
  return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def payload(results: results_lib.Results, mask: np.ndarray, selected: int | None = None, *,
            move: str | None = None) -> str:
  """The map's JSON: the shown photos' points (row numbers, predicted and true places, colour
  classes), the selected one's answer and truth, and with `move` ("all") a view to fit."""
  rows = np.flatnonzero(mask).astype(np.int32)
  classes = error_classes(results.error_km[rows])
  key = hashlib.sha1(rows.tobytes() + classes.tobytes() + results.name.encode()).hexdigest()
  out: dict[str, Any] = {"pins": [], "explore": {
      "n": int(len(rows)), "key": key[:16], "row": _b64(rows),
      "lat": _b64(results.latitude[rows].astype(np.float32)),
      "lon": _b64(results.longitude[rows].astype(np.float32)),
      "tlat": _b64(results.true_latitude[rows].astype(np.float32)),
      "tlon": _b64(results.true_longitude[rows].astype(np.float32)),
      "cls": _b64(classes),
      "colours": [c for _, c in CLASSES], "lineLimit": LINE_LIMIT}}
  if len(rows):
    out["home"] = map_view.bounds_around(
        [(float(results.latitude[rows].min()), float(results.longitude[rows].min())),
         (float(results.latitude[rows].max()), float(results.longitude[rows].max()))], 20.0)
  counts = np.bincount(classes, minlength=len(CLASSES))
  out["legend"] = " · ".join(f"{label} {n:,}" for (label, _), n in zip(CLASSES, counts) if n)
  if selected is not None and 0 <= selected < len(results):
    focus: dict[str, Any] = {"answer": [float(results.latitude[selected]),
                                        float(results.longitude[selected])], "marker": True}
    if np.isfinite(results.error_km[selected]):
      focus.update(truth=[float(results.true_latitude[selected]),
                          float(results.true_longitude[selected])],
                   error_km=float(results.error_km[selected]), truthLabel="truth")
    out["focus"], out["selected"] = focus, int(selected)
  if move == "all":
    out["view"] = {"id": next(_VIEW_IDS), "bounds": out.get("home")}
  return json.dumps(out)


def row_html(results: results_lib.Results, row: int) -> str:
  """What the file says of one photo."""
  def coords(lat, lon):
    return f"{lat:.5f}, {lon:.5f}" if np.isfinite(lat) else "unknown"
  items = [("photo", str(results.source[row])),
           ("predicted", coords(results.latitude[row], results.longitude[row])
            + (f" ({results.place[row]})" if results.place[row] else "")),
           ("true place", coords(results.true_latitude[row], results.true_longitude[row])),
           ("error", f"{results.error_km[row]:,.1f} km" if np.isfinite(results.error_km[row])
            else "unknown")]
  if np.isfinite(results.confidence[row]):
    items.append(("confidence", f"{results.confidence[row]:.3f}"))
  body = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in items)
  return (f"<div class='jg-explore-row'><b>In {html.escape(results.name)}</b>"
          f"<table>{body}</table></div>")


# -- photos of the rows


@functools.cache
def _split_rows(data_dir: str, dataset: str) -> tuple[Any, dict[str, int]]:
  """A built split and its rows by image id (read once per data set and process)."""
  name, split = pipeline.parse_dataset(dataset)
  source = pipeline.open_split(name, split, data_dir)
  return source, {inputs.example_id(source[i], i): i for i in range(len(source))}


@dataclasses.dataclass(frozen=True)
class PhotoFinder:
  """Finds the photo of a row: in the evaluated data set's built split, or (for files given on
  the command line, never for uploaded ones) at the path a batch CLI row names."""
  data_dir: str
  dataset: str = ""  # the evaluation's data set, when the file is a run's evaluation
  trust_paths: bool = False

  def read(self, source: str) -> bytes | None:
    if self.dataset:
      return self._from_split(self.dataset, source)
    if self.trust_paths and os.path.isfile(source):
      with open(source, "rb") as f:
        return f.read()
    # A batch CLI row of a built split is named "<data set>/<image id>" (its test split).
    dataset, _, ident = source.rpartition("/")
    if dataset.count("/") == 1:
      return self._from_split(dataset, ident)
    return None

  def _from_split(self, dataset: str, ident: str) -> bytes | None:
    try:
      split, rows = _split_rows(self.data_dir, dataset)
    except Exception:  # pylint: disable=broad-except  (a data set not built here: no photo)
      return None
    row = rows.get(ident)
    return None if row is None else bytes(split[row]["image"])


@dataclasses.dataclass
class Opened:
  """One session's explored file: the results, what is shown, the selection."""
  results: results_lib.Results
  finder: PhotoFinder
  filters: Filters = Filters()
  mask: np.ndarray | None = None
  selected: int | None = None

  def __post_init__(self):
    if self.mask is None:
      self.mask = np.ones(len(self.results), bool)


def inspector_html(opened: Opened, row: int, answer: Callable[[str, bytes], str]) -> str:
  """The inspector for one row: the file's line, then the photo with the model's answer (by
  `answer(name, jpeg)`) when the photo is at hand."""
  head = row_html(opened.results, row)
  data = opened.finder.read(str(opened.results.source[row]))
  if data is None:
    return head + ("<p class='jg-hint'>The photo is not at hand here (only the rows of a built "
                   "data set, or files named in a file given with --results, can be opened).</p>")
  return head + answer(os.path.basename(str(opened.results.source[row])), data)
