"""Per-image results files, read for the explorer: the evaluator's and the batch CLI's CSVs.

  evaluator (`<workdir>/eval/<data set>[.retrieval|.hybrid].csv`, GeoEstimation's columns):
      img_id, gt_lat, predicted_lat, gt_long, predicted_long, great_circle_distance[, neighbours]
  batch CLI (`predictions.csv`): source, latitude, longitude, probability, place, ...,
      true_latitude, true_longitude, ..., distance_km, ...

Rows are read as the evaluator's `--results_csv` reads them (coordinate_csv.read_results_table):
reading stops at the first blank line (GeoEstimation's published files end with a blank line and
two summary lines, the accuracies among them, which are no photos), and skipped rows are named by
their line in the file. Other tools' files name the same things otherwise (pred_lat, lng,
gt_lon, confidence, ...): the columns are found by any of their known names, and the values are
checked rather than trusted.
Rows without a usable predicted position are skipped and counted by reason; a missing or
unusable true position only leaves that photo's error unknown. Errors are recomputed from the
coordinates (great circle), so every file is measured the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from jaxgeo.evaluators import geolocation
from jaxgeo.geo import coordinate_csv, distance, gazetteer as gazetteer_lib
from jaxgeo.run import restore, workdir as workdir_lib

# Column names by what they hold, most specific first.
COLUMNS = {
    "id": ("img_id", "source", "image_id", "photo_id", "id", "name", "file", "path"),
    "latitude": ("predicted_lat", "pred_lat", "predicted_latitude", "latitude", "lat"),
    "longitude": ("predicted_long", "predicted_lon", "predicted_lng", "pred_long", "pred_lon",
                  "pred_lng", "predicted_longitude", "longitude", "lon", "lng", "long"),
    "true_latitude": ("gt_lat", "true_latitude", "gt_latitude", "true_lat"),
    "true_longitude": ("gt_long", "gt_lon", "gt_lng", "true_longitude", "gt_longitude",
                       "true_lon"),
    "confidence": ("probability", "confidence", "prob", "score"),
    "place": ("place",),
}
MAX_ROWS = 2_000_000
SHOWN_SKIPPED = 5  # rows named in a skip reason


class ResultsError(ValueError):
  """A file that cannot be explored; the message names it and says why."""


@dataclasses.dataclass
class Results:
  """One results file as arrays (row i = photo i); NaN or '' where the file does not say."""
  name: str
  source: np.ndarray  # str ids
  latitude: np.ndarray
  longitude: np.ndarray
  true_latitude: np.ndarray
  true_longitude: np.ndarray
  error_km: np.ndarray
  confidence: np.ndarray
  place: np.ndarray  # str, the file's place name if it has one
  country: np.ndarray  # ISO code of the predicted place
  true_country: np.ndarray  # ISO code of the true place ('' unknown)
  skipped: dict[str, list[int]]  # reason -> file line numbers (every one, for the count)
  path: str = ""  # the file, when it was opened from disk by name
  blank_line: int | None = None  # the first blank line, where reading stopped
  trailing_lines: int = 0  # non-blank lines after it, not read (GeoEstimation's summary)
  notes: tuple[str, ...] = ()  # how the columns were read, when not simply as named

  def __len__(self) -> int:
    return len(self.source)

  @property
  def has_truth(self) -> bool:
    return bool(np.isfinite(self.error_km).any())

  @property
  def has_confidence(self) -> bool:
    return bool(np.isfinite(self.confidence).any())

  def skipped_note(self) -> str:
    """'12 rows skipped: no predicted position 10 (lines 5, 9, ...), ...' or ''."""
    if not self.skipped:
      return ""
    parts = []
    for reason, lines in sorted(self.skipped.items()):
      shown = ", ".join(map(str, lines[:SHOWN_SKIPPED])) + (", ..." if len(lines) > SHOWN_SKIPPED
                                                             else "")
      parts.append(f"{reason}: {len(lines)} (line{'s' if len(lines) > 1 else ''} {shown})")
    total = sum(len(v) for v in self.skipped.values())
    return f"{total} row{'s' if total > 1 else ''} of {self.name} skipped: " + "; ".join(parts)

  def left_out_note(self) -> str:
    """'2 lines of X after its blank line 239 left out (...)' or ''. Said, so that a person can
    check that what was not read is a summary and not photos."""
    if not self.trailing_lines:
      return ""
    plural = "s" if self.trailing_lines > 1 else ""
    return (f"{self.trailing_lines} line{plural} of {self.name} after its blank line "
            f"{self.blank_line} left out (a summary such as GeoEstimation's accuracies, not "
            "photos)")

  def reading_note(self) -> str:
    """Everything of how the file was read that the status line says: rows skipped, lines
    left out, columns read other than as named ('' when there is nothing to say)."""
    parts = [p for p in (self.skipped_note(), self.left_out_note(), *self.notes) if p]
    return ". ".join(parts) + "." if parts else ""


def _find(header: Sequence[str], what: str) -> int | None:
  lowered = [h.strip().lower() for h in header]
  for name in COLUMNS[what]:
    if name in lowered:
      return lowered.index(name)
  return None


def read_results(data: bytes | str, name: str) -> Results:
  """A results CSV (bytes, or a path) as arrays.

  The rows are those the evaluator scores (`python -m jaxgeo.evaluate --results_csv`): both read
  with coordinate_csv.read_results_table, which stops at the first blank line (GeoEstimation's
  published files end with a blank line and two summary lines, no photos) and numbers rows by
  their file lines. A file in the evaluator's columns (jaxgeo's eval/*.csv, GeoEstimation's) has
  its latitude columns decided from the values as the evaluator decides them, so both count the
  same photos at the same accuracies; other files' columns are taken by their names and refused
  when their values contradict the names.

  Raises:
    ResultsError: not a CSV with a predicted latitude and longitude column, or columns whose
      values cannot be what their names say (e.g. latitude and longitude swapped).
  """
  try:
    table = coordinate_csv.read_results_table(data, name, max_rows=MAX_ROWS)
  except ValueError as e:
    raise ResultsError(str(e)) from None
  header, rows = table.header, table.rows
  columns = {what: _find(header, what) for what in COLUMNS}
  if columns["latitude"] is None or columns["longitude"] is None:
    raise ResultsError(
        f"{name} has no predicted latitude/longitude column (found: {', '.join(header[:12])}). "
        "Open an evaluator's per-image CSV (<workdir>/eval/*.csv) or a batch CLI's "
        "predictions.csv.")
  lat, lon, tlat, tlon = (coordinate_csv.column_floats(rows, columns[what]) for what in (
      "latitude", "longitude", "true_latitude", "true_longitude"))
  notes: list[str] = []
  if coordinate_csv.results_column_indices(header) is not None:
    swapped, note = _results_order(name, lat, lon, tlat, tlon)
    if swapped:
      lat, lon, tlat, tlon = lon, lat, tlon, tlat
    notes += [note] if note else []
  _check_ranges(name, header, columns, lat, lon)
  lines = np.array(table.lines, dtype=np.int64)
  skipped: dict[str, list[int]] = {}
  missing = ~(np.isfinite(lat) & np.isfinite(lon))
  outside = ~missing & ((np.abs(lat) > 90) | (np.abs(lon) > 180))
  for reason, bad in (("no predicted position", missing), ("position out of range", outside)):
    if bad.any():
      skipped[reason] = lines[bad].tolist()  # the file's own line numbers, header = line 1
  keep = ~(missing | outside)
  truth_ok = np.isfinite(tlat) & np.isfinite(tlon) & (np.abs(tlat) <= 90) & (np.abs(tlon) <= 180)
  truth_ok &= ~((tlat == 0) & (tlon == 0))  # (0, 0): a missing label written as zeros
  rows, lines = [r for r, k in zip(rows, keep) if k], lines[keep]
  lat, lon, tlat, tlon, truth_ok = lat[keep], lon[keep], tlat[keep], tlon[keep], truth_ok[keep]
  tlat, tlon = np.where(truth_ok, tlat, np.nan), np.where(truth_ok, tlon, np.nan)
  error = np.full(len(lat), np.nan)
  error[truth_ok] = distance.great_circle_km(lat[truth_ok], lon[truth_ok], tlat[truth_ok],
                                             tlon[truth_ok])
  confidence = coordinate_csv.column_floats(rows, columns["confidence"])
  confidence = np.where((confidence >= 0) & (confidence <= 1), confidence, np.nan)
  ids = columns["id"]
  source = np.array([r[ids] if ids is not None and ids < len(r) else f"line {line}"
                     for r, line in zip(rows, lines)], dtype=object)
  places = columns["place"]
  place = np.array([r[places] if places is not None and places < len(r) else ""
                    for r in rows], dtype=object)
  gazetteer = gazetteer_lib.default_gazetteer()
  true_country = np.full(len(lat), "", dtype="<U2")
  if truth_ok.any():
    true_country[truth_ok] = gazetteer.country_codes_of(tlat[truth_ok], tlon[truth_ok])
  return Results(name=name, source=source, latitude=lat, longitude=lon, true_latitude=tlat,
                 true_longitude=tlon, error_km=error, confidence=confidence, place=place,
                 country=gazetteer.country_codes_of(lat, lon), true_country=true_country,
                 skipped=skipped, path=data if isinstance(data, str) else "",
                 blank_line=table.blank_line, trailing_lines=table.trailing_lines,
                 notes=tuple(notes))


def _results_order(name: str, lat: np.ndarray, lon: np.ndarray, tlat: np.ndarray,
                   tlon: np.ndarray) -> tuple[bool, str]:
  """Whether a file in the evaluator's columns has its `*_lat` and `*_long` pairs swapped,
  decided as the evaluator decides (coordinate_csv.decide_results_order), and a note when it is
  not read as the header names it."""
  values = np.stack([tlat, lat, tlon, lon], axis=1)  # gt_lat, predicted_lat, gt_long, ...
  try:
    order = coordinate_csv.decide_results_order(values, name)
  except coordinate_csv.ColumnOrderError:
    # The evaluator asks for --coordinate_columns here; the explorer has no such control, and a
    # run's own evaluation of photos in one region is common: the header is taken at its word.
    return False, (f"{name}: the values do not say which columns hold the latitudes (all fit "
                   "[-90, 90]); read as the header names them")
  if order.order == "swapped":
    return True, f"{name}: {order.evidence}"
  return False, ""


def _check_ranges(name: str, header: Sequence[str], columns: dict[str, int | None],
                  lat: np.ndarray, lon: np.ndarray) -> None:
  """Evidence over headers: a 'latitude' column whose values pass 90 while the longitude
  column's never do has its columns swapped (or is not a latitude at all)."""
  finite = np.isfinite(lat) & np.isfinite(lon)
  if not finite.any():
    return
  lat_out = np.mean(np.abs(lat[finite]) > 90)
  lon_out = np.mean(np.abs(lon[finite]) > 90)
  if lat_out > 0.05 and lon_out == 0:
    raise ResultsError(
        f"{name}: column {header[columns['latitude']]!r} holds values beyond +-90 "
        f"({lat_out:.0%} of the rows) while {header[columns['longitude']]!r} never does: are "
        "latitude and longitude swapped? Fix the header and open it again.")


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """A run's per-image results of one geolocation eval and method."""
  label: str  # e.g. "geo_testsets/im2gps3k (hybrid)"
  path: str
  dataset: str  # the evaluated data set (`name[:split]`), whose photos the rows name


def run_evaluations(workdir: str) -> list[Evaluation]:
  """The per-image CSVs the evaluator wrote for a run's geolocation evals (those that exist)."""
  config = restore.load_config(workdir)
  run = workdir_lib.Workdir(workdir)
  found = []
  for ev in config.evals.values():
    if ev.type != "geolocation":
      continue
    for method in (None, geolocation.RETRIEVAL, geolocation.HYBRID):
      path = run.eval_csv(ev.data, method)
      if path.exists():
        found.append(Evaluation(f"{ev.data} ({method or geolocation.HIERARCHY})", str(path),
                                ev.data))
  return found
