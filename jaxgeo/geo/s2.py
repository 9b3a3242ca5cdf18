"""Vectorized S2 cell ids in NumPy, bit for bit identical to s2sphere 0.2.5.

S2 projects the sphere onto the six faces of a cube, warps each face with a quadratic map so that
cells have similar areas, and numbers the cells of a face along a Hilbert curve. A cell id is a
uint64: 3 bits of face, 2 bits per level of Hilbert position, then a 1 bit marking the level.
Adaptive S2 partitionings (Muller-Budack et al. 2018) need the cells of millions of photo
coordinates; s2sphere converts ~0.1M points/s in pure Python, this module >10M/s on one core.

`latlng_to_cell_ids` returns exactly s2sphere's `CellId.from_lat_lng(LatLng.from_degrees(lat,
lon)).parent(level).id()`, on face edges, at ties and on cell boundaries too, because it performs
the same IEEE double operations (or provably exact rewrites of them) in the same order. That
needs `np.sin`/`np.cos` to return the same doubles as `math.sin`/`math.cos`: NumPy 2.4 calls the
C library for float64 sin/cos (its SIMD version was disabled in numpy PR #23925), as does Python.
tests/geo/test_s2.py checks this, since a future NumPy may vectorise them again. Cell centres and
corners agree with s2sphere to ~3e-14 degrees (`np.arctan2` can be one ulp off `math.atan2`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np

MAX_LEVEL = 30
_MAX_SIZE = 1 << MAX_LEVEL  # leaf cells along one edge of a face
_NUM_FACES = 6
_SWAP, _INVERT = 1, 2  # Hilbert orientation bits: transpose i/j, reverse direction
_CHUNK = 6  # bits of i and of j per table lookup: 5 lookups cover 30 levels exactly
_BLOCK = 1 << 15  # points per block, so that the ~30 temporaries stay in the L2 cache
_DEG2RAD = math.pi / 180.0  # math.radians(x) is exactly x * (pi / 180)
_RAD2DEG = 180.0 / math.pi  # math.degrees(x) is exactly x * (180 / pi)
_TOKEN_RE = re.compile(r"[0-9a-fA-F]{1,16}")


def _build_hilbert_tables() -> tuple[np.ndarray, np.ndarray]:
  """Tables for 6 levels of the S2 Hilbert curve, from the curve's recursive definition.

  In the canonical orientation a cell's four children are visited in the order
  (i, j) = (0,0), (0,1), (1,1), (1,0); orientation bit SWAP transposes i and j, INVERT flips both.
  The first child's curve is transposed, the last one's is transposed and reversed.

  Returns:
    ij_to_pos: index (i6 << 8 | j6 << 2 | orientation) -> (pos12 << 2 | orientation after).
    pos_to_ij: index (pos12 << 2 | orientation) -> (i6 << 8 | j6 << 2 | orientation after).
  """
  child_orientation = np.array([_SWAP, 0, 0, _SWAP | _INVERT])
  idx = np.arange(1 << (2 * _CHUNK + 2))
  i6, j6, orient = idx >> (_CHUNK + 2), (idx >> 2) & ((1 << _CHUNK) - 1), idx & 3
  pos = np.zeros_like(idx)
  for bit in range(_CHUNK - 1, -1, -1):
    ij = (((i6 >> bit) & 1) << 1) | ((j6 >> bit) & 1)
    ij = np.where(orient & _INVERT, ij ^ 3, ij)
    ij = np.where(orient & _SWAP, ((ij & 1) << 1) | (ij >> 1), ij)
    child = ij ^ (ij >> 1)  # canonical visiting order of ij = 0, 1, 3, 2 is the Gray code
    pos = (pos << 2) | child
    orient = orient ^ child_orientation[child]
  ij_to_pos = (pos << 2) | orient
  pos_to_ij = np.empty_like(ij_to_pos)
  pos_to_ij[(pos << 2) | (idx & 3)] = (idx & ~3) | orient
  return ij_to_pos.astype(np.intp), pos_to_ij.astype(np.intp)


_IJ_TO_POS, _POS_TO_IJ = _build_hilbert_tables()


def _check_level(level: int) -> int:
  if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not (
      0 <= level <= MAX_LEVEL):
    raise ValueError(f"level must be an int in [0, {MAX_LEVEL}], got {level!r}")
  return int(level)


def _lsb_for_level(level: int) -> np.uint64:
  return np.uint64(1 << (2 * (MAX_LEVEL - level)))


# Per lookup round r, _IJ_TO_POS with the 12 position bits moved to where they end up in the id
# (shifted left by one more, bits 0-1 keep the orientation), so that rounds just OR together.
_ROUND_TABLES = tuple(
    ((_IJ_TO_POS >> 2) << (2 + 2 * _CHUNK * (MAX_LEVEL // _CHUNK - 1 - r))) | (_IJ_TO_POS & 3)
    for r in range(MAX_LEVEL // _CHUNK))
_SIGN_BIT = np.int64(-(1 << 63))


def _face_uv_block(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Face and (u, v) of points, with s2sphere's float operations in s2sphere's order.

  Selections are done on the int64 bit patterns with masks, which is exact and several times
  faster than np.where on unpredictable conditions (random faces defeat branch prediction).
  """
  phi = lat * _DEG2RAD
  theta = lon * _DEG2RAD
  cos_phi = np.cos(phi)
  x = np.cos(theta)
  x *= cos_phi
  y = np.sin(theta)
  y *= cos_phi
  z = np.sin(phi)
  ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
  # Point.largest_abs_component, ties included: x only if strictly largest, else y if strictly
  # larger than z, else z. b - a < 0 exactly when a > b, so the sign bit of b - a, spread by an
  # arithmetic shift, is an all-ones mask for a > b.
  x_gt_y = (ay - ax).view(np.int64) >> 63
  is_x = (az - ax).view(np.int64) >> 63
  is_x &= x_gt_y
  is_y = (az - ay).view(np.int64) >> 63
  is_y &= ~x_gt_y
  is_z = ~(is_x | is_y)
  xb, yb, zb = x.view(np.int64), y.view(np.int64), z.view(np.int64)
  den = zb ^ ((zb ^ xb) & is_x) ^ ((zb ^ yb) & is_y)
  neg = den >> 63  # the point is on the far face of its axis (faces 3-5)
  face = (is_y & 1) | (is_z & 2)
  face += neg & 3
  # valid_face_xyz_to_uv: faces 0-2 give (u, v) = (p, q) / den, faces 3-5 swap them, with
  # p = y on face 0 else -x, and q = -y on face 2 else z. Flipping the sign bit is exact negation.
  neg_x = xb ^ _SIGN_BIT
  p = neg_x ^ ((neg_x ^ yb) & is_x)
  neg_y = yb ^ _SIGN_BIT
  q = zb ^ ((zb ^ neg_y) & is_z)
  swap = (p ^ q) & neg
  p ^= swap
  q ^= swap
  u, v, d = p.view(np.float64), q.view(np.float64), den.view(np.float64)
  u /= d  # a true division: multiplying by 1/den would round differently
  v /= d
  return face, u, v


def _uv_to_ij(u: np.ndarray) -> np.ndarray:
  """CellId.st_to_ij(CellId.uv_to_st(u)) for the quadratic projection, in place on u.

  s2sphere computes s = 0.5 sqrt(1 + 3u) for u >= 0, else 1 - 0.5 sqrt(1 - 3u), then
  floor(2^30 s). With h = 2^29 sqrt(1 + 3|u|) (exact scaling) that is h, or 2^30 - h rounded
  once; 2^29 +- (h - 2^29) gives both, as h - 2^29 is exact (Sterbenz) and both branches agree
  at u = +-0.
  """
  half = float(_MAX_SIZE // 2)
  t = np.abs(u)
  t *= 3.0
  t += 1.0
  np.sqrt(t, out=t)
  t *= half
  t -= half
  np.copysign(t, u, out=t)
  t += half
  # s is in [0, 1], so truncation is floor; only s == 1 needs the clamp.
  np.minimum(t, _MAX_SIZE - 1, out=t)
  return t.astype(np.int64)


def _encode_block(lat: np.ndarray, lon: np.ndarray, level: int, out: np.ndarray) -> None:
  face, u, v = _face_uv_block(lat, lon)
  i8 = _uv_to_ij(u)
  i8 <<= _CHUNK + 2
  j2 = _uv_to_ij(v)
  j2 <<= 2
  acc = np.zeros_like(face)  # position << 2, with orientation junk in bits 0-1
  o = face & _SWAP  # each face starts in orientation face & SWAP
  idx = np.empty_like(face)
  tmp = np.empty_like(face)
  mask = (1 << _CHUNK) - 1
  for r in range(-(-level // _CHUNK)):  # levels finer than `level` are masked off: skip them
    shift = _CHUNK * (MAX_LEVEL // _CHUNK - 1 - r)
    np.right_shift(i8, shift, out=idx)
    idx &= mask << (_CHUNK + 2)
    np.right_shift(j2, shift, out=tmp)
    tmp &= mask << 2
    idx |= tmp
    idx |= o
    val = np.take(_ROUND_TABLES[r], idx)
    acc |= val
    np.bitwise_and(val, 3, out=o)
  ids = acc.view(np.uint64)
  ids >>= np.uint64(1)
  ids |= face.view(np.uint64) << np.uint64(61)
  lsb = _lsb_for_level(level)
  ids &= ~(lsb - np.uint64(1))  # clears the orientation junk too
  ids |= lsb
  out[...] = ids


def latlng_to_cell_ids(lat_deg, lon_deg, level: int = MAX_LEVEL) -> np.ndarray:
  """S2 cell ids of points, as s2sphere's `CellId.from_lat_lng(...).parent(level)`.

  Args:
    lat_deg: Latitudes in degrees (array-like or scalar). Like s2sphere, nothing is clamped or
      wrapped: callers validate the ranges.
    lon_deg: Longitudes in degrees, broadcast against `lat_deg`.
    level: Cell level in [0, 30]; 30 gives leaf cells.

  Returns:
    np.uint64 array of the broadcast shape of the inputs.

  Raises:
    ValueError: If `level` is out of range or a coordinate is not finite (s2sphere raises too).
  """
  level = _check_level(level)
  lat, lon = np.broadcast_arrays(np.asarray(lat_deg, dtype=np.float64),
                                 np.asarray(lon_deg, dtype=np.float64))
  shape = lat.shape
  lat, lon = np.ravel(lat), np.ravel(lon)
  if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
    raise ValueError("latitudes and longitudes must be finite")
  out = np.empty(lat.size, dtype=np.uint64)
  for start in range(0, lat.size, _BLOCK):  # blocks of points, not a loop over points
    stop = start + _BLOCK
    _encode_block(lat[start:stop], lon[start:stop], level, out[start:stop])
  return out.reshape(shape)


def _valid_ids(cell_ids) -> np.ndarray:
  """Cell ids as a uint64 array, raising ValueError unless every one is a valid S2 cell."""
  ids = np.asarray(cell_ids)
  if ids.dtype.kind == "i":
    if (ids < 0).any():
      raise ValueError("S2 cell ids must be non-negative")
  elif ids.dtype.kind not in "uO" and ids.size:
    raise ValueError(f"S2 cell ids must be integers, got dtype {ids.dtype}")
  ids = ids.astype(np.uint64, copy=False)
  valid = _is_valid(ids)
  if not valid.all():
    raise ValueError(f"invalid S2 cell id {int(ids[~valid].flat[0]):#018x}")
  return ids


def _lsb(ids: np.ndarray) -> np.ndarray:
  return ids & (~ids + np.uint64(1))  # lowest set bit; ~x + 1 is -x in two's complement


def _is_valid(ids: np.ndarray) -> np.ndarray:
  # As CellId.is_valid: a face in 0..5 and the level-marking 1 bit at an even position.
  return ((ids >> np.uint64(61)) < _NUM_FACES) & ((_lsb(ids) & np.uint64(0x1555555555555555)) != 0)


def cell_levels(cell_ids) -> np.ndarray:
  """Levels (0 = face, 30 = leaf) of S2 cell ids, as an int array."""
  ids = _valid_ids(cell_ids)
  trailing_zeros = np.bitwise_count(_lsb(ids) - np.uint64(1)).astype(np.intp)
  return MAX_LEVEL - (trailing_zeros >> 1)


def cell_parents(cell_ids, level: int) -> np.ndarray:
  """Ancestors at `level` of S2 cells (a cell is its own ancestor at its own level).

  Raises:
    ValueError: If a cell id is invalid or a cell is coarser than `level`.
  """
  level = _check_level(level)
  ids = _valid_ids(cell_ids)
  lsb = _lsb_for_level(level)
  if (_lsb(ids) > lsb).any():
    raise ValueError(f"cannot take the level-{level} parent of a coarser cell")
  return (ids & ~(lsb - np.uint64(1))) | lsb


def cell_range_min(cell_ids) -> np.ndarray:
  """Smallest leaf cell id inside each cell (s2sphere `CellId.range_min`)."""
  ids = _valid_ids(cell_ids)
  return ids - (_lsb(ids) - np.uint64(1))


def cell_range_max(cell_ids) -> np.ndarray:
  """Largest leaf cell id inside each cell (s2sphere `CellId.range_max`)."""
  ids = _valid_ids(cell_ids)
  return ids + (_lsb(ids) - np.uint64(1))


def cell_ids_to_tokens(cell_ids) -> list[str]:
  """S2 tokens: 16 hex digits with trailing zeros stripped; id 0 is "X" as in the C++ library."""
  ids = np.asarray(cell_ids).astype(np.uint64).ravel()
  return [format(c, "016x").rstrip("0") or "X" for c in ids.tolist()]


def tokens_to_cell_ids(tokens: Iterable[str]) -> np.ndarray:
  """Cell ids of S2 tokens (inverse of `cell_ids_to_tokens`), as a uint64 array.

  Raises:
    ValueError: Naming the first token that is neither "X" nor 1-16 hex digits of a valid cell.
  """
  if isinstance(tokens, str):
    raise TypeError("tokens_to_cell_ids takes a sequence of tokens, not one string")
  tokens = list(tokens)
  ids = np.zeros(len(tokens), dtype=np.uint64)
  for k, token in enumerate(tokens):  # parsing strings is per-token work anyway
    if token == "X":
      continue
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
      raise ValueError(f"invalid S2 token {token!r}")
    ids[k] = int(token.ljust(16, "0"), 16)
  bad = (ids != 0) & ~_is_valid(ids)
  if bad.any():
    raise ValueError(f"invalid S2 token {tokens[int(np.argmax(bad))]!r}: not a valid cell id")
  return ids


def _face_ij_of_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Face and (i, j) of the leaf at each id's Hilbert position, as s2sphere decodes them."""
  face = (ids >> np.uint64(61)).astype(np.intp)
  i = np.zeros(ids.shape, np.intp)
  j = np.zeros(ids.shape, np.intp)
  o = face & _SWAP
  for r in range(MAX_LEVEL // _CHUNK):
    shift = np.uint64(1 + 2 * _CHUNK * (MAX_LEVEL // _CHUNK - 1 - r))
    idx = ((ids >> shift) & np.uint64((1 << 2 * _CHUNK) - 1)).astype(np.intp)
    val = np.take(_POS_TO_IJ, (idx << 2) | o)
    i = (i << _CHUNK) | (val >> (_CHUNK + 2))
    j = (j << _CHUNK) | ((val >> 2) & ((1 << _CHUNK) - 1))
    o = val & 3
  return face, i, j


def _st_to_uv(s: np.ndarray) -> np.ndarray:
  # Written as in s2sphere (same operation order) so that the doubles agree.
  return np.where(s >= 0.5, (1.0 / 3.0) * (4 * s * s - 1),
                  (1.0 / 3.0) * (1 - 4 * (1 - s) * (1 - s)))


def _uv_to_latlng(face: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
  """face_uv_to_xyz then LatLng.from_point, in degrees; -0.0 kept so +-180 agree too."""
  one = np.ones_like(u)
  x = np.choose(face, [one, -u, -u, -one, v, v])
  y = np.choose(face, [u, one, -v, -v, -one, u])
  z = np.choose(face, [v, v, one, -u, -u, -one])
  lat = np.arctan2(z, np.sqrt(x * x + y * y)) * _RAD2DEG
  lon = np.arctan2(y, x) * _RAD2DEG
  return lat, lon


def cell_ids_to_latlng(cell_ids) -> tuple[np.ndarray, np.ndarray]:
  """Cell centres (lat, lon) in degrees, as s2sphere's `CellId(id).to_lat_lng()`.

  Agrees with s2sphere to ~3e-14 degrees (most bit for bit): all steps are the same doubles but
  the final `np.arctan2`, which may differ from `math.atan2` by one ulp.
  """
  ids = _valid_ids(cell_ids)
  face, i, j = _face_ij_of_ids(ids)
  leaf = (ids & np.uint64(1)) != 0
  # CellId.get_center_si_ti: the decoded (i, j) is a corner leaf of the cell; step to the centre.
  odd = ((i ^ (ids >> np.uint64(2)).astype(np.intp)) & 1) != 0
  delta = np.where(leaf, 1, np.where(odd, 2, 0))
  u = _st_to_uv((0.5 / _MAX_SIZE) * (2 * i + delta))
  v = _st_to_uv((0.5 / _MAX_SIZE) * (2 * j + delta))
  return _uv_to_latlng(face, u, v)


def cell_vertices_latlng(cell_ids) -> np.ndarray:
  """Corners of cells, shape (N, 4, 2) of (lat, lon) degrees, as s2sphere `Cell.get_vertex(k)`.

  Corners are counter-clockwise from (u_lo, v_lo), i.e. k = 0..3 of s2sphere.
  """
  ids = _valid_ids(cell_ids).ravel()
  face, i, j = _face_ij_of_ids(ids)
  size = np.left_shift(1, MAX_LEVEL - cell_levels(ids))  # cell edge, in leaf cells
  i_lo, j_lo = i & -size, j & -size
  u_lo, u_hi = _st_to_uv((1.0 / _MAX_SIZE) * i_lo), _st_to_uv((1.0 / _MAX_SIZE) * (i_lo + size))
  v_lo, v_hi = _st_to_uv((1.0 / _MAX_SIZE) * j_lo), _st_to_uv((1.0 / _MAX_SIZE) * (j_lo + size))
  u = np.stack([u_lo, u_hi, u_hi, u_lo], axis=1)
  v = np.stack([v_lo, v_lo, v_hi, v_hi], axis=1)
  lat, lon = _uv_to_latlng(np.broadcast_to(face[:, None], u.shape), u, v)
  return np.stack([lat, lon], axis=-1)
