r"""Adaptive S2-cell partitionings of the Earth (Müller-Budack et al., ECCV 2018).

Geolocation is trained as classification over cells that adapt to where photos are: every photo
starts in its S2 cell at level 2, a cell holding more than `tau_max` photos splits into its four
children (one level at a time, down to level 30), and cells holding `tau_min` photos or fewer are
dropped. Several `tau_max` values give the coarse-to-fine partitionings of the hierarchy.

Files are GeoEstimation-compatible CSVs (`class_label,hex_id,imgs_per_cell,latitude_mean,
longitude_mean`), so existing cell files can be used as they are. Two choices differ from
GeoEstimation and are deliberate:

* The class coordinate is the mean of its photos **on the sphere** (the normalised mean of unit
  vectors), not the mean of latitudes and longitudes. The two agree to well under a kilometre
  for small cells, but a plain mean sends a cell straddling the antimeridian (photos at lon 179.9
  and -179.9) to lon 0, on the other side of the Earth, and pulls cells near the poles.
* Class labels follow the cells' S2 ids (the Hilbert curve), so a build is deterministic and
  neighbouring labels are neighbouring places.

Command line (MP-16 meta CSV in, one cell file per tau_max and the per-photo classes out)::

  python -m jaxgeo.geo.partitions --input mp16_places365.csv --tau-min 50 \
      --tau-max 5000 2000 1000 --out data/partitions
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from etils import epath

from jaxgeo.geo import coordinate_csv, s2

MIN_LEVEL = 2
_HEADER = ["class_label", "hex_id", "imgs_per_cell", "latitude_mean", "longitude_mean"]


def partition_name(tau_min: int, tau_max: int) -> str:
  """The name GeoEstimation gives a partitioning; also its file stem and head name."""
  return f"cells_{tau_min}_{tau_max}"


@dataclasses.dataclass(frozen=True, eq=False)
class Partition:
  """One partitioning: arrays indexed by class label.

  Attributes:
    name: e.g. `cells_50_5000`; used for file names, model heads and metrics.
    cell_ids: S2 cell id of each class (uint64); cells are disjoint, at any level.
    counts: training photos in each cell.
    latitudes: class coordinate (degrees), the spherical mean of the cell's photos.
    longitudes: likewise.
  """
  name: str
  cell_ids: np.ndarray
  counts: np.ndarray
  latitudes: np.ndarray
  longitudes: np.ndarray

  def __post_init__(self):
    n = len(self.cell_ids)
    if not (len(self.counts) == len(self.latitudes) == len(self.longitudes) == n):
      raise ValueError(f"Partition {self.name}: per-class arrays differ in length.")
    # Sorted leaf-id ranges make point lookup a single searchsorted.
    order = np.argsort(self.cell_ids, kind="stable")
    range_min = s2.cell_range_min(self.cell_ids[order])
    range_max = s2.cell_range_max(self.cell_ids[order])
    if n > 1 and np.any(range_min[1:] <= range_max[:-1]):
      bad = int(np.flatnonzero(range_min[1:] <= range_max[:-1])[0])
      tokens = s2.cell_ids_to_tokens(self.cell_ids[order[bad:bad + 2]])
      raise ValueError(f"Partition {self.name}: cells {tokens[0]} (class {order[bad]}) and "
                       f"{tokens[1]} (class {order[bad + 1]}) overlap; cells must be disjoint.")
    object.__setattr__(self, "_order", order)
    object.__setattr__(self, "_range_min", range_min)
    object.__setattr__(self, "_range_max", range_max)

  @property
  def num_classes(self) -> int:
    return len(self.cell_ids)

  @property
  def tokens(self) -> list[str]:
    return s2.cell_ids_to_tokens(self.cell_ids)

  def classify_cells(self, leaf_ids: np.ndarray) -> np.ndarray:
    """Class of each S2 leaf cell id, or -1 where no cell of the partition contains it."""
    leaf_ids = np.asarray(leaf_ids, dtype=np.uint64)
    pos = np.searchsorted(self._range_min, leaf_ids, side="right") - 1
    inside = pos >= 0
    inside[inside] = leaf_ids[inside] <= self._range_max[pos[inside]]
    return np.where(inside, self._order[np.maximum(pos, 0)], -1)

  def classify(self, latitudes, longitudes) -> np.ndarray:
    """Class of each coordinate (degrees), or -1 outside every cell. Vectorized."""
    return self.classify_cells(s2.latlng_to_cell_ids(latitudes, longitudes))

  def to_csv(self, path: str | os.PathLike, num_images: int | None = None) -> None:
    """Writes the GeoEstimation cell file, with its two leading lines."""
    frame = pd.DataFrame({
        "class_label": np.arange(self.num_classes),
        "hex_id": self.tokens,
        "imgs_per_cell": self.counts,
        "latitude_mean": self.latitudes,
        "longitude_mean": self.longitudes,
    })
    total = int(self.counts.sum()) if num_images is None else num_images
    with epath.Path(path).open("w") as f:
      f.write(f"num_images: {total}\nmin_concept_probability: ---\n")
      frame.to_csv(f, index=False, float_format="%.8f")

  @classmethod
  def from_csv(cls, path: str | os.PathLike, name: str | None = None) -> "Partition":
    """Reads a cell file, with or without GeoEstimation's two leading lines."""
    path = epath.Path(path)
    with path.open() as f:
      skip = 0
      for line in f:
        if line.startswith("class_label"):
          break
        skip += 1
        if skip > 2:
          raise ValueError(f"{path}: no header line starting with 'class_label' in the first "
                           f"3 lines; expected columns {','.join(_HEADER)}.")
    with path.open() as f:
      frame = pd.read_csv(f, skiprows=skip, dtype={"hex_id": str})
    missing = [c for c in _HEADER if c not in frame.columns]
    if missing:
      raise ValueError(f"{path}: missing column(s) {missing}; expected {','.join(_HEADER)}.")
    labels = frame["class_label"].to_numpy()
    if not np.array_equal(np.sort(labels), np.arange(len(frame))):
      raise ValueError(f"{path}: class_label must hold each of 0..{len(frame) - 1} exactly once.")
    frame = frame.iloc[np.argsort(labels)]
    try:
      cell_ids = s2.tokens_to_cell_ids(frame["hex_id"].tolist())
    except ValueError as e:
      raise ValueError(f"{path}: {e}") from e
    if name is None:
      name = path.stem
    return cls(name=name, cell_ids=cell_ids,
               counts=frame["imgs_per_cell"].to_numpy(np.int64),
               latitudes=frame["latitude_mean"].to_numpy(np.float64),
               longitudes=frame["longitude_mean"].to_numpy(np.float64))


def spherical_mean(latitudes, longitudes, groups: np.ndarray,
                   num_groups: int) -> tuple[np.ndarray, np.ndarray]:
  """Per-group mean position on the sphere, in degrees (normalised mean of unit vectors)."""
  lat = np.radians(np.asarray(latitudes, dtype=np.float64))
  lon = np.radians(np.asarray(longitudes, dtype=np.float64))
  cos_lat = np.cos(lat)
  xyz = [np.bincount(groups, weights=w, minlength=num_groups)
         for w in (cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat))]
  x, y, z = xyz
  return (np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x)))


def _split_cells(sorted_leaf_ids: np.ndarray, tau_max: int, min_level: int,
                 max_level: int) -> np.ndarray:
  """The final cell of each photo (given sorted leaf ids) after splitting cells over tau_max.

  Works level by level on the photos still in oversized cells. Parents of sorted leaf ids are
  sorted, so cells are runs of equal values and need no further sort.
  """
  final = np.zeros_like(sorted_leaf_ids)
  active = np.arange(len(sorted_leaf_ids))
  for level in range(min_level, max_level + 1):
    if active.size == 0:
      break
    cells = s2.cell_parents(sorted_leaf_ids[active], level)
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    run_sizes = np.diff(np.r_[starts, cells.size])
    split = np.repeat(run_sizes > tau_max, run_sizes) if level < max_level else np.zeros(
        cells.size, dtype=bool)
    final[active[~split]] = cells[~split]
    active = active[split]
  return final


def build_partitions(latitudes, longitudes, tau_min: int, tau_max: Sequence[int],
                     min_level: int = MIN_LEVEL,
                     max_level: int = s2.MAX_LEVEL) -> tuple[list[Partition], np.ndarray]:
  """Builds one partitioning per tau_max from photo coordinates (degrees, already validated).

  Args:
    latitudes: photo latitudes in [-90, 90].
    longitudes: photo longitudes in [-180, 180].
    tau_min: cells with this many photos or fewer are dropped.
    tau_max: one partitioning per value; cells with more photos split (down to `max_level`).
    min_level: the level every photo starts at (2 in the paper).
    max_level: the deepest level a cell may split to.

  Returns:
    The partitionings, in the order of `tau_max`, and an int array (num_photos, len(tau_max))
    with each photo's class in each, -1 where its cell was dropped.
  """
  lat = np.asarray(latitudes, dtype=np.float64)
  lon = np.asarray(longitudes, dtype=np.float64)
  if lat.shape != lon.shape or lat.ndim != 1:
    raise ValueError(f"latitudes {lat.shape} and longitudes {lon.shape} must be equal 1-D.")
  if not 0 <= min_level <= max_level <= s2.MAX_LEVEL:
    raise ValueError(f"Need 0 <= min_level ({min_level}) <= max_level ({max_level}) <= 30.")
  leaf_ids = s2.latlng_to_cell_ids(lat, lon)
  order = np.argsort(leaf_ids, kind="stable")
  sorted_leaf_ids, sorted_lat, sorted_lon = leaf_ids[order], lat[order], lon[order]
  partitions, classes = [], np.full((lat.size, len(tau_max)), -1, dtype=np.int64)
  for k, t_max in enumerate(tau_max):
    if t_max <= tau_min:
      raise ValueError(f"tau_max ({t_max}) must exceed tau_min ({tau_min}).")
    final = _split_cells(sorted_leaf_ids, t_max, min_level, max_level)
    # Final cells are disjoint ancestors of sorted leaves, hence sorted: each is one run.
    starts = np.flatnonzero(np.r_[True, final[1:] != final[:-1]])
    counts = np.diff(np.r_[starts, final.size])
    keep = counts > tau_min
    photo_classes = np.repeat(np.where(keep, np.cumsum(keep) - 1, -1), counts)
    classes[order, k] = photo_classes
    hit = photo_classes >= 0
    mean_lat, mean_lon = spherical_mean(sorted_lat[hit], sorted_lon[hit], photo_classes[hit],
                                        int(keep.sum()))
    partitions.append(Partition(partition_name(tau_min, t_max), final[starts][keep],
                                counts[keep], mean_lat, mean_lon))
  return partitions, classes


def write_assignments(path: str | os.PathLike, image_ids: np.ndarray,
                      partitions: Sequence[Partition], classes: np.ndarray) -> None:
  """Writes `IMG_ID,<partition name>...`: each photo's class per partitioning (-1: dropped)."""
  frame = pd.DataFrame({"IMG_ID": image_ids})
  for k, partition in enumerate(partitions):
    frame[partition.name] = classes[:, k]
  with epath.Path(path).open("w") as f:
    frame.to_csv(f, index=False)


def load_partitions(directory: str | os.PathLike, names: Sequence[str]) -> list[Partition]:
  """Loads `<directory>/<name>.csv` for each name, with a clear error for a missing file."""
  partitions = []
  for name in names:
    path = epath.Path(directory) / f"{name}.csv"
    if not path.exists():
      raise FileNotFoundError(f"Partition file {path} not found; build it with "
                              "`python -m jaxgeo.geo.partitions` or fix the partition names.")
    partitions.append(Partition.from_csv(path, name=name))
  return partitions


def build_partition_files(input_csv: str | os.PathLike, out_dir: str | os.PathLike,
                          tau_min: int, tau_max: Sequence[int], min_level: int = MIN_LEVEL,
                          coordinate_columns: str = "auto"
                          ) -> tuple[list[Partition], coordinate_csv.CoordinateReport]:
  """The command-line job: read coordinates, build, write cell files and assignments.

  `coordinate_columns` (see jaxgeo.geo.coordinate_csv) forces the LAT/LON order when the values
  do not settle it.
  """
  ids, lat, lon, report = coordinate_csv.read_coordinates(input_csv, coordinate_columns)
  logging.info("%s", report.summary())
  if ids.size == 0:
    raise ValueError(f"{input_csv}: no usable rows; see the report above.")
  start = time.perf_counter()
  partitions, classes = build_partitions(lat, lon, tau_min, tau_max, min_level=min_level)
  logging.info("Built %d partitioning(s) of %d photos in %.1f s.", len(partitions), ids.size,
               time.perf_counter() - start)
  out_dir = epath.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  for partition, column in zip(partitions, classes.T):
    path = out_dir / f"{partition.name}.csv"
    partition.to_csv(path, num_images=ids.size)
    logging.info("%s: %d classes, %d of %d photos kept (%d dropped in cells <= %d) -> %s",
                 partition.name, partition.num_classes, int((column >= 0).sum()), ids.size,
                 int((column < 0).sum()), tau_min, path)
  write_assignments(out_dir / "assignments.csv", ids, partitions, classes)
  return partitions, report


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m jaxgeo.geo.partitions",
      description="Build adaptive S2-cell partitionings (GeoEstimation-compatible cell files).")
  parser.add_argument("--input", required=True, help="CSV with IMG_ID,LAT,LON (MP-16 meta).")
  parser.add_argument("--tau-min", type=int, required=True, help="Drop cells with <= this many.")
  parser.add_argument("--tau-max", type=int, nargs="+", required=True,
                      help="One partitioning per value: split cells with more photos.")
  parser.add_argument("--min-level", type=int, default=MIN_LEVEL, help="Starting S2 level.")
  parser.add_argument("--out", required=True, help="Output folder.")
  parser.add_argument("--coordinate-columns", choices=coordinate_csv.COLUMN_ORDERS,
                      default="auto",
                      help="Which column holds the latitudes: decided from the values (auto), "
                           "the one named LAT (as_named), or the one named LON (swapped).")
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
  try:
    _, report = build_partition_files(args.input, args.out, args.tau_min, args.tau_max,
                                      args.min_level, args.coordinate_columns)
  except (ValueError, FileNotFoundError) as e:
    parser.exit(2, f"error: {e}\n")
  print(report.summary())
  return 0


if __name__ == "__main__":
  sys.exit(main())
