"""Per-example grain transforms: decode and crop photos, and compute labels at load time.

Images leave the pipeline as uint8 (4x less host-to-device traffic than float32); the model
normalises them on the device, as its weights expect (`jaxgeo.models.resnet_pretrained
.preprocessing_for`). Labels are computed here from the partition files, so a new partitioning
needs no rebuild of the data set.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

import grain
import numpy as np
from PIL import Image

from jaxgeo.data.vocab import TagVocabulary
from jaxgeo.geo import s2
from jaxgeo.geo.partitions import Partition

# Eval resizes the shorter side to size / 0.875 and takes the centre (the usual 224 of 256).
EVAL_CROP_FRACTION = 0.875


def _decode(data: bytes, min_size: int) -> Image.Image:
  """Decodes a JPEG, letting libjpeg downscale by 2/4/8 while both sides stay >= min_size."""
  image = Image.open(io.BytesIO(data))
  image.draft("RGB", (min_size, min_size))
  return image.convert("RGB")


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale: tuple[float, float],
                            ratio: tuple[float, float]) -> tuple[int, int, int, int]:
  """A random (left, top, right, bottom) box covering `scale` of the area at aspect `ratio`."""
  area = width * height
  for _ in range(10):
    target = area * rng.uniform(*scale)
    aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
    w = int(round(np.sqrt(target * aspect)))
    h = int(round(np.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      left = int(rng.integers(0, width - w + 1))
      top = int(rng.integers(0, height - h + 1))
      return left, top, left + w, top + h
  # Extreme aspect ratios: fall back to the largest centred square.
  side = min(width, height)
  left, top = (width - side) // 2, (height - side) // 2
  return left, top, left + side, top + side


@dataclasses.dataclass
class RandomCropFlip(grain.transforms.RandomMap):
  """Train augmentation: random-resized crop to `size` (scale 0.66-1) and horizontal flip."""
  size: int
  scale: tuple[float, float] = (0.66, 1.0)
  ratio: tuple[float, float] = (3 / 4, 4 / 3)

  def random_map(self, element: dict, rng: np.random.Generator) -> dict:
    # Ask libjpeg for an image at least as large as the smallest crop must be.
    min_side = int(np.ceil(self.size / np.sqrt(self.scale[0] * self.ratio[0])))
    image = _decode(element["image"], min_side)
    box = random_resized_crop_box(image.width, image.height, rng, self.scale, self.ratio)
    image = image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
    pixels = np.asarray(image, dtype=np.uint8)
    if rng.random() < 0.5:
      pixels = pixels[:, ::-1]
    return {**element, "image": np.ascontiguousarray(pixels)}


def eval_decode_side(size: int) -> int:
  """Shorter side evaluation resizes to before cropping `size` (the usual 256 for 224)."""
  return int(round(size / EVAL_CROP_FRACTION))


def eval_crops(image: Image.Image, size: int, five_crop: bool = False) -> np.ndarray:
  """The evaluation crop(s) of an upright RGB image: (size, size, 3) or (5, size, size, 3) uint8.

  Shorter side to size / 0.875 (bilinear), then the centre crop, or the four corner crops and
  the centre one for test-time voting. The evaluator and the Predictor both crop through here.
  """
  shorter = eval_decode_side(size)
  scale = shorter / min(image.size)
  resized = image.resize((max(shorter, round(image.width * scale)),
                          max(shorter, round(image.height * scale))), Image.Resampling.BILINEAR)
  w, h, s = resized.width, resized.height, size
  centre = ((w - s) // 2, (h - s) // 2)
  corners = [(0, 0), (w - s, 0), (0, h - s), (w - s, h - s), centre] if five_crop else [centre]
  crops = [np.asarray(resized.crop((x, y, x + s, y + s)), dtype=np.uint8) for x, y in corners]
  return np.stack(crops) if five_crop else crops[0]


@dataclasses.dataclass
class CenterCrop(grain.transforms.Map):
  """Eval: resize the shorter side to size / 0.875, then the central size x size crop."""
  size: int

  def map(self, element: dict) -> dict:
    image = _decode(element["image"], eval_decode_side(self.size))
    return {**element, "image": eval_crops(image, self.size)}


@dataclasses.dataclass
class FiveCrop(grain.transforms.Map):
  """Test-time voting: the four corner crops and the centre crop, shape (5, size, size, 3)."""
  size: int

  def map(self, element: dict) -> dict:
    image = _decode(element["image"], eval_decode_side(self.size))
    return {**element, "image": eval_crops(image, self.size, five_crop=True)}


@dataclasses.dataclass
class GeoLabels(grain.transforms.Map):
  """Class per partition (-1 outside its cells), tag ids, landmark id; drops raw text fields.

  Output keys: `image`, `latitude`, `longitude` (float32), `label_<partition name>` (int32),
  `tag_ids` (int32, `max_tags`, padded with -1) and `landmark` (int32, -1 if none or unknown);
  with `id_key`, `id`; with `keep_user`, `user` (the photographer, b"" where the data set has
  none): the retrieval gallery and its leakage report need both.
  """
  partitions: Sequence[Partition]
  vocabulary: TagVocabulary | None = None
  max_tags: int = 15
  id_key: str | None = None  # e.g. "photo_id": kept as `id` (bytes) for per-image results
  keep_user: bool = False

  def map(self, element: dict) -> dict:
    # Landmark photos (GLDv2) carry no coordinates: NaN, and -1 for every partition.
    lat = np.array([element.get("latitude", np.nan)], np.float64)
    lon = np.array([element.get("longitude", np.nan)], np.float64)
    out = {"image": element["image"], "latitude": np.float32(lat[0]),
           "longitude": np.float32(lon[0])}
    if self.id_key:
      out["id"] = element[self.id_key]
    if self.keep_user:
      out["user"] = element.get("user", b"")
    located = bool(np.isfinite(lat[0]) and np.isfinite(lon[0]))
    # The S2 leaf cell once, looked up in each partition (the input pipeline's costliest step).
    leaf = s2.latlng_to_cell_ids(lat, lon) if located and self.partitions else None
    for partition in self.partitions:
      out[f"label_{partition.name}"] = np.int32(
          partition.classify_cells(leaf)[0] if located else -1)
    if self.vocabulary is not None:
      out["tag_ids"] = self.vocabulary.encode(element.get("tags", ()), self.max_tags)
    out["landmark"] = np.int32(element.get("landmark_id", -1))
    return out


@dataclasses.dataclass
class SampleTag(grain.transforms.RandomMap):
  """One random positive tag per photo and step (LocSens' multi-class set-up); -1 if none."""

  def random_map(self, element: dict, rng: np.random.Generator) -> dict:
    ids = element["tag_ids"]
    ids = ids[ids >= 0]
    tag = ids[rng.integers(len(ids))] if len(ids) else -1
    return {**element, "tag": np.int32(tag)}
