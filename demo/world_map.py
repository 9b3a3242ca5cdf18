"""World maps drawn with Pillow from a land mask shipped in a pip package: no tile server, no CDN.

Web map libraries (plotly's geo plots, Leaflet/folium) fetch their world outlines or tiles from the
network when the page opens, so on an offline machine they show an empty frame. This module draws
an equirectangular (plate carrée) map from the 1 km land/ocean mask of the `global-land-mask`
package (MIT; GLOBE elevation data), which needs nothing at run time but NumPy and Pillow. Pixels
map linearly to degrees, so a click on the image converts back to (lat, lon) exactly
(`pixel_to_latlon`).

The package's own module decompresses the whole mask (21600 x 43200, ~930 MB) on import; here the
array is streamed out of the .npz and reduced to 1/12 degree cells (2160 x 4320 bytes, ~2 s once
per process), never importing `global_land_mask.globe`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import zipfile
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Cells of the reduced mask: FACTOR x FACTOR cells of the 1/120 degree mask each (1/12 degree).
_FACTOR = 10
_MASK_FILE = "globe_combined_mask_compressed.npz"

OCEAN = (207, 227, 243)
LAND = (239, 235, 222)
COAST = (84, 104, 122)
GRID = (186, 206, 222)
COLOURS = {
    "prediction": (214, 39, 40),  # the top place
    "alternative": (255, 127, 14),  # the other top-k places
    "truth": (44, 160, 44),  # the photo's EXIF GPS position
    "query": (31, 119, 180),  # a place picked for the search tab
    "result": (148, 103, 189),  # photos found by a search
}
MISSING_MASK_NOTE = ("The land mask package (global-land-mask) is not installed, so the map shows "
                     "only a grid: pip install global-land-mask.")


@dataclasses.dataclass(frozen=True)
class Marker:
  """A point to draw: `kind` picks its colour and shape (see COLOURS); `label` is drawn beside."""
  lat: float
  lon: float
  kind: str = "prediction"
  label: str = ""


@dataclasses.dataclass(frozen=True)
class Region:
  """A lat/lon box drawn as a translucent area, e.g. the coarse region shown instead of a point."""
  south: float
  west: float
  north: float
  east: float
  kind: str = "prediction"
  label: str = ""


@dataclasses.dataclass(frozen=True)
class Bounds:
  """The map's extent in degrees; the image keeps one scale for both axes (plate carrée)."""
  south: float = -90.0
  west: float = -180.0
  north: float = 90.0
  east: float = 180.0


WORLD = Bounds()


@dataclasses.dataclass
class RenderedMap:
  """The picture plus what was drawn on it, so callers and tests need not read pixels back."""
  image: Image.Image
  bounds: Bounds
  coast_pixels: int  # 0 when no land mask was available
  markers: list[tuple[Marker, tuple[int, int]]]  # each drawn marker and its centre pixel
  note: str = ""  # shown to the user when the map is degraded


def _mask_path() -> str | None:
  spec = importlib.util.find_spec("global_land_mask")
  if spec is None or not spec.submodule_search_locations:
    return None
  path = os.path.join(next(iter(spec.submodule_search_locations)), _MASK_FILE)
  return path if os.path.exists(path) else None


@functools.cache
def land_share() -> np.ndarray | None:
  """Percent of land (0-100, uint8) in 1/12 degree cells, row 0 at 90N, column 0 at 180W.

  None when the package is missing. Cached: computed once per process.
  """
  path = _mask_path()
  if path is None:
    return None
  with zipfile.ZipFile(path) as archive, archive.open("mask.npy") as f:
    version = np.lib.format.read_magic(f)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    (rows, cols), fortran_order, dtype = read_header(f)
    if fortran_order or dtype != np.bool_:
      raise ValueError(f"{path}: unexpected mask layout ({dtype}, fortran={fortran_order})")
    share = np.empty((rows // _FACTOR, cols // _FACTOR), np.uint8)
    for block in range(rows // _FACTOR):
      # The package's mask is True over the ocean.
      ocean = np.frombuffer(f.read(_FACTOR * cols), np.uint8).reshape(_FACTOR, -1, _FACTOR)
      share[block] = _FACTOR * _FACTOR - ocean.sum(axis=(0, 2), dtype=np.uint16)
  return share


def latlon_to_pixel(lat: float, lon: float, bounds: Bounds, size: tuple[int, int]
                    ) -> tuple[float, float]:
  """(x, y) pixel of a coordinate on a map of `size` (width, height) covering `bounds`."""
  width, height = size
  x = (lon - bounds.west) / (bounds.east - bounds.west) * width
  y = (bounds.north - lat) / (bounds.north - bounds.south) * height
  return x, y


def pixel_to_latlon(x: float, y: float, bounds: Bounds, size: tuple[int, int]
                    ) -> tuple[float, float]:
  """The coordinate under pixel (x, y): the inverse of `latlon_to_pixel`, clipped to the globe."""
  width, height = size
  lon = bounds.west + (x + 0.5) / width * (bounds.east - bounds.west)
  lat = bounds.north - (y + 0.5) / height * (bounds.north - bounds.south)
  return float(np.clip(lat, -90.0, 90.0)), float((lon + 180.0) % 360.0 - 180.0)


def fit_bounds(points: Sequence[tuple[float, float]], min_span: float = 12.0,
               margin: float = 0.25, aspect: float = 2.0) -> Bounds:
  """A box around (lat, lon) points with a margin, at least `min_span` degrees tall, width/height
  = `aspect`, shifted (not cut) to stay on the globe; the whole world if they do not fit.

  Points on both sides of the antimeridian get the world view rather than a box across it.
  """
  lats = np.array([p[0] for p in points], dtype=np.float64)
  lons = np.array([p[1] for p in points], dtype=np.float64)
  height = max(min_span, (lats.max() - lats.min()) * (1 + 2 * margin),
               (lons.max() - lons.min()) * (1 + 2 * margin) / aspect)
  width = height * aspect
  if height >= 180.0 or width >= 360.0:
    return WORLD
  lat_c, lon_c = (lats.max() + lats.min()) / 2, (lons.max() + lons.min()) / 2
  south = float(np.clip(lat_c - height / 2, -90.0, 90.0 - height))
  west = float(np.clip(lon_c - width / 2, -180.0, 180.0 - width))
  return Bounds(south, west, south + height, west + width)


def _background(bounds: Bounds, size: tuple[int, int]) -> tuple[Image.Image, int]:
  """Land and ocean with coastlines for `bounds`, and the number of coastline pixels."""
  width = size[0]
  share = land_share()
  if share is None:
    return Image.new("RGB", size, OCEAN), 0
  rows, cols = share.shape
  # Cell edges of the view in the reduced mask, then an area-averaging resize to the picture.
  top = (90.0 - bounds.north) / 180.0 * rows
  bottom = (90.0 - bounds.south) / 180.0 * rows
  left = (bounds.west + 180.0) / 360.0 * cols
  right = (bounds.east + 180.0) / 360.0 * cols
  grid = Image.fromarray(share, mode="L")
  land = np.asarray(grid.resize(size, Image.Resampling.BOX if (right - left) > width
                                else Image.Resampling.BILINEAR,
                                box=(left, top, right, bottom)), dtype=np.float32) / 100.0
  land = np.clip(land, 0.0, 1.0)[..., None]
  rgb = (1.0 - land) * np.array(OCEAN, np.float32) + land * np.array(LAND, np.float32)
  # Coast: land pixels with an ocean neighbour (4-connectivity).
  is_land = land[..., 0] >= 0.5
  edge = np.zeros_like(is_land)
  edge[1:, :] |= is_land[1:, :] != is_land[:-1, :]
  edge[:, 1:] |= is_land[:, 1:] != is_land[:, :-1]
  coast = edge & is_land
  rgb[coast] = COAST
  return Image.fromarray(rgb.round().astype(np.uint8), mode="RGB"), int(coast.sum())


def _graticule(draw: ImageDraw.ImageDraw, bounds: Bounds, size: tuple[int, int]) -> None:
  span = bounds.east - bounds.west
  step = 30 if span > 120 else 10 if span > 40 else 5 if span > 15 else 1
  for lon in range(-180, 181, step):
    if bounds.west <= lon <= bounds.east:
      x, _ = latlon_to_pixel(0.0, lon, bounds, size)
      draw.line([(x, 0), (x, size[1])], fill=GRID, width=1)
  for lat in range(-90, 91, step):
    if bounds.south <= lat <= bounds.north:
      _, y = latlon_to_pixel(lat, 0.0, bounds, size)
      draw.line([(0, y), (size[0], y)], fill=GRID, width=1)


@functools.cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
  try:
    return ImageFont.load_default(size=size)
  except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
    return ImageFont.load_default()


def render_map(markers: Sequence[Marker] = (), regions: Sequence[Region] = (),
               bounds: Bounds = WORLD, width: int = 960,
               links: Sequence[tuple[Marker, Marker]] = ()) -> RenderedMap:
  """Draws land, coastlines, a graticule, `regions`, lines between `links` and `markers`.

  Args:
    markers: points, drawn in order (later ones on top); those outside `bounds` are left out.
    regions: boxes drawn under the markers (coarse areas).
    bounds: the extent; `fit_bounds` makes a regional view.
    width: picture width in pixels; the height follows from the bounds.
    links: pairs of markers joined by a line (prediction to true place).
  """
  height = max(1, round(width * (bounds.north - bounds.south) / (bounds.east - bounds.west)))
  size = (width, height)
  image, coast_pixels = _background(bounds, size)
  note = "" if land_share() is not None else MISSING_MASK_NOTE
  draw = ImageDraw.Draw(image, "RGBA")
  _graticule(draw, bounds, size)
  font = _font(max(11, width // 70))
  for region in regions:
    x0, y0 = latlon_to_pixel(region.north, region.west, bounds, size)
    x1, y1 = latlon_to_pixel(region.south, region.east, bounds, size)
    colour = COLOURS[region.kind]
    draw.rectangle([x0, y0, x1, y1], fill=colour + (70,), outline=colour + (255,), width=2)
    if region.label:
      draw.text((x0 + 3, y0 + 2), region.label, fill=(30, 30, 30, 255), font=font)
  for a, b in links:
    draw.line([latlon_to_pixel(a.lat, a.lon, bounds, size),
               latlon_to_pixel(b.lat, b.lon, bounds, size)], fill=(60, 60, 60, 200), width=2)
  radius = max(4, width // 140)
  drawn = []
  for marker in markers:
    x, y = latlon_to_pixel(marker.lat, marker.lon, bounds, size)
    if not (0 <= x <= width and 0 <= y <= height):
      continue
    colour = COLOURS[marker.kind] + (255,)
    r = radius if marker.kind in ("prediction", "truth", "query") else radius - 1
    if marker.kind == "truth":  # a diamond, so it reads apart from the predictions in grey too
      draw.polygon([(x, y - r - 2), (x + r + 2, y), (x, y + r + 2), (x - r - 2, y)], fill=colour,
                   outline=(255, 255, 255, 255))
    else:
      draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(255, 255, 255, 255),
                   width=2 if r > 4 else 1)
    if marker.label:
      # The true place's label goes below left, predictions' above right, so they do not overlap.
      truth = marker.kind == "truth"
      position = (x - r - 3, y + 2) if truth else (x + r + 3, y - 2)
      anchor = ("rt" if truth else "lb") if isinstance(font, ImageFont.FreeTypeFont) else None
      draw.text(position, marker.label, fill=(20, 20, 20, 255), font=font, anchor=anchor,
                stroke_width=2, stroke_fill=(255, 255, 255, 255))
    drawn.append((marker, (round(x), round(y))))
  return RenderedMap(image=image, bounds=bounds, coast_pixels=coast_pixels, markers=drawn,
                     note=note)

