"""Photo coordinates from CSV files, with the latitude/longitude order decided from the values.

The header of a coordinate CSV cannot be trusted alone. Two versions of GeoEstimation's
Im2GPS / Im2GPS3k label files circulate with identical values: the 2018 files say
`IMG_ID,AUTHOR,LON,LAT,...` but their third column holds latitudes and their fourth longitudes
(first Im2GPS3k row: Bermuda, 32.325436,-64.764404); later files say `IMG_ID,AUTHOR,LAT,LON,...`
over the same values. Read by the header, the 2018 file puts a third of the photos out of range
and the rest at mirrored places.

So every reader here decides the order from evidence: longitudes fill [-180, 180], latitudes only
[-90, 90], so the column with values in 90 < |v| <= 180 holds longitudes (it must have at least
three times as many as the other, so a corrupt row or two decide nothing). When neither column
has such values, or both have about as many, the file does not say, and reading stops with an
error that names the file and the `coordinate_columns` setting that forces an order:

* `auto`: decide from the values (the default);
* `as_named`: the column named LAT holds latitudes, the one named LON longitudes;
* `swapped`: the column named LAT holds longitudes, the one named LON latitudes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os

import numpy as np
import pandas as pd
from etils import epath

COLUMN_ORDERS = ("auto", "as_named", "swapped")
# The column taken for the longitudes must show at least this many times as many values beyond
# [-90, 90] as the other: a corrupt row or two neither decide nor outvote a real column (where a
# third of a worldwide set's longitudes lie beyond 90).
_EVIDENCE_RATIO = 3

# Why `read_coordinates` skips a row: the short key reports count it under (as builders' skip
# reports do), and the sentence the summary shows people.
COORDINATE_SKIP_REASONS = {
    "missing_coordinates": "missing or non-numeric latitude/longitude",
    "bad_coordinates": "latitude outside [-90, 90] or longitude outside [-180, 180]",
    "missing_id": "missing IMG_ID",
    "duplicate_id": "duplicate IMG_ID (first kept)",
}


class ColumnOrderError(ValueError):
  """The values do not say which column holds latitudes; the message says how to force it."""


@dataclasses.dataclass(frozen=True)
class ColumnOrder:
  """How a file's two coordinate columns were read, and why.

  Attributes:
    order: "as_named" or "swapped".
    lat_column: the header name of the column read as latitudes.
    lon_column: likewise for longitudes.
    evidence: one sentence for the log and the build report.
  """
  order: str
  lat_column: str
  lon_column: str
  evidence: str

  def as_dict(self) -> dict[str, str]:
    return dataclasses.asdict(self)


def _beyond_latitude(values: np.ndarray) -> int:
  """How many values can only be longitudes: 90 < |v| <= 180."""
  magnitude = np.abs(values[np.isfinite(values)])
  return int(np.sum((magnitude > 90) & (magnitude <= 180)))


def decide_column_order(named_lat: np.ndarray, named_lon: np.ndarray, where: str,
                        forced: str = "auto", lat_name: str = "LAT",
                        lon_name: str = "LON") -> ColumnOrder:
  """Which of two columns holds the latitudes, from their values (or as forced).

  Args:
    named_lat: the values of the column the header calls the latitude (NaN where not a number).
    named_lon: likewise for the longitude.
    where: the file, for messages.
    forced: one of COLUMN_ORDERS; anything but "auto" is taken as given.
    lat_name: the header's name of the latitude column, for messages.
    lon_name: likewise for the longitude.

  Raises:
    ColumnOrderError: "auto" and the values do not settle it.
    ValueError: `forced` is not one of COLUMN_ORDERS.
  """
  if forced not in COLUMN_ORDERS:
    raise ValueError(f"coordinate_columns={forced!r} is not one of {COLUMN_ORDERS}.")
  in_lat, in_lon = _beyond_latitude(np.asarray(named_lat, np.float64)), _beyond_latitude(
      np.asarray(named_lon, np.float64))
  counts = (f"column {lat_name} has {in_lat} value(s) outside [-90, 90] and column {lon_name} "
            f"{in_lon}")
  if forced == "as_named":
    return ColumnOrder("as_named", lat_name, lon_name,
                       f"coordinate_columns='as_named' (forced): {lat_name} read as latitudes; "
                       f"{counts}")
  if forced == "swapped":
    return ColumnOrder("swapped", lon_name, lat_name,
                       f"coordinate_columns='swapped' (forced): {lon_name} read as latitudes; "
                       f"{counts}")
  if in_lon > 0 and in_lon >= _EVIDENCE_RATIO * in_lat:
    return ColumnOrder("as_named", lat_name, lon_name,
                       f"{counts}: {lon_name} holds the longitudes; read as named")
  if in_lat > 0 and in_lat >= _EVIDENCE_RATIO * in_lon:
    return ColumnOrder("swapped", lon_name, lat_name,
                       f"the header's names are swapped: {counts}, so the column named "
                       f"{lat_name} holds the longitudes and the one named {lon_name} the "
                       "latitudes; read that way")
  raise ColumnOrderError(
      f"{where}: cannot tell which column holds the latitudes: {counts}, so the values do not "
      "settle it (both columns of some files fit [-90, 90], e.g. photos only in Europe and "
      f"Africa). Say which: coordinate_columns='as_named' ({lat_name} holds latitudes) or "
      f"'swapped' ({lon_name} holds latitudes) -- the `coordinate_columns` field of the builder "
      "config, `--coordinate-columns` of `python -m jaxgeo.geo.partitions`, or "
      "`--config.partitions.coordinate_columns` of a training run.")


@dataclasses.dataclass
class CoordinateReport:
  """What `read_coordinates` kept and skipped, by reason key of COORDINATE_SKIP_REASONS (with a
  few example data rows each), and how it read the coordinate columns."""
  path: str
  num_rows: int = 0
  num_kept: int = 0
  skipped: dict[str, int] = dataclasses.field(default_factory=dict)
  examples: dict[str, list[int]] = dataclasses.field(default_factory=dict)
  columns: ColumnOrder | None = None

  def summary(self) -> str:
    lines = [f"{self.path}: {self.num_rows} rows, {self.num_kept} kept, "
             f"{self.num_rows - self.num_kept} skipped"]
    if self.columns is not None:
      lines.append(f"  coordinate columns: latitude = {self.columns.lat_column}, longitude = "
                   f"{self.columns.lon_column} ({self.columns.evidence})")
    for reason, count in self.skipped.items():
      rows = ", ".join(str(r) for r in self.examples[reason])
      lines.append(f"  skipped {count} row(s): {COORDINATE_SKIP_REASONS[reason]} "
                   f"({reason}; e.g. data rows {rows})")
    return "\n".join(lines)

  def as_dict(self) -> dict:
    """The build-report section of the file."""
    return {"file": self.path, "rows": self.num_rows, "kept": self.num_kept,
            "skipped": dict(self.skipped),
            "reasons": {k: COORDINATE_SKIP_REASONS[k] for k in self.skipped},
            "examples": {k: [f"data row {r}" for r in rows] for k, rows in self.examples.items()},
            "coordinate_columns": self.columns.as_dict() if self.columns else None}


def read_coordinates(path: str | os.PathLike, coordinate_columns: str = "auto"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, CoordinateReport]:
  """Reads `IMG_ID,LAT,LON` (MP-16 / Im2GPS meta CSVs; other columns ignored), skipping bad rows.

  The order of LAT and LON is decided from the values (see the module docstring), or forced.

  Returns:
    (image ids, latitudes, longitudes) of the good rows and the report of what was read and
    skipped. Data rows are numbered from 1 (the line after the header) in the report.

  Raises:
    ColumnOrderError: the values do not say which column holds the latitudes.
    ValueError: a required column is missing.
  """
  path = str(path)  # local or a bucket's (a run's input_csv may be either)
  with epath.Path(path).open() as f:
    header = pd.read_csv(f, nrows=0).columns
  missing = [c for c in ("IMG_ID", "LAT", "LON") if c not in header]
  if missing:
    raise ValueError(f"{path}: missing column(s) {missing} in the header {list(header)}; "
                     "expected the MP-16 meta format with at least IMG_ID,LAT,LON.")
  with epath.Path(path).open() as f:
    frame = pd.read_csv(f, usecols=["IMG_ID", "LAT", "LON"], dtype=str, keep_default_na=False)
  if frame.empty:
    empty = np.zeros(0, np.float64)
    return frame["IMG_ID"].to_numpy(), empty, empty, CoordinateReport(path=path)
  named_lat = pd.to_numeric(frame["LAT"].str.strip(), errors="coerce").to_numpy(np.float64)
  named_lon = pd.to_numeric(frame["LON"].str.strip(), errors="coerce").to_numpy(np.float64)
  columns = decide_column_order(named_lat, named_lon, path, coordinate_columns)
  lat, lon = (named_lat, named_lon) if columns.order == "as_named" else (named_lon, named_lat)
  ids = frame["IMG_ID"].to_numpy()
  reasons = {
      "missing_coordinates": ~(np.isfinite(lat) & np.isfinite(lon)),
      "bad_coordinates": (np.abs(lat) > 90) | (np.abs(lon) > 180),
      "missing_id": ids == "",
      "duplicate_id": frame["IMG_ID"].duplicated().to_numpy() & (ids != ""),
  }
  report = CoordinateReport(path=path, num_rows=len(frame), columns=columns)
  bad = np.zeros(len(frame), dtype=bool)
  for reason, mask in reasons.items():
    mask = mask & ~bad  # Each row is counted under its first reason only.
    if mask.any():
      report.skipped[reason] = int(mask.sum())
      report.examples[reason] = (np.flatnonzero(mask)[:5] + 1).tolist()
    bad |= mask
  report.num_kept = int((~bad).sum())
  return ids[~bad], lat[~bad], lon[~bad], report


def read_authors(path: str | os.PathLike) -> dict[str, str]:
  """The AUTHOR (the photographer's Flickr NSID) of each IMG_ID of an MP-16 / Im2GPS meta CSV,
  from its first row; {} for a copy without the column. The retrieval gallery's leakage report
  counts test photos whose photographer is in the gallery by it."""
  path = str(path)
  with epath.Path(path).open() as f:
    header = pd.read_csv(f, nrows=0).columns
  if "AUTHOR" not in header or "IMG_ID" not in header:
    return {}
  with epath.Path(path).open() as f:
    frame = pd.read_csv(f, usecols=["IMG_ID", "AUTHOR"], dtype=str, keep_default_na=False)
  frame = frame.drop_duplicates("IMG_ID")
  return dict(zip(frame["IMG_ID"].to_numpy(), frame["AUTHOR"].str.strip().to_numpy()))


RESULTS_COLUMNS = ("img_id", "gt_lat", "predicted_lat", "gt_long", "predicted_long")


@dataclasses.dataclass
class ResultsTable:
  """The data rows of a per-image results file, as text, each with its line in the file.

  Attributes:
    path: the file, or the name it was given under, for messages.
    header: the column names, stripped.
    rows: the fields of each data row.
    lines: the 1-based file line of each row (the header is line 1), so that every report names
      the line a person finds in an editor.
    blank_line: the first blank line, where reading stopped; None if the rows run to the end.
    trailing_lines: the non-blank lines after it, not read (GeoEstimation's two summary lines).
  """
  path: str
  header: list[str]
  rows: list[list[str]]
  lines: list[int]
  blank_line: int | None = None
  trailing_lines: int = 0


def _is_blank(row: list[str]) -> bool:
  return not row or (len(row) == 1 and not row[0].strip())


def read_results_table(source: str | os.PathLike | bytes, name: str = "",
                       max_rows: int | None = None) -> ResultsTable:
  """The header and data rows of a results CSV (a path, local or a bucket's, or its bytes).

  Reading stops at the first blank line: GeoEstimation's published files end with a blank line,
  the radii's names and the accuracies as fractions, and the accuracies line holds five numbers
  that would otherwise pass for a photo. A BOM and CRLF line ends are taken as they come, quoted
  fields (a place "Paris, France") as one field.

  Args:
    source: the file's path, or its bytes (an upload).
    name: how messages name the file (default: the path).
    max_rows: refuse files with more data rows (None: no limit).

  Raises:
    ValueError: the file cannot be read, is not UTF-8 text, is empty or has too many rows; the
      message names it and says what to do.
  """
  name = name or (os.fspath(source) if not isinstance(source, bytes) else "the results file")
  if isinstance(source, bytes):
    data = source
  else:
    try:
      data = epath.Path(os.fspath(source)).read_bytes()
    except OSError as e:
      raise ValueError(f"{name} cannot be read ({e.strerror or e}).") from None
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError:
    raise ValueError(f"{name} is not a UTF-8 text file: is it a results CSV?") from None
  reader = csv.reader(io.StringIO(text, newline=""))
  header = next(reader, None)
  if not header or _is_blank(header):
    raise ValueError(f"{name} is empty.")
  table = ResultsTable(name, [h.strip() for h in header], [], [])
  line = reader.line_num  # the last line read so far
  for row in reader:
    if _is_blank(row):
      table.blank_line = line + 1
      table.trailing_lines = sum(1 for rest in reader if not _is_blank(rest))
      break
    if max_rows is not None and len(table.rows) >= max_rows:
      raise ValueError(f"{name} has more than {max_rows:,} rows; read a part of it.")
    table.rows.append(row)
    table.lines.append(line + 1)  # a quoted field may span lines: the row's first one
    line = reader.line_num
  return table


def column_floats(rows: list[list[str]], column: int | None) -> np.ndarray:
  """One column's values as floats; NaN where a row is short or its field is not a number."""
  out = np.full(len(rows), np.nan)
  if column is None:
    return out
  for i, row in enumerate(rows):
    try:
      out[i] = float(row[column])
    except (IndexError, ValueError):
      pass
  return out


def results_column_indices(header: list[str]) -> list[int] | None:
  """Where RESULTS_COLUMNS are in a header (any case), in their order; None if one is missing."""
  lowered = [h.strip().lower() for h in header]
  if any(c not in lowered for c in RESULTS_COLUMNS):
    return None
  return [lowered.index(c) for c in RESULTS_COLUMNS]


def decide_results_order(values: np.ndarray, where: str, forced: str = "auto") -> ColumnOrder:
  """Which of the `*_lat` / `*_long` pairs holds the latitudes, from the values of both pairs
  together (a swapped writer swaps both), or as forced.

  Args:
    values: (rows, 4) gt_lat, predicted_lat, gt_long, predicted_long; NaN where not a number.
      Only rows with all four decide, so the evaluator and the explorer decide alike.
    where: the file, for messages.
    forced: one of COLUMN_ORDERS.

  Raises:
    ColumnOrderError: "auto" and the values do not settle it.
  """
  complete = values[np.isfinite(values).all(axis=1)]
  return decide_column_order(complete[:, :2].ravel(), complete[:, 2:].ravel(), where, forced,
                             lat_name="gt_lat/predicted_lat", lon_name="gt_long/predicted_long")


@dataclasses.dataclass
class ResultRows:
  """Per-image results: ids, true and predicted coordinates (degrees), and how they were read."""
  path: str
  image_ids: np.ndarray
  true_lat: np.ndarray
  true_lon: np.ndarray
  predicted_lat: np.ndarray
  predicted_lon: np.ndarray
  columns: ColumnOrder
  # File lines of rows that are not results: short, not numbers, or outside [-90, 90] /
  # [-180, 180] once the order is decided.
  skipped_rows: list[int]
  trailing_lines: int  # lines after the first blank line (GeoEstimation's summary), not read
  blank_line: int | None = None  # that blank line, None if the file has none before its end


def read_results(path: str | os.PathLike, coordinate_columns: str = "auto") -> ResultRows:
  """Reads per-image results, `img_id,gt_lat,predicted_lat,gt_long,predicted_long[,...]`.

  The conventional files of the geolocation literature, jaxgeo's own (`<workdir>/eval/*.csv`)
  and GeoEstimation's published ones, which end with a blank line and two summary lines (column
  names, then the accuracies): reading stops at the first blank line (`read_results_table`, the
  reader the demo's explorer shares). As for every coordinate CSV, which of the `*_lat` /
  `*_long` columns hold the latitudes is decided from the values (`decide_results_order`), or
  forced.

  Raises:
    ColumnOrderError: the values do not say which columns hold the latitudes.
    ValueError: the file cannot be read, a required column is missing, or no row holds a result.
  """
  path = os.fspath(path)
  table = read_results_table(path)
  index = results_column_indices(table.header)
  if index is None:
    missing = [c for c in RESULTS_COLUMNS if c not in [h.lower() for h in table.header]]
    raise ValueError(f"{path}: missing column(s) {missing} in the header {table.header}; "
                     f"expected {','.join(RESULTS_COLUMNS)},... (per-image results).")
  ids = np.array([row[index[0]].strip() if index[0] < len(row) else "" for row in table.rows])
  values = np.stack([column_floats(table.rows, i) for i in index[1:]], axis=1)
  if not np.isfinite(values).all(axis=1).any():
    raise ValueError(f"{path}: no result rows after the header (each needs numbers under "
                     f"{', '.join(RESULTS_COLUMNS[1:])}).")
  columns = decide_results_order(values, path, coordinate_columns)
  lat, lon = (values[:, :2], values[:, 2:]) if columns.order == "as_named" else (
      values[:, 2:], values[:, :2])
  with np.errstate(invalid="ignore"):  # NaN compares False: those rows are out already
    keep = (np.isfinite(values).all(axis=1) & (np.abs(lat) <= 90).all(axis=1)
            & (np.abs(lon) <= 180).all(axis=1))
  skipped = np.array(table.lines)[~keep].tolist()
  return ResultRows(path, ids[keep], lat[keep, 0], lon[keep, 0], lat[keep, 1], lon[keep, 1],
                    columns, skipped, trailing_lines=table.trailing_lines,
                    blank_line=table.blank_line)
