"""Adaptive S2 partitionings on hand-worked examples, file formats and the command line."""

import os

import numpy as np
import pytest
import s2sphere

from jaxgeo.geo import coordinate_csv
from jaxgeo.geo import partitions as partitions_lib
from jaxgeo.geo import s2


def _s2sphere_cell(lat, lon, level):
  return s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(lat, lon)).parent(level)


def _centre(cell):
  ll = cell.to_lat_lng()
  return ll.lat().degrees, ll.lng().degrees


def _spherical_mean(lats, lons):
  lat, lon = np.radians(lats), np.radians(lons)
  v = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]).sum(1)
  return np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1]))), np.degrees(np.arctan2(v[1], v[0]))


@pytest.fixture(scope="module")
def hand_worked():
  """Paris: 4 photos in two level-3 children of one level-2 cell (2 each). Tokyo: 2 photos in
  one level-2 cell. Sydney: 1 photo. With tau_min=1, tau_max=3: Paris splits once into two
  level-3 cells, Tokyo stays at level 2, Sydney is dropped."""
  paris2 = _s2sphere_cell(48.8566, 2.3522, 2)
  child_a, child_b = list(paris2.children())[:2]
  photos = []
  for child in (child_a, child_b):
    lat, lon = _centre(child)
    photos += [(lat + 0.1, lon - 0.2), (lat - 0.1, lon + 0.3)]
  photos += [(35.68, 139.69), (35.60, 139.80)]  # Tokyo
  photos += [(-33.87, 151.21)]  # Sydney
  lat, lon = np.array(photos).T
  expected_tokens = [child_a.to_token(), child_b.to_token(),
                     _s2sphere_cell(35.68, 139.69, 2).to_token()]
  return lat, lon, expected_tokens


def test_hand_worked_partition(hand_worked):
  lat, lon, expected_tokens = hand_worked
  (part,), classes = partitions_lib.build_partitions(lat, lon, tau_min=1, tau_max=[3])
  assert sorted(part.tokens) == sorted(expected_tokens)
  assert part.name == "cells_1_3"
  # Labels follow the S2 id order.
  assert np.all(np.diff(part.cell_ids.astype(np.float64)) > 0)
  by_token = dict(zip(part.tokens, range(part.num_classes)))
  groups = {expected_tokens[0]: [0, 1], expected_tokens[1]: [2, 3], expected_tokens[2]: [4, 5]}
  for token, members in groups.items():
    label = by_token[token]
    assert part.counts[label] == 2
    np.testing.assert_array_equal(classes[members, 0], [label, label])
    want_lat, want_lon = _spherical_mean(lat[members], lon[members])
    assert part.latitudes[label] == pytest.approx(want_lat, abs=1e-9)
    assert part.longitudes[label] == pytest.approx(want_lon, abs=1e-9)
  assert classes[6, 0] == -1  # Sydney: its cell held 1 photo <= tau_min.


def test_several_tau_max_in_one_call(hand_worked):
  lat, lon, expected_tokens = hand_worked
  coarse, fine = partitions_lib.build_partitions(lat, lon, tau_min=1, tau_max=[10, 3])[0]
  # tau_max=10: nothing splits; Paris and Tokyo stay level-2 cells.
  assert sorted(coarse.tokens) == sorted([_s2sphere_cell(48.8566, 2.3522, 2).to_token(),
                                          expected_tokens[2]])
  assert sorted(coarse.counts.tolist()) == [2, 4]
  assert fine.num_classes == 3


def test_tau_max_splits_until_level_30():
  # 5 photos at the very same spot can never be split below tau_max=2: they end at level 30.
  lat = np.full(5, 12.345678)
  lon = np.full(5, -98.7654321)
  (part,), classes = partitions_lib.build_partitions(lat, lon, tau_min=1, tau_max=[2])
  assert part.tokens == [_s2sphere_cell(12.345678, -98.7654321, 30).to_token()]
  assert part.counts.tolist() == [5]
  np.testing.assert_array_equal(classes[:, 0], 0)


def test_counts_and_levels_on_random_clusters():
  rng = np.random.default_rng(0)
  centres = rng.uniform([-60, -180], [70, 180], size=(20, 2))
  idx = rng.integers(0, 20, 20_000)
  lat = np.clip(centres[idx, 0] + rng.normal(0, 2, idx.size), -90, 90)
  lon = (centres[idx, 1] + rng.normal(0, 2, idx.size) + 180) % 360 - 180
  parts, classes = partitions_lib.build_partitions(lat, lon, tau_min=20, tau_max=[2000, 300])
  for part, column in zip(parts, classes.T):
    assert np.all(part.counts > 20)
    # A cell over tau_max may only remain at level 30.
    assert np.all((part.counts <= int(part.name.split("_")[-1]))
                  | (s2.cell_levels(part.cell_ids) == 30))
    # Every photo's class is the cell containing it (checked with s2sphere on a sample).
    np.testing.assert_array_equal(np.bincount(column[column >= 0], minlength=part.num_classes),
                                  part.counts)
    for i in rng.choice(np.flatnonzero(column >= 0), 200, replace=False):
      cell = s2sphere.CellId.from_token(part.tokens[column[i]])
      assert cell.contains(_s2sphere_cell(lat[i], lon[i], 30))
    # classify() of the training photos gives back their classes.
    np.testing.assert_array_equal(part.classify(lat, lon)[column >= 0], column[column >= 0])
    # Parent cells of a split are never kept next to their children: cells are disjoint.
    assert part.num_classes == len(set(part.tokens))
  assert parts[1].num_classes > parts[0].num_classes


def test_antimeridian_mean_stays_on_its_side():
  # A face-level cell (min_level 0) holding photos on both sides of the antimeridian.
  lat = np.array([10.0, 10.0, -5.0, -5.0])
  lon = np.array([179.9, -179.9, 179.8, -179.8])
  (part,), _ = partitions_lib.build_partitions(lat, lon, tau_min=1, tau_max=[10], min_level=0)
  assert part.num_classes == 1
  assert abs(part.longitudes[0]) == pytest.approx(180.0, abs=1e-6)
  assert part.latitudes[0] == pytest.approx(2.5, abs=0.01)
  # The plain mean GeoEstimation takes would be lon 0, 20,000 km away.
  assert np.mean(lon) == pytest.approx(0.0)


def test_classify_outside_every_cell_is_minus_one(hand_worked):
  lat, lon, _ = hand_worked
  (part,), _ = partitions_lib.build_partitions(lat, lon, tau_min=1, tau_max=[3])
  got = part.classify([-33.87, 35.65, 0.0], [151.21, 139.7, -30.0])
  assert got[0] == -1 and got[2] == -1
  assert part.tokens[got[1]] == _s2sphere_cell(35.65, 139.7, 2).to_token()


def test_csv_round_trip_with_and_without_leading_lines(tmp_path, hand_worked):
  lat, lon, _ = hand_worked
  (part,), _ = partitions_lib.build_partitions(lat, lon, tau_min=1, tau_max=[3])
  path = tmp_path / "cells_1_3.csv"
  part.to_csv(path, num_images=7)
  lines = path.read_text().splitlines()
  assert lines[:3] == ["num_images: 7", "min_concept_probability: ---",
                       "class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean"]
  loaded = partitions_lib.Partition.from_csv(path)
  assert loaded.name == "cells_1_3"
  assert loaded.tokens == part.tokens
  np.testing.assert_array_equal(loaded.counts, part.counts)
  np.testing.assert_allclose(loaded.latitudes, part.latitudes, atol=1e-8)
  # Without the two lines, and with rows in another order, as other tools write them.
  bare = tmp_path / "bare.csv"
  bare.write_text("\n".join([lines[2]] + lines[3:][::-1]) + "\n")
  loaded = partitions_lib.Partition.from_csv(bare)
  assert loaded.tokens == part.tokens


def test_csv_errors_name_the_problem(tmp_path):
  path = tmp_path / "bad.csv"
  path.write_text("class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean\n"
                  "0,47a1,10,1.0,2.0\n2,47a3,10,1.0,2.0\n")
  with pytest.raises(ValueError, match="class_label must hold each of 0..1"):
    partitions_lib.Partition.from_csv(path)
  path.write_text("class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean\n"
                  "0,47,10,1.0,2.0\n1,4704,10,1.0,2.0\n")
  with pytest.raises(ValueError, match="overlap"):
    partitions_lib.Partition.from_csv(path)
  path.write_text("class_label,hex_id,count\n0,47a1,10\n")
  with pytest.raises(ValueError, match="missing column"):
    partitions_lib.Partition.from_csv(path)


def test_read_coordinates_skips_and_counts_bad_rows(tmp_path):
  # One value beyond 90 in each column (91.0, 151.2): the values cannot say which holds the
  # latitudes (tests/geo/test_coordinate_csv.py), so this file's order is given.
  path = tmp_path / "meta.csv"
  path.write_text(
      "IMG_ID,AUTHOR,LAT,LON,S3_Label\n"
      "a/b/1.jpg,x,48.85,2.35,1\n"
      "a/b/2.jpg,x,,2.35,1\n"          # missing LAT
      "a/b/3.jpg,x,91.0,2.35,1\n"      # out of range
      "a/b/4.jpg,x,10.0,-181,1\n"      # out of range
      "a/b/5.jpg,x,north,2.35,1\n"     # not a number
      "a/b/1.jpg,x,48.85,2.35,1\n"     # duplicate id
      "a/b/6.jpg,x,-33.9,151.2,1\n")
  ids, lat, lon, report = coordinate_csv.read_coordinates(path, coordinate_columns="as_named")
  assert ids.tolist() == ["a/b/1.jpg", "a/b/6.jpg"]
  np.testing.assert_allclose(lat, [48.85, -33.9])
  assert report.num_rows == 7 and report.num_kept == 2
  assert report.skipped == {"missing_coordinates": 2, "bad_coordinates": 2, "duplicate_id": 1}
  assert report.examples["missing_coordinates"] == [2, 5]
  assert report.examples["bad_coordinates"] == [3, 4]
  assert report.examples["duplicate_id"] == [6]
  assert ("skipped 2 row(s): latitude outside [-90, 90] or longitude outside [-180, 180] "
          "(bad_coordinates; e.g. data rows 3, 4)") in report.summary()


def test_command_line(tmp_path, capsys):
  rng = np.random.default_rng(3)
  n = 3000
  # Paris and Tokyo: Tokyo's longitudes (139.7) show which column holds the longitudes.
  lat = np.r_[rng.normal(48.8, 0.5, n // 2), rng.normal(35.7, 0.5, n // 2)]
  lon = np.r_[rng.normal(2.3, 0.5, n // 2), rng.normal(139.7, 0.5, n // 2)]
  rows = [f"img{i}.jpg,{a:.6f},{b:.6f}" for i, (a, b) in enumerate(zip(lat, lon))]
  rows.append("bad.jpg,,")
  (tmp_path / "meta.csv").write_text("IMG_ID,LAT,LON\n" + "\n".join(rows) + "\n")
  out = tmp_path / "out"
  code = partitions_lib.main(["--input", str(tmp_path / "meta.csv"), "--tau-min", "20",
                              "--tau-max", "1000", "200", "--out", str(out)])
  assert code == 0
  assert sorted(os.listdir(out)) == ["assignments.csv", "cells_20_1000.csv", "cells_20_200.csv"]
  printed = capsys.readouterr().out
  assert "skipped 1 row(s): missing or non-numeric latitude/longitude" in printed
  assert "coordinate columns: latitude = LAT, longitude = LON" in printed
  coarse = partitions_lib.Partition.from_csv(out / "cells_20_1000.csv")
  fine = partitions_lib.Partition.from_csv(out / "cells_20_200.csv")
  assert coarse.num_classes < fine.num_classes
  header, *body = (out / "assignments.csv").read_text().splitlines()
  assert header == "IMG_ID,cells_20_1000,cells_20_200"
  assert len(body) == n
  first = body[0].split(",")
  assert int(first[2]) == fine.classify([lat[0]], [lon[0]])[0]


def test_command_line_reports_missing_columns(tmp_path, capsys):
  (tmp_path / "meta.csv").write_text("ID,LAT,LON\n1,2,3\n")
  with pytest.raises(SystemExit) as e:
    partitions_lib.main(["--input", str(tmp_path / "meta.csv"), "--tau-min", "1", "--tau-max",
                         "5", "--out", str(tmp_path / "o")])
  assert e.value.code == 2
  assert "missing column(s) ['IMG_ID']" in capsys.readouterr().err
