"""Faces in a photo, found by MTCNN's cascade (jaxgeo/models/mtcnn.py), tuned to miss few.

A face decides that a photo gets only a coarse answer (demo/privacy.py, the batch CLI's XMP
rule), so a missed face costs more than a needless coarse answer: the thresholds below were set
from the recall and false positives measured on real photos (`benchmarks/face_check.py`; the
figures are in docs/demo.md).

The photo is searched at up to `MAX_SIDE` px on its longer side (a 12-megapixel phone photo of
4032 px at about half size), for faces from `MIN_FACE` px there, the P-Net window itself: faces
from 24 px in a full-size phone photo, from 12 px in photos up to 2,048 px. Smaller ones are not
searched for: each pyramid step down (x0.709) would double P-Net's time, most of the check's.
The same detector gives the data sets' face-area ratio (DeepLocation's portrait filter).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from PIL import Image

from jaxgeo.models import mtcnn

# DeepLocation's threshold for "portrait" photos.
PORTRAIT_FACE_RATIO = 0.035
MAX_SIDE = 2048
MIN_FACE = 12
PYRAMID_STEP = 0.709  # MTCNN's: each level's area is half the previous one's
# P(face) each stage keeps. P-Net's and R-Net's are below MTCNN's published 0.6 / 0.7, for
# recall. O-Net's decides: on the labelled photos every one with people was flagged from 0.6 to
# 0.95 at full size, and 16 of 17 up to 0.9 with their faces shrunk to 24 px in a phone photo
# (15 at 0.95); photos without people were flagged 10, 4 and 2 times in 56 at 0.7, 0.8 and 0.9.
# 0.8 keeps a margin below the first misses for faces harder than these.
THRESHOLDS = (0.5, 0.6, 0.8)
TILE = 256  # P-Net reads every pyramid level in tiles of this many pixels a side
_TILE_OUT = (TILE - 12) // 2 + 1  # windows a tile answers for, per side
_TILE_STEP = 2 * _TILE_OUT
_BATCH = (8, 128, 64)  # tiles (P-Net), 24 px crops (R-Net), 48 px crops (O-Net) per call


@dataclasses.dataclass(frozen=True)
class Faces:
  """Faces found in one photo: boxes (x, y, w, h) in the photo's pixels and P(face)."""
  boxes: np.ndarray  # (n, 4) float
  scores: np.ndarray  # (n,)

  def __len__(self) -> int:
    return len(self.scores)


@functools.cache
def _networks():
  """The three networks, each behind its own jit (compiled once per input shape)."""
  pnet, rnet, onet = mtcnn.load()

  def jitted(net):
    graphdef, state = nnx.split(net)
    return jax.jit(lambda state, x: nnx.merge(graphdef, state)(x)), state

  return tuple(jitted(net) for net in (pnet, rnet, onet))


def _run(which: int, x: np.ndarray):
  fn, state = _networks()[which]
  return jax.tree.map(np.asarray, fn(state, jnp.asarray(x)))


def _normalised(image: Image.Image) -> np.ndarray:
  return (np.asarray(image, np.float32) - 127.5) / 128.0


def _iou(box: np.ndarray, others: np.ndarray, by_min: bool) -> np.ndarray:
  x1 = np.maximum(box[0], others[:, 0])
  y1 = np.maximum(box[1], others[:, 1])
  x2 = np.minimum(box[2], others[:, 2])
  y2 = np.minimum(box[3], others[:, 3])
  inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
  area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
  denominator = (np.minimum(area(box), area(others)) if by_min
                 else area(box) + area(others) - inter)
  return inter / np.maximum(denominator, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_min: bool = False
        ) -> np.ndarray:
  """Indices kept by greedy non-maximum suppression, best first (boxes as x1, y1, x2, y2)."""
  order = np.argsort(-scores, kind="stable")
  keep = []
  while order.size:
    best, order = order[0], order[1:]
    keep.append(best)
    order = order[_iou(boxes[best], boxes[order], by_min) <= threshold]
  return np.asarray(keep, np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
  """Boxes grown to squares around their centres (the next network's crops are square)."""
  size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
  cx = (boxes[:, 0] + boxes[:, 2]) / 2
  cy = (boxes[:, 1] + boxes[:, 3]) / 2
  return np.stack([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2], axis=1)


def _corrected(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
  size = boxes[:, 2:4] - boxes[:, 0:2] + 1
  return boxes + offsets * np.concatenate([size, size], axis=1)


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
  """Bilinear crops of `boxes` resized to size x size; outside the photo reads as 0 (grey)."""
  h, w = image.shape[:2]
  steps = np.linspace(0.0, 1.0, size)
  ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * steps  # (n, size)
  xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * steps
  y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
  fy = (ys - y0).astype(np.float32)[:, :, None, None]
  fx = (xs - x0).astype(np.float32)[:, None, :, None]

  def at(y, x):
    inside = ((y >= 0) & (y < h))[:, :, None] & ((x >= 0) & (x < w))[:, None, :]
    values = image[np.clip(y, 0, h - 1)[:, :, None], np.clip(x, 0, w - 1)[:, None, :]]
    return np.where(inside[..., None], values, np.float32(0))

  top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
  bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
  return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _batched(which: int, inputs: np.ndarray):
  """A network over inputs in batches of one size per network, so each compiles once."""
  batch = _BATCH[which]
  outs = []
  for start in range(0, len(inputs), batch):
    chunk = inputs[start:start + batch]
    padded = np.zeros((batch,) + inputs.shape[1:], np.float32)
    padded[:len(chunk)] = chunk
    outs.append([out[:len(chunk)] for out in _run(which, padded)])
  return tuple(np.concatenate(parts) for parts in zip(*outs))


def _tiles(level: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
  """One pyramid level cut into overlapping `TILE` px tiles that P-Net reads exactly as the
  whole level (its 12 px windows step by 2 px, so tiles `_TILE_STEP` apart miss none).

  Returns the tiles (n, TILE, TILE, 3), the tile grid and the level's window grid.
  """
  h, w = level.shape[:2]
  windows = ((h - 12) // 2 + 1, (w - 12) // 2 + 1)
  grid = (-(-windows[0] // _TILE_OUT), -(-windows[1] // _TILE_OUT))
  # Rows and columns past the last window are read by none; dropping them keeps sizes exact.
  padded = np.zeros((grid[0] * _TILE_STEP + TILE - _TILE_STEP,
                     grid[1] * _TILE_STEP + TILE - _TILE_STEP, 3), np.float32)
  h, w = min(h, padded.shape[0]), min(w, padded.shape[1])
  padded[:h, :w] = level[:h, :w]
  tiles = np.lib.stride_tricks.sliding_window_view(padded, (TILE, TILE, 3))
  tiles = tiles[::_TILE_STEP, ::_TILE_STEP, 0][:grid[0], :grid[1]]
  return tiles.reshape(-1, TILE, TILE, 3), grid, windows


def _stitched(out: np.ndarray, grid: tuple[int, int], windows: tuple[int, int]) -> np.ndarray:
  """Tile outputs (n, _TILE_OUT, _TILE_OUT, ...) back into the level's window grid."""
  out = out.reshape(grid + (_TILE_OUT, _TILE_OUT) + out.shape[3:])
  out = np.swapaxes(out, 1, 2).reshape((grid[0] * _TILE_OUT, grid[1] * _TILE_OUT)
                                       + out.shape[4:])
  return out[:windows[0], :windows[1]]


def _proposals(image: Image.Image, threshold: float) -> np.ndarray:
  """P-Net over the image pyramid: candidate boxes (x1, y1, x2, y2, score) in image pixels.

  Every level is cut into tiles of one size and all tiles go through P-Net in fixed-size
  batches, so a photo of any size compiles nothing new.
  """
  levels, scale = [], 12.0 / MIN_FACE
  while min(image.size) * scale >= 12:
    w, h = max(12, round(image.width * scale)), max(12, round(image.height * scale))
    levels.append((scale,) + _tiles(_normalised(image.resize((w, h), Image.Resampling.BOX))))
    scale *= PYRAMID_STEP
  if not levels:
    return np.zeros((0, 5))
  offsets, scores = _batched(0, np.concatenate([tiles for _, tiles, _, _ in levels]))
  found, start = [], 0
  for scale, tiles, grid, windows in levels:
    level_offsets = _stitched(offsets[start:start + len(tiles)], grid, windows)
    score = _stitched(scores[start:start + len(tiles)], grid, windows)
    start += len(tiles)
    ys, xs = np.nonzero(score > threshold)
    if ys.size:
      windows_px = np.stack([xs * 2, ys * 2, xs * 2 + 12, ys * 2 + 12], axis=1).astype(np.float64)
      boxes = (windows_px + level_offsets[ys, xs] * 12) / scale
      keep = nms(boxes, score[ys, xs], 0.5)
      found.append(np.concatenate([boxes, score[ys, xs, None]], axis=1)[keep])
  if not found:
    return np.zeros((0, 5))
  found = np.concatenate(found)
  return found[nms(found[:, :4], found[:, 4], 0.7)]


def find_faces(image: Image.Image, thresholds: tuple[float, float, float] = THRESHOLDS
               ) -> Faces:
  """Faces in `image` (any size or mode), boxes in its own pixels, best first."""
  image = image.convert("RGB")
  shrink = min(1.0, MAX_SIDE / max(image.size))
  work = image if shrink == 1.0 else image.resize(
      (max(1, round(image.width * shrink)), max(1, round(image.height * shrink))),
      Image.Resampling.BOX)
  none = Faces(np.zeros((0, 4)), np.zeros(0))
  if min(work.size) < 12:
    return none
  candidates = _proposals(work, thresholds[0])
  pixels = _normalised(work)
  for which, size, threshold, by_min in ((1, 24, thresholds[1], False),
                                         (2, 48, thresholds[2], True)):
    if not len(candidates):
      return none
    boxes = _square(candidates[:, :4])
    out = _batched(which, _crops(pixels, boxes, size))
    offsets, score = out[0], out[-1]
    kept = score > threshold
    boxes = _corrected(boxes[kept], offsets[kept])
    candidates = np.concatenate([boxes, score[kept, None]], axis=1)
    candidates = candidates[nms(candidates[:, :4], candidates[:, 4], 0.7, by_min=by_min)]
  boxes = candidates[:, :4] / shrink
  return Faces(np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1),
               candidates[:, 4].copy())


def face_boxes(image: Image.Image) -> np.ndarray:
  """Face boxes (x, y, w, h) in whole pixels of `image`, shape (num_faces, 4)."""
  return np.round(find_faces(image).boxes).astype(np.int64).reshape(-1, 4)


def face_area_ratio(image: Image.Image) -> float:
  """Area covered by detected faces over the image area, in [0, 1] (overlaps counted once)."""
  covered = np.zeros((image.height, image.width), dtype=bool)
  for x, y, w, h in face_boxes(image):
    covered[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = True
  return float(covered.mean())
