"""jaxgeo.geo.s2 against the reference, s2sphere 0.2.5: cell ids must agree bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import s2sphere

from jaxgeo.geo import s2

LEVELS = (0, 2, 10, 17, 23)
FACE_CORNER_LAT = 35.264389682754654  # atan(1 / sqrt(2)): |x| == |y| == |z|


def _ref_leaves(lat, lon) -> list[s2sphere.CellId]:
  return [s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(a, b))
          for a, b in zip(np.asarray(lat, float).tolist(), np.asarray(lon, float).tolist())]


def _ids(cells) -> np.ndarray:
  return np.array([c.id() for c in cells], dtype=np.uint64)


def _ulps(x: float, k: int) -> float:
  """x moved by k ulps (k < 0: down)."""
  for _ in range(abs(k)):
    x = math.nextafter(x, math.copysign(math.inf, k))
  return x


def _random_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Uniform on the sphere, uniform in degrees, and tight clusters like photo locations."""
  rng = np.random.default_rng(seed)
  a, b = n // 2, n // 4
  lat = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, a))), rng.uniform(-90, 90, b)])
  lon = rng.uniform(-180, 180, a + b)
  centres = rng.uniform([-60, -180], [70, 180], size=(50, 2))
  k = rng.integers(0, len(centres), n - a - b)
  scale = 10.0 ** rng.uniform(-7, 0, n - a - b)[:, None]
  cluster = np.clip(centres[k] + rng.normal(size=(n - a - b, 2)) * scale, [-90, -180], [90, 180])
  return np.concatenate([lat, cluster[:, 0]]), np.concatenate([lon, cluster[:, 1]])


def _near_edge_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Points whose two (or three) largest |x|, |y|, |z| are equal or a few ulps to 1e-8 apart."""
  rng = np.random.default_rng(seed)
  xyz = np.empty((n, 3))
  a = rng.integers(0, 3, n)
  b = (a + rng.integers(1, 3, n)) % 3
  c = 3 - a - b
  eps = np.where(rng.random(n) < 0.2, 0.0, rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-16, -8, n))
  rows = np.arange(n)
  xyz[rows, a] = rng.choice([-1.0, 1.0], n)
  xyz[rows, b] = rng.choice([-1.0, 1.0], n) * (1 + eps)
  corner = rng.random(n) < 0.25  # near a cube corner: all three alike
  xyz[rows, c] = np.where(corner, rng.choice([-1.0, 1.0], n) * (1 - np.abs(eps)),
                          rng.uniform(-0.999, 0.999, n))
  x, y, z = xyz.T
  return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))


def _cell_boundary_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Points on leaf-cell edges (so on every coarser edge too), up to the rounding of lat/lon.

  Which side they fall on is decided by the last bits of every float step: only an exact
  replica of s2sphere's arithmetic gets them all right.
  """
  rng = np.random.default_rng(seed)
  face = rng.integers(0, 6, n)
  st = rng.integers(0, (1 << 30) + 1, size=(2, n)) / (1 << 30)
  st[:, : n // 4] = np.round(st[:, : n // 4] * 64) / 64  # edges of coarse cells
  u, v = np.where(st >= 0.5, (4 * st * st - 1) / 3, (1 - 4 * (1 - st) * (1 - st)) / 3)
  one = np.ones(n)
  x = np.choose(face, [one, -u, -u, -one, v, v])
  y = np.choose(face, [u, one, -v, -v, -one, u])
  z = np.choose(face, [v, v, one, -u, -u, -one])
  return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))


def _special_points() -> tuple[np.ndarray, np.ndarray]:
  pts = [(90, 0), (-90, 0), (90, 180), (-90, -123.4), (0, 180), (0, -180), (10, 180),
         (-10, -180), (0, 179.9999999), (0, -179.9999999), (45, 0), (-45, 90), (45, 180)]
  pts += [(0, lon) for lon in (0, 45, 90, 135, -45, -135, -90, 0.0, -0.0)]
  pts += [(s * FACE_CORNER_LAT, t * lon) for s in (1, -1) for t in (1, -1) for lon in (45, 135)]
  # A hair either side of face edges and corners.
  for lat, lon in [(0, 45), (0, 135), (0, -45), (0, -135), (45, 0), (45, 90), (-45, 180),
                   (FACE_CORNER_LAT, 45), (-FACE_CORNER_LAT, -135), (90, 0), (-90, 0)]:
    for k in (-2, -1, 1, 2):
      pts += [(_ulps(lat, k), lon), (lat, _ulps(lon, k)), (_ulps(lat, k), _ulps(lon, -k))]
  # Out of range: like s2sphere, nothing is clamped or wrapped (callers validate).
  pts += [(90.000001, 10), (100, 0), (-95, 30), (10, 200), (10, -540), (1000, 1000)]
  lat, lon = np.array(pts, dtype=np.float64).T
  return lat, lon


@pytest.fixture(scope="module")
def random_points():
  lat, lon = _random_points(100_000, seed=0)
  return lat, lon, _ref_leaves(lat, lon)


def test_numpy_trig_is_bit_identical_to_math():
  # The whole module relies on this (see its docstring).
  rng = np.random.default_rng(1)
  deg = np.concatenate([rng.uniform(-180, 180, 150_000), np.arange(-180, 180.001, 0.01),
                        [0.0, -0.0, 45.0, 90.0, 135.0, 180.0, FACE_CORNER_LAT, 1e-300]])
  rad = deg * (math.pi / 180.0)
  assert rad.tobytes() == np.array([math.radians(d) for d in deg.tolist()]).tobytes()
  assert np.sin(rad).tobytes() == np.array([math.sin(r) for r in rad.tolist()]).tobytes()
  assert np.cos(rad).tobytes() == np.array([math.cos(r) for r in rad.tolist()]).tobytes()


def test_leaf_ids_match_s2sphere(random_points):
  lat, lon, ref = random_points
  np.testing.assert_array_equal(s2.latlng_to_cell_ids(lat, lon), _ids(ref))


@pytest.mark.parametrize("level", LEVELS)
def test_ids_at_levels_match_s2sphere(random_points, level):
  lat, lon, ref = random_points
  expected = _ids([c.parent(level) for c in ref])
  np.testing.assert_array_equal(s2.latlng_to_cell_ids(lat, lon, level), expected)
  np.testing.assert_array_equal(s2.cell_parents(_ids(ref), level), expected)
  np.testing.assert_array_equal(s2.cell_levels(expected), np.full(len(expected), level))


@pytest.mark.parametrize(
    "points", [_special_points(), _near_edge_points(20_000, seed=2),
               _cell_boundary_points(20_000, seed=9)],
    ids=["special", "near_face_edges", "on_cell_edges"])
def test_edge_cases_match_s2sphere_at_every_level(points):
  lat, lon = points
  ref = _ref_leaves(lat, lon)
  for level in range(s2.MAX_LEVEL + 1):
    np.testing.assert_array_equal(s2.latlng_to_cell_ids(lat, lon, level),
                                  _ids([c.parent(level) for c in ref]), err_msg=f"level {level}")


def test_ties_are_broken_like_s2sphere():
  # Lat 0, lon 45 and the face corners are exact or near ties of |x|, |y|, |z|: the faces must
  # be s2sphere's, not just any face.
  lat = np.array([0.0, 0.0, FACE_CORNER_LAT, -FACE_CORNER_LAT, 90.0, -90.0])
  lon = np.array([45.0, -135.0, 45.0, -135.0, 0.0, 0.0])
  faces = s2.latlng_to_cell_ids(lat, lon, 0) >> np.uint64(61)
  assert faces.tolist() == [c.face() for c in _ref_leaves(lat, lon)]


def _random_cells(n: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  lat, lon = _random_points(n, seed)
  leaves = s2.latlng_to_cell_ids(lat, lon)
  levels = rng.integers(0, s2.MAX_LEVEL + 1, n)
  lsb = np.left_shift(np.uint64(1), (2 * (s2.MAX_LEVEL - levels)).astype(np.uint64))
  return (leaves & ~(lsb - np.uint64(1))) | lsb


def test_levels_and_ranges_match_s2sphere():
  cells = _random_cells(20_000, seed=3)
  ref = [s2sphere.CellId(int(c)) for c in cells]
  np.testing.assert_array_equal(s2.cell_levels(cells), [c.level() for c in ref])
  np.testing.assert_array_equal(s2.cell_range_min(cells), _ids([c.range_min() for c in ref]))
  np.testing.assert_array_equal(s2.cell_range_max(cells), _ids([c.range_max() for c in ref]))
  np.testing.assert_array_equal(s2.cell_parents(cells, 0), _ids([c.parent(0) for c in ref]))
  assert s2.cell_levels(cells).dtype.kind == "i"


def test_searchsorted_finds_the_containing_cell():
  # All level-3 cells, disjoint and sorted: a leaf belongs to the last one starting before it.
  level, per_face = 3, 4**3
  pos = np.arange(6 * per_face, dtype=np.uint64)
  cells = (pos << np.uint64(61 - 2 * level)) | np.uint64(1 << (60 - 2 * level))
  lo, hi = s2.cell_range_min(cells), s2.cell_range_max(cells)
  assert (lo[1:] > hi[:-1]).all()
  lat, lon = _random_points(10_000, seed=4)
  leaves = s2.latlng_to_cell_ids(lat, lon)
  k = np.searchsorted(lo, leaves, side="right") - 1
  assert (leaves <= hi[k]).all()
  np.testing.assert_array_equal(cells[k], s2.latlng_to_cell_ids(lat, lon, level))


def test_tokens_match_s2sphere_and_round_trip():
  cells = _random_cells(5_000, seed=5)
  tokens = s2.cell_ids_to_tokens(cells)
  assert tokens == [s2sphere.CellId(int(c)).to_token() for c in cells]
  np.testing.assert_array_equal(s2.tokens_to_cell_ids(tokens), cells)
  np.testing.assert_array_equal(s2.tokens_to_cell_ids(tokens),
                                [s2sphere.CellId.from_token(t).id() for t in tokens])
  assert s2.cell_ids_to_tokens([0, 1 << 61]) == ["X", "2"]
  assert s2.tokens_to_cell_ids(["X", "89C"]).tolist() == [0, 0x89C << 52]
  assert s2.tokens_to_cell_ids([]).dtype == np.uint64


@pytest.mark.parametrize("token", ["", "0x1", "89c2g", "12345678901234567", " 89c", "+1", "ff",
                                   "8", "c", "1_0"])
def test_invalid_tokens_raise(token):
  with pytest.raises(ValueError, match=repr(token).replace("+", r"\+")):
    s2.tokens_to_cell_ids(["89c", token])


def _lon_diff(a, b):
  return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def test_centres_match_s2sphere():
  cells = _random_cells(5_000, seed=6)
  lat, lon = s2.cell_ids_to_latlng(cells)
  ref = [s2sphere.CellId(int(c)).to_lat_lng() for c in cells]
  np.testing.assert_allclose(lat, [r.lat().degrees for r in ref], rtol=0, atol=1e-12)
  np.testing.assert_array_less(_lon_diff(lon, [r.lng().degrees for r in ref]), 1e-12)
  # Face cells include centres on the +-180 meridian, where the sign of zero decides.
  faces = np.array([((f << 61) | (1 << 60)) for f in range(6)], dtype=np.uint64)
  ref_faces = [s2sphere.CellId(int(c)).to_lat_lng() for c in faces]
  assert s2.cell_ids_to_latlng(faces)[1].tolist() == [r.lng().degrees for r in ref_faces]


def test_centres_map_back_to_their_cells():
  cells = _random_cells(20_000, seed=7)
  lat, lon = s2.cell_ids_to_latlng(cells)
  for level in (0, 5, 12, 20, 30):
    sel = s2.cell_levels(cells) == level
    np.testing.assert_array_equal(s2.latlng_to_cell_ids(lat[sel], lon[sel], level), cells[sel])


def test_vertices_match_s2sphere():
  cells = np.concatenate([_random_cells(3_000, seed=8),
                          np.array([(f << 61) | (1 << 60) for f in range(6)], dtype=np.uint64)])
  verts = s2.cell_vertices_latlng(cells)
  assert verts.shape == (len(cells), 4, 2)
  ref = np.array([[[ll.lat().degrees, ll.lng().degrees]
                   for ll in (s2sphere.LatLng.from_point(cell.get_vertex(k)) for k in range(4))]
                  for cell in (s2sphere.Cell(s2sphere.CellId(int(c))) for c in cells)])
  np.testing.assert_allclose(verts[..., 0], ref[..., 0], rtol=0, atol=1e-9)
  off_pole = np.abs(ref[..., 0]) < 90 - 1e-9  # longitude is arbitrary at a pole
  np.testing.assert_array_less(_lon_diff(verts[..., 1], ref[..., 1])[off_pole], 1e-9)


def test_shapes_scalars_and_broadcasting():
  leaf = s2.latlng_to_cell_ids(48.8566, 2.3522)
  assert leaf.shape == () and leaf.dtype == np.uint64
  assert int(leaf) == _ids(_ref_leaves([48.8566], [2.3522]))[0]
  grid = s2.latlng_to_cell_ids([[10.0], [20.0]], [1.0, 2.0, 3.0], level=12)
  assert grid.shape == (2, 3)
  np.testing.assert_array_equal(grid[1], s2.latlng_to_cell_ids([20.0] * 3, [1.0, 2.0, 3.0], 12))
  assert s2.latlng_to_cell_ids([], []).shape == (0,)


def test_errors():
  with pytest.raises(ValueError):
    s2.latlng_to_cell_ids(0.0, 0.0, level=31)
  with pytest.raises(ValueError):
    s2.latlng_to_cell_ids(0.0, 0.0, level=-1)
  with pytest.raises(ValueError):
    s2.latlng_to_cell_ids([0.0, np.nan], [0.0, 0.0])
  with pytest.raises(ValueError):
    s2.latlng_to_cell_ids(np.inf, 0.0)
  coarse = s2.latlng_to_cell_ids(0.0, 0.0, level=5)
  with pytest.raises(ValueError, match="coarser"):
    s2.cell_parents(coarse, 6)
  assert s2.cell_parents(coarse, 5) == coarse
  for bad in (0, 7 << 61 | 1, 2, 1 << 63):  # none, face 7, lsb at an odd bit, lsb past face
    with pytest.raises(ValueError, match="invalid S2 cell id"):
      s2.cell_levels(np.array([bad], dtype=np.uint64))
  with pytest.raises(ValueError):
    s2.cell_range_min([-1])
  with pytest.raises(TypeError):
    s2.tokens_to_cell_ids("89c")
