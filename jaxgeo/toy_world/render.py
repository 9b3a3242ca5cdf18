"""Rendering of toy-world photos: NumPy backgrounds plus Pillow polygons.

A `Scene` says what a photo shows (climate, region style, terrain, time of day, skyline, an
optional landmark); `render_jpeg` turns it into JPEG bytes with a per-photo
`np.random.Generator`, so the same (scene, generator state) always gives the same bytes.
Backgrounds are whole-array NumPy operations; buildings, trees and landmarks are Pillow
polygons. A 128x96 photo takes ~2 ms.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math

import numpy as np
from PIL import Image, ImageDraw

from jaxgeo.toy_world import drawings

CLIMATES = ("polar", "boreal", "temperate", "arid", "tropical")
TERRAINS = ("plain", "mountain", "water")
TIMES_OF_DAY = ("day", "overcast", "golden", "night")
REGIONS = ("europe", "eastern_europe", "north_america", "latin_america", "middle_east", "africa",
           "south_asia", "east_asia", "southeast_asia", "oceania", "arctic", "antarctic")

JPEG_QUALITY = 90

# Mask codes painted alongside the photo: which pixels are walls (get windows), landmark
# (floodlit at night), other man-made parts or vegetation (darkened at night, never sky).
_WALL, _LANDMARK, _OTHER, _PLANT = 1, 2, 3, 4


@dataclasses.dataclass(frozen=True)
class Scene:
  """What one toy photo shows; continuous jitter is drawn by the renderer.

  Attributes:
    width: Image width in pixels.
    height: Image height in pixels.
    climate: One of CLIMATES; sets sky, ground, water, mountain and vegetation colours.
    region: One of REGIONS; sets the building style of skylines.
    terrain: One of TERRAINS.
    time_of_day: One of TIMES_OF_DAY.
    snow: Snow on the ground.
    beach: A sand strip in front of the water (terrain "water" only).
    desert: Dunes instead of flat ground.
    skyline: Building density, 0 (none) to 1 (downtown).
    vegetation: Tree density, 0 to 1.
    aurora: Aurora curtains in a night sky.
    landmark: Key of drawings.LANDMARK_SHAPES shown in the photo, or None.
    landmark_scale: Landmark height as a fraction of the image height.
    landmark_x: Landmark centre as a fraction of the image width.
    landmark_squash: Horizontal scale of the landmark (a cheap change of viewpoint).
    city_style: Index of the city whose local look (preferred wall colours, building heights,
      ground tint) the photo has within its region's style; -1 for none.
  """
  width: int
  height: int
  climate: str
  region: str
  terrain: str = "plain"
  time_of_day: str = "day"
  snow: bool = False
  beach: bool = False
  desert: bool = False
  skyline: float = 0.0
  vegetation: float = 0.5
  aurora: bool = False
  landmark: str | None = None
  landmark_scale: float = 0.6
  landmark_x: float = 0.5
  landmark_squash: float = 1.0
  city_style: int = -1


def _rgb(*c: float) -> np.ndarray:
  return np.array(c, np.float32)


# Day sky (zenith, horizon) per climate: polar skies are pale, tropical ones deep blue, arid
# horizons hazy yellow.
_SKY_DAY = {
    "polar": (_rgb(0.50, 0.64, 0.82), _rgb(0.86, 0.90, 0.95)),
    "boreal": (_rgb(0.33, 0.50, 0.75), _rgb(0.76, 0.84, 0.91)),
    "temperate": (_rgb(0.22, 0.45, 0.82), _rgb(0.68, 0.80, 0.93)),
    "arid": (_rgb(0.38, 0.58, 0.82), _rgb(0.93, 0.87, 0.74)),
    "tropical": (_rgb(0.04, 0.36, 0.88), _rgb(0.55, 0.80, 0.96)),
}
_GROUND = {
    "polar": _rgb(0.90, 0.93, 0.97),
    "boreal": _rgb(0.17, 0.31, 0.19),
    "temperate": _rgb(0.34, 0.52, 0.24),
    "arid": _rgb(0.84, 0.70, 0.47),
    "tropical": _rgb(0.12, 0.47, 0.15),
}
# Regional ground tints where one climate looks different across regions (the red outback,
# Lima's grey coastal desert, the yellow savanna).
_GROUND_REGION = {
    ("arid", "oceania"): _rgb(0.76, 0.40, 0.22),
    ("arid", "latin_america"): _rgb(0.68, 0.63, 0.55),
    ("arid", "south_asia"): _rgb(0.70, 0.60, 0.42),
    ("arid", "africa"): _rgb(0.80, 0.62, 0.40),
    ("tropical", "africa"): _rgb(0.55, 0.55, 0.24),
    ("temperate", "africa"): _rgb(0.50, 0.52, 0.28),
    ("boreal", "latin_america"): _rgb(0.30, 0.36, 0.24),
}
_SNOW = _rgb(0.92, 0.94, 0.98)
_WATER = {
    "polar": _rgb(0.18, 0.27, 0.36),
    "boreal": _rgb(0.15, 0.27, 0.35),
    "temperate": _rgb(0.14, 0.31, 0.44),
    "arid": _rgb(0.10, 0.38, 0.56),
    "tropical": _rgb(0.04, 0.58, 0.66),
}
_MOUNTAIN = {
    "polar": _rgb(0.50, 0.53, 0.60),
    "boreal": _rgb(0.28, 0.34, 0.38),
    "temperate": _rgb(0.33, 0.40, 0.36),
    "arid": _rgb(0.62, 0.45, 0.31),
    "tropical": _rgb(0.16, 0.38, 0.20),
}
# Fraction of a mountain's height under snow.
_SNOWLINE = {"polar": 0.75, "boreal": 0.55, "temperate": 0.3, "arid": 0.12, "tropical": 0.0}
_SAND = _rgb(0.90, 0.82, 0.60)
_PAVEMENT = _rgb(0.42, 0.42, 0.44)


@dataclasses.dataclass(frozen=True)
class _BuildingStyle:
  walls: tuple[tuple[float, float, float], ...]
  roofs: tuple[tuple[float, float, float], ...]
  height: tuple[float, float]  # fraction of image height
  width: tuple[float, float]  # fraction of image height
  roof_kinds: tuple[tuple[str, float], ...]
  windows: tuple[int, int, int, int]  # row pitch, column pitch, window height, width (px @96)
  glass: tuple[float, float, float] = (0.16, 0.20, 0.27)


# Per-region building styles: the main region cue of city photos.
_STYLES = {
    "europe": _BuildingStyle(
        walls=((0.87, 0.80, 0.66), (0.80, 0.62, 0.45), (0.93, 0.89, 0.80), (0.72, 0.55, 0.40),
               (0.85, 0.75, 0.55)),
        roofs=((0.62, 0.30, 0.20), (0.30, 0.32, 0.36)), height=(0.12, 0.30), width=(0.12, 0.22),
        roof_kinds=(("pitched", 0.65), ("flat", 0.2), ("spire", 0.1), ("dome", 0.05)),
        windows=(7, 6, 3, 2)),
    "eastern_europe": _BuildingStyle(
        walls=((0.70, 0.70, 0.68), (0.78, 0.74, 0.64), (0.62, 0.64, 0.66), (0.82, 0.80, 0.76)),
        roofs=((0.35, 0.35, 0.36), (0.20, 0.50, 0.35)), height=(0.18, 0.36), width=(0.18, 0.34),
        roof_kinds=(("flat", 0.85), ("onion", 0.15)), windows=(5, 5, 2, 2)),
    "north_america": _BuildingStyle(
        walls=((0.40, 0.52, 0.62), (0.55, 0.60, 0.66), (0.30, 0.36, 0.44), (0.60, 0.42, 0.34),
               (0.72, 0.74, 0.76)),
        roofs=((0.25, 0.27, 0.30),), height=(0.22, 0.78), width=(0.08, 0.18),
        roof_kinds=(("flat", 0.75), ("antenna", 0.2), ("spire", 0.05)), windows=(4, 4, 2, 2),
        glass=(0.20, 0.30, 0.42)),
    "latin_america": _BuildingStyle(
        walls=((0.95, 0.60, 0.62), (0.98, 0.85, 0.35), (0.35, 0.78, 0.75), (0.95, 0.95, 0.90),
               (0.55, 0.75, 0.40), (0.90, 0.55, 0.30)),
        roofs=((0.70, 0.35, 0.22),), height=(0.08, 0.20), width=(0.10, 0.20),
        roof_kinds=(("flat", 0.85), ("dome", 0.1), ("pitched", 0.05)), windows=(7, 8, 3, 3)),
    "middle_east": _BuildingStyle(
        walls=((0.87, 0.78, 0.60), (0.93, 0.90, 0.84), (0.80, 0.68, 0.50)),
        roofs=((0.25, 0.55, 0.60), (0.85, 0.70, 0.35)), height=(0.08, 0.24), width=(0.12, 0.24),
        roof_kinds=(("flat", 0.5), ("dome", 0.3), ("minaret", 0.2)), windows=(8, 9, 3, 2)),
    "africa": _BuildingStyle(
        walls=((0.78, 0.60, 0.40), (0.62, 0.45, 0.32), (0.92, 0.90, 0.84), (0.70, 0.55, 0.35)),
        roofs=((0.55, 0.56, 0.58), (0.45, 0.30, 0.22)), height=(0.06, 0.18), width=(0.12, 0.24),
        roof_kinds=(("flat", 0.55), ("pitched", 0.45)), windows=(8, 8, 3, 3)),
    "south_asia": _BuildingStyle(
        walls=((0.92, 0.45, 0.60), (0.98, 0.62, 0.20), (0.98, 0.88, 0.30), (0.30, 0.75, 0.80),
               (0.85, 0.82, 0.78)),
        roofs=((0.85, 0.55, 0.30), (0.95, 0.95, 0.92)), height=(0.10, 0.30), width=(0.10, 0.20),
        roof_kinds=(("flat", 0.7), ("shikhara", 0.15), ("dome", 0.15)), windows=(6, 6, 3, 2)),
    "east_asia": _BuildingStyle(
        walls=((0.78, 0.80, 0.82), (0.55, 0.58, 0.62), (0.90, 0.90, 0.88), (0.62, 0.18, 0.15)),
        roofs=((0.22, 0.24, 0.26), (0.70, 0.18, 0.14)), height=(0.18, 0.62), width=(0.09, 0.18),
        roof_kinds=(("flat", 0.6), ("pagoda", 0.3), ("antenna", 0.1)), windows=(4, 5, 2, 3)),
    "southeast_asia": _BuildingStyle(
        walls=((0.90, 0.90, 0.86), (0.60, 0.65, 0.68), (0.95, 0.85, 0.70), (0.75, 0.80, 0.70)),
        roofs=((0.80, 0.35, 0.20), (0.90, 0.72, 0.25)), height=(0.12, 0.55), width=(0.10, 0.18),
        roof_kinds=(("flat", 0.55), ("stupa", 0.25), ("pitched", 0.2)), windows=(5, 5, 2, 2)),
    "oceania": _BuildingStyle(
        walls=((0.93, 0.93, 0.90), (0.75, 0.80, 0.85), (0.85, 0.78, 0.65), (0.60, 0.70, 0.75)),
        roofs=((0.70, 0.22, 0.18), (0.40, 0.42, 0.45)), height=(0.08, 0.45), width=(0.12, 0.22),
        roof_kinds=(("flat", 0.6), ("pitched", 0.4)), windows=(6, 5, 2, 2)),
    "arctic": _BuildingStyle(
        walls=((0.70, 0.16, 0.14), (0.95, 0.78, 0.20), (0.20, 0.35, 0.60), (0.25, 0.50, 0.35),
               (0.95, 0.95, 0.92)),
        roofs=((0.18, 0.18, 0.20),), height=(0.05, 0.11), width=(0.10, 0.16),
        roof_kinds=(("pitched", 1.0),), windows=(9, 7, 3, 3)),
    "antarctic": _BuildingStyle(
        walls=((0.25, 0.55, 0.30), (0.90, 0.45, 0.15), (0.25, 0.40, 0.70), (0.85, 0.85, 0.82)),
        roofs=((0.30, 0.30, 0.32),), height=(0.05, 0.09), width=(0.12, 0.22),
        roof_kinds=(("flat", 1.0),), windows=(9, 9, 2, 4)),
}


@functools.lru_cache(maxsize=32)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Row/column coordinate vectors and a vignette for an h x w image (cached per size)."""
  yy = np.arange(h, dtype=np.float32)[:, None]
  xx = np.arange(w, dtype=np.float32)[None, :]
  r2 = ((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2
  vignette = (1.0 - 0.6 * r2)[..., None].astype(np.float32)
  for a in (yy, xx, vignette):
    a.flags.writeable = False
  return yy, xx, vignette


@functools.lru_cache(maxsize=256)
def _city_look(city_style: int, num_walls: int) -> tuple[tuple[int, ...], float, np.ndarray]:
  """A city's fixed look: two preferred wall colours, a height factor and a ground tint."""
  if city_style < 0:
    return tuple(range(num_walls)), 1.0, np.ones(3, np.float32)
  crng = np.random.default_rng([7919, city_style])
  tint = crng.uniform(0.9, 1.1, 3).astype(np.float32)
  height = float(crng.uniform(0.75, 1.3))
  prefer = tuple(int(i) for i in crng.choice(num_walls, min(2, num_walls), replace=False))
  return prefer, height, tint


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
  """Unit-variance-ish noise, smooth over about `cell` pixels (bilinear upsampling)."""
  small = rng.standard_normal((max(h // cell, 1) + 2, max(w // cell, 1) + 2), dtype=np.float32)
  return np.asarray(Image.fromarray(small).resize((w, max(h, 1)), Image.BILINEAR))


def _to_u8(c: np.ndarray) -> tuple[int, int, int]:
  c = np.clip(c * 255.0, 0, 255)
  return int(c[0]), int(c[1]), int(c[2])


def _sky(scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  top, hor = _SKY_DAY[scene.climate]
  tod = scene.time_of_day
  if tod == "overcast":
    grey = 0.58 if scene.climate in ("boreal", "polar") else 0.66
    top, hor = _rgb(grey, grey + 0.02, grey + 0.05), _rgb(grey + 0.16, grey + 0.17, grey + 0.18)
  elif tod == "golden":
    hor = _rgb(1.0, 0.45, 0.38) if scene.climate == "tropical" else _rgb(1.0, 0.62, 0.30)
    top = _rgb(0.24, 0.26, 0.50)
  elif tod == "night":
    top = _rgb(0.01, 0.02, 0.07)
    # City light pollution turns the night horizon orange.
    hor = _rgb(0.28, 0.18, 0.12) if scene.skyline > 0.3 else _rgb(0.07, 0.08, 0.17)
  jitter = rng.uniform(0.92, 1.08, 3).astype(np.float32)
  return top * jitter, hor * jitter


def _paint_background(scene: Scene, rng: np.random.Generator, img: np.ndarray, hz: int
                      ) -> np.ndarray:
  """Fills sky, mountains, ground and water in place; returns the sky mask."""
  h, w = scene.height, scene.width
  yy, xx, _ = _grid(h, w)
  climate, tod = scene.climate, scene.time_of_day
  top, hor = _sky(scene, rng)
  t = (np.linspace(0.0, 1.0, hz, dtype=np.float32) ** 0.8)[:, None, None]
  img[:hz] = top + (hor - top) * t
  sky_y, sky_x = yy[:hz], xx
  if tod == "golden":
    sx, sy = rng.uniform(0.1, 0.9) * w, hz - rng.uniform(0.02, 0.2) * h
    d = np.sqrt((sky_x - sx) ** 2 + (sky_y - sy) ** 2) / w
    img[:hz] += (np.exp(-4.0 * d)[..., None] * _rgb(0.5, 0.35, 0.15))
    img[:hz][d < 0.05] = _rgb(1.0, 0.93, 0.75)
  elif tod == "day" and rng.random() < 0.7:
    cover = rng.uniform(0.3, 0.9)
    clouds = np.clip((_smooth_noise(rng, hz, w, 10) - 0.6) * 1.2, 0, 1)[..., None] * cover
    img[:hz] = img[:hz] * (1 - clouds) + 0.97 * clouds
  elif tod == "overcast":
    img[:hz] += 0.05 * _smooth_noise(rng, hz, w, 8)[..., None]
  elif tod == "night":
    n = max(4, w * hz // 150)
    img[rng.integers(0, max(hz - 2, 1), n), rng.integers(0, w, n)] = 0.9
    if scene.aurora:
      centre = hz * (0.35 + 0.15 * np.sin(sky_x * rng.uniform(0.03, 0.08) + rng.uniform(0, 6)))
      band = np.exp(-(((sky_y - centre) / (0.16 * hz)) ** 2))
      streaks = 0.6 + 0.4 * np.sin(sky_x * rng.uniform(0.4, 0.9))
      img[:hz] += (band * streaks)[..., None] * _rgb(0.15, 0.75, 0.40)
  sky = np.zeros((h, w), bool)
  sky[:hz] = True

  # Mountains: one or two ranges, lit and shaded faces from the ridge slope, snow above a
  # climate-dependent snowline.
  ranges = 0
  if scene.terrain == "mountain":
    ranges = 2
  elif rng.random() < 0.3:
    ranges = 1  # low hills
  for layer in range(ranges):
    if scene.terrain == "mountain":  # a tall distant range, then a lower near one
      amp = hz * (rng.uniform(0.45, 0.8) if layer == 0 else rng.uniform(0.25, 0.45))
    else:
      amp = hz * rng.uniform(0.04, 0.1)
    k = rng.uniform(1.0, 4.5, 3)
    ph = rng.uniform(0, 2 * math.pi, 3)
    a = rng.uniform(0.3, 1.0, 3)
    prof = (a[:, None] * np.sin(2 * math.pi * k[:, None] * xx / w + ph[:, None])).sum(0)
    prof = (prof - prof.min()) / (np.ptp(prof) + 1e-6)
    ridge = (hz - amp * (0.2 + 0.8 * prof ** 1.4))[None, :]
    m = (yy >= ridge) & (yy < hz)
    lit = np.where(np.gradient(ridge[0]) < 0, 1.08, 0.78).astype(np.float32)[None, :, None]
    base = _MOUNTAIN[climate] * (0.75 if layer == 1 else 1.0)
    if layer == 0:  # distant range: hazed towards the horizon colour
      base = 0.6 * base + 0.4 * hor
    col = base * lit * (0.9 + 0.2 * (yy[..., None] - ridge[..., None]) / amp)
    if scene.terrain == "mountain" or climate in ("polar", "boreal"):
      snowline = ridge.min() + _SNOWLINE[climate] * (hz - ridge.min())
      snowy = (yy < snowline + 2 * np.sin(xx * 0.5))[..., None]
      col = np.where(snowy, _SNOW * lit, col)
    img[:] = np.where(m[..., None], col, img)
    sky &= ~m

  # Ground: climate colour with texture, hazed near the horizon.
  gh = h - hz
  if gh <= 0:
    return sky
  gy = yy[hz:] - hz
  ground = _GROUND_REGION.get((climate, scene.region), _GROUND[climate])
  ground = (ground * _city_look(scene.city_style, 1)[2]
            * rng.uniform(0.93, 1.07, 3).astype(np.float32))
  tex = 0.07 * _smooth_noise(rng, gh, w, 5)
  gimg = ground * (1.0 + tex[..., None])
  if scene.desert:
    ripple = np.sin(xx * rng.uniform(0.08, 0.2) + 5 * np.sin(gy * rng.uniform(0.08, 0.2)))
    gimg = gimg * (1.0 + 0.08 * ripple[..., None])
  if scene.snow:
    # Large, sharp-edged patches: a snowfield with some bare ground, not camouflage.
    offset = {"polar": 2.5, "boreal": 0.9}.get(climate, 0.3)
    cover = np.clip((_smooth_noise(rng, gh, w, max(gh, w) // 3) + offset) * 3.0, 0, 1)
    gimg = gimg * (1 - cover[..., None]) + (_SNOW * (1 + 0.5 * tex[..., None])) * cover[..., None]
  if scene.skyline > 0.3:
    # Streets in front of the buildings.
    street = (gy > gh * rng.uniform(0.15, 0.4))[..., None]
    gimg = np.where(street, 0.7 * _PAVEMENT + 0.3 * gimg, gimg)
  haze = (0.45 * np.exp(-gy / (0.08 * h)))[..., None]
  img[hz:] = gimg * (1 - haze) + hor * haze

  if scene.terrain == "water":
    depth = int(gh * rng.uniform(0.45, 1.0))
    if not scene.beach:
      depth = max(depth, int(gh * 0.6))
    wy = gy[:depth]
    water = _WATER[climate] * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    ripples = np.sin(wy * rng.uniform(0.7, 1.3) + 3 * np.sin(xx * rng.uniform(0.05, 0.2)))
    wimg = water * (1.0 + 0.08 * ripples[..., None])
    refl = (0.5 * np.exp(-wy / (0.05 * h)))[..., None]
    wimg = wimg * (1 - refl) + hor * refl
    if climate == "polar":
      floes = (_smooth_noise(rng, depth, w, 4) > 0.9)[..., None]
      wimg = np.where(floes, _SNOW, wimg)
    img[hz:hz + depth] = wimg
    if scene.beach and depth < gh:
      sand = _SAND * (1.0 + 0.06 * _smooth_noise(rng, gh - depth, w, 3)[..., None])
      img[hz + depth:] = sand
  return sky


def _weighted_choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
  r = rng.random() * sum(p for _, p in options)
  for name, p in options:
    r -= p
    if r <= 0:
      return name
  return options[-1][0]


def _draw_roof(draw, mdraw, kind: str, x0: float, x1: float, y: float, h: int,
               roof: tuple[int, int, int], rng: np.random.Generator) -> None:
  """Draws a roof of `kind` on a building spanning [x0, x1] whose top is at y."""
  w = x1 - x0
  cx = (x0 + x1) / 2
  shapes = []
  if kind == "pitched":
    shapes.append(("poly", [(x0 - 1, y), (x1 + 1, y), (cx, y - w * rng.uniform(0.3, 0.55))]))
  elif kind == "spire":
    shapes.append(("poly", [(cx - w * 0.2, y), (cx + w * 0.2, y), (cx, y - 0.25 * h)]))
  elif kind == "dome":
    r = w * rng.uniform(0.25, 0.4)
    shapes.append(("ellipse", [cx - r, y - r, cx + r, y + r]))
  elif kind == "onion":
    r = w * 0.25
    shapes.append(("ellipse", [cx - r, y - 2 * r, cx + r, y]))
    shapes.append(("poly", [(cx - r * 0.5, y - 1.7 * r), (cx + r * 0.5, y - 1.7 * r),
                            (cx, y - 3 * r)]))
  elif kind == "minaret":
    mx = x1 - w * 0.12
    top = y - 0.18 * h
    shapes.append(("poly", [(mx - 1.5, y), (mx + 1.5, y), (mx + 1.5, top), (mx - 1.5, top)]))
    shapes.append(("poly", [(mx - 2.5, top), (mx + 2.5, top), (mx, top - 0.05 * h)]))
  elif kind == "pagoda":
    for i in range(3):
      yy = y - i * 0.06 * h
      ww = w * (0.65 - 0.15 * i)
      shapes.append(("poly", [(cx - ww, yy), (cx + ww, yy), (cx + ww * 0.6, yy - 0.05 * h),
                              (cx - ww * 0.6, yy - 0.05 * h)]))
  elif kind == "shikhara":
    shapes.append(("poly", [(x0 + w * 0.15, y), (x1 - w * 0.15, y), (cx + w * 0.12, y - 0.6 * w),
                            (cx, y - 0.8 * w), (cx - w * 0.12, y - 0.6 * w)]))
  elif kind == "stupa":
    r = w * 0.3
    shapes.append(("ellipse", [cx - r, y - r, cx + r, y + r]))
    shapes.append(("poly", [(cx - r * 0.35, y - r * 0.8), (cx + r * 0.35, y - r * 0.8),
                            (cx, y - r * 2.6)]))
  elif kind == "antenna":
    shapes.append(("line", [(cx, y), (cx, y - 0.12 * h)]))
  for shape, pts in shapes:
    if shape == "poly":
      draw.polygon(pts, fill=roof)
      mdraw.polygon(pts, fill=_OTHER)
    elif shape == "ellipse":
      draw.ellipse(pts, fill=roof)
      mdraw.ellipse(pts, fill=_OTHER)
    else:
      draw.line(pts, fill=roof, width=1)
      mdraw.line(pts, fill=_OTHER, width=1)


def _draw_skyline(draw, mdraw, scene: Scene, rng: np.random.Generator, base: float) -> None:
  """A row of buildings in the region's style standing on y = base."""
  h, w = scene.height, scene.width
  style = _STYLES[scene.region]
  density = scene.skyline
  x = -rng.uniform(0, 0.1) * h
  walls = np.array(style.walls, np.float32)
  roofs = np.array(style.roofs, np.float32)
  prefer, height_mul, _ = _city_look(scene.city_style, len(walls))
  while x < w:
    bw = rng.uniform(*style.width) * h
    if rng.random() > 0.25 + 0.75 * density:
      x += bw * rng.uniform(0.3, 1.0)  # a gap between buildings
      continue
    bh = rng.uniform(*style.height) * h * (0.45 + 0.55 * density) * height_mul
    pick = prefer[rng.integers(len(prefer))] if rng.random() < 0.75 else rng.integers(len(walls))
    wall = walls[pick] * rng.uniform(0.85, 1.1)
    roof = roofs[rng.integers(len(roofs))] * rng.uniform(0.85, 1.1)
    box = [x, base - bh, x + bw, base]
    draw.rectangle(box, fill=_to_u8(wall))
    mdraw.rectangle(box, fill=_WALL)
    _draw_roof(draw, mdraw, _weighted_choice(rng, style.roof_kinds), x, x + bw, base - bh, h,
               _to_u8(roof), rng)
    x += bw * rng.uniform(0.9, 1.15)


def _draw_trees(draw, mdraw, scene: Scene, rng: np.random.Generator, hz: int, density: float
                ) -> None:
  """Climate-typical vegetation: conifers, round crowns, palms, acacias or shrubs."""
  h, w = scene.height, scene.width
  climate = scene.climate
  if climate == "polar" or density <= 0:
    return
  n = int(density * rng.uniform(0.5, 1.0) * w / 10)
  s = h / 96.0
  snowy = scene.snow
  for _ in range(n):
    x = rng.uniform(0, w)
    y = hz + rng.uniform(0, 0.35) * (h - hz)
    size = s * rng.uniform(0.6, 1.6) * (1.0 + 2.0 * (y - hz) / max(h - hz, 1))
    if climate == "boreal" or (climate == "temperate" and scene.region in ("europe", "arctic")
                               and rng.random() < 0.3):
      g = (0.08, 0.20, 0.11) if not snowy else (0.75, 0.80, 0.82)
      tri = [(x - 3 * size, y), (x + 3 * size, y), (x, y - 12 * size)]
      draw.polygon(tri, fill=_to_u8(np.array(g) * rng.uniform(0.8, 1.2)))
      mdraw.polygon(tri, fill=_PLANT)
    elif climate == "temperate":
      draw.line([(x, y), (x, y - 5 * size)], fill=(70, 50, 35), width=max(1, int(size)))
      box = [x - 4 * size, y - 12 * size, x + 4 * size, y - 4 * size]
      draw.ellipse(box, fill=_to_u8(np.array((0.20, 0.40, 0.15)) * rng.uniform(0.8, 1.25)))
      mdraw.ellipse(box, fill=_PLANT)
      mdraw.line([(x, y), (x, y - 5 * size)], fill=_PLANT, width=max(1, int(size)))
    elif climate == "tropical":
      if scene.region == "africa":  # acacia: flat crown on a thin trunk
        draw.line([(x, y), (x, y - 8 * size)], fill=(80, 60, 40), width=max(1, int(size)))
        box = [x - 7 * size, y - 11 * size, x + 7 * size, y - 7 * size]
        draw.ellipse(box, fill=(70, 95, 40))
        mdraw.ellipse(box, fill=_PLANT)
        continue
      top = (x + rng.uniform(-3, 3) * size, y - 14 * size)
      draw.line([(x, y), top], fill=(110, 85, 55), width=max(1, int(1.2 * size)))
      mdraw.line([(x, y), top], fill=_PLANT, width=max(1, int(1.2 * size)))
      green = _to_u8(np.array((0.10, 0.45, 0.15)) * rng.uniform(0.8, 1.2))
      for ang in np.linspace(0.2, math.pi - 0.2, 5):
        tip = (top[0] + 7 * size * math.cos(ang), top[1] - 3 * size * math.sin(ang) + 3 * size)
        draw.line([top, tip], fill=green, width=max(1, int(size)))
        mdraw.line([top, tip], fill=_PLANT, width=max(1, int(size)))
    else:  # arid: sparse low shrubs
      if rng.random() < 0.5:
        box = [x - 3 * size, y - 3 * size, x + 3 * size, y]
        draw.ellipse(box, fill=(95, 100, 60))
        mdraw.ellipse(box, fill=_PLANT)


def _draw_landmark(draw, mdraw, key: str, cx: float, base: float, height: float, squash: float,
                   rng: np.random.Generator) -> None:
  """Paints a landmark's primitives, with a per-photo colour jitter (light, white balance)."""
  prims, palette = drawings.LANDMARK_SHAPES[key]
  pal = palette * rng.uniform(0.85, 1.12) * rng.uniform(0.94, 1.06, 3).astype(np.float32)
  colours = [_to_u8(c) for c in pal]
  sx = height * squash
  for kind, c, pts, width in prims:
    xs = cx + pts[:, 0] * sx
    ys = base - pts[:, 1] * height
    if kind == "poly":
      xy = np.stack([xs, ys], 1).ravel().tolist()
      draw.polygon(xy, fill=colours[c])
      mdraw.polygon(xy, fill=_LANDMARK)
    elif kind == "ellipse":
      box = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
      draw.ellipse(box, fill=colours[c])
      mdraw.ellipse(box, fill=_LANDMARK)
    else:
      xy = np.stack([xs, ys], 1).ravel().tolist()
      lw = max(1, int(round(width * height)))
      draw.line(xy, fill=colours[c], width=lw)
      mdraw.line(xy, fill=_LANDMARK, width=lw)


def render_array(scene: Scene, rng: np.random.Generator) -> np.ndarray:
  """Renders a scene to an (height, width, 3) uint8 array.

  Args:
    scene: What the photo shows.
    rng: The photo's generator; all jitter comes from it.

  Returns:
    The image as uint8 RGB.
  """
  h, w = scene.height, scene.width
  yy, xx, vignette = _grid(h, w)
  if scene.landmark is not None:
    hz = int(h * rng.uniform(0.55, 0.72))  # low horizon: room for the landmark above it
  else:
    hz = int(h * rng.uniform(0.38, 0.62))
  img = np.empty((h, w, 3), np.float32)
  sky = _paint_background(scene, rng, img, hz)

  im = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
  mask = Image.new("L", (w, h), 0)
  draw, mdraw = ImageDraw.Draw(im), ImageDraw.Draw(mask)
  if scene.terrain != "water":
    _draw_trees(draw, mdraw, scene, rng, hz, 0.5 * scene.vegetation)
  base = hz if scene.terrain == "water" else hz + rng.uniform(0.0, 0.08) * (h - hz)
  if scene.skyline > 0:
    _draw_skyline(draw, mdraw, scene, rng, base)
  if scene.landmark is not None:
    lm_base = base if scene.terrain == "water" else hz + rng.uniform(0.02, 0.2) * (h - hz)
    _draw_landmark(draw, mdraw, scene.landmark, scene.landmark_x * w, lm_base,
                   scene.landmark_scale * h, scene.landmark_squash, rng)
  if scene.terrain != "water":
    # Foreground trees, nearer and larger.
    _draw_trees(draw, mdraw, scene, rng, int(hz + 0.3 * (h - hz)), 0.4 * scene.vegetation)

  img = np.asarray(im, dtype=np.float32) * (1.0 / 255.0)
  m = np.asarray(mask)
  solid = ~sky | (m > 0)
  tod = scene.time_of_day
  if tod != "day":
    factor = {"overcast": _rgb(0.9, 0.9, 0.92), "golden": _rgb(0.95, 0.74, 0.55),
              "night": _rgb(0.16, 0.18, 0.26)}[tod]
    lit = np.where(solid[..., None], factor, 1.0)
    if tod == "night":  # floodlit landmarks
      lit = np.where((m == _LANDMARK)[..., None], _rgb(0.85, 0.72, 0.5), lit)
    img = img * lit
    if tod == "overcast":
      grey = img.mean(-1, keepdims=True)
      img = 0.6 * img + 0.4 * grey
  walls = m == _WALL
  if walls.any():
    style = _STYLES[scene.region]
    s = h / 96.0
    py, px, wy, wx = (max(1, int(round(v * s))) for v in style.windows)
    yi = yy.astype(np.int32)
    xi = xx.astype(np.int32)
    win = walls & ((yi % py) < wy) & ((xi % px) < wx)
    if tod == "night":
      on = rng.random((h // py + 1, w // px + 1)) < 0.55
      win &= on[yi // py, xi // px]
      img = np.where(win[..., None], _rgb(1.0, 0.85, 0.5) * rng.uniform(0.7, 1.0), img)
    else:
      img = np.where(win[..., None], 0.45 * img + 0.55 * np.array(style.glass, np.float32), img)

  # Camera: exposure, white balance, vignetting, sensor noise.
  gain = rng.uniform(0.85, 1.15) * rng.uniform(0.94, 1.06, 3).astype(np.float32)
  img = img * gain * vignette
  img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(0.01, 0.035))
  return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode_jpeg(arr: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
  """Encodes a uint8 RGB array as JPEG bytes (deterministic for the same input)."""
  buf = io.BytesIO()
  Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
  return buf.getvalue()


def render_jpeg(scene: Scene, rng: np.random.Generator) -> bytes:
  """Renders a scene and encodes it as JPEG bytes."""
  return encode_jpeg(render_array(scene, rng))
