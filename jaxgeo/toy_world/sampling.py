"""Sampling of the toy world: where each photo was taken, what it shows, who took it, its tags.

These draws make a photo's content, tags and metadata depend on its place (what a geolocation
model can learn). `World` and `Plan` hold the draws over the whole world (users, photo ids,
bad-row positions); the per-photo functions take a generator from `photo_rng`, seeded by
(seed, split, index), which is what makes the output independent of the number of worker
processes.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import urllib.parse
from typing import Any

import numpy as np

from jaxgeo.toy_world import flickr, render
from jaxgeo.toy_world.catalogue import (CITIES, CITY_INDEX, COUNTRY_TAGS, LANDMARKS, NOISE_TAGS,
                                        REGION_TAGS, City, Landmark, city_weights)
from jaxgeo.toy_world.config import BAD_KINDS, ToyWorldConfig
from jaxgeo.toy_world.render import Scene

# The usual Im2GPS3k meta CSV labels 2,997 of its 3,000 images.
_IM2GPS3K_UNLABELLED_SHARE = 3 / 3000

# Split codes: the second seed word of every per-photo generator.
_SPLITS = {"yfcc": 1, "im2gps3k": 2, "yfcc4k": 3, "gldv2_train": 4, "gldv2_index": 5,
           "gldv2_test": 6}
MASTER_STREAM = 99  # ids, users, bad-record positions

_EARTH_KM_PER_DEG = 111.195


class World:
  """Everything derived from the config alone; rebuilt identically in every worker."""

  def __init__(self, config: ToyWorldConfig):
    self.config = config
    self.city_cdf = np.cumsum(city_weights())
    self.landmarks = LANDMARKS[:config.num_landmarks]
    lw = np.array([city_weights()[CITY_INDEX[lm.city]] for lm in self.landmarks])
    self.landmark_cdf = np.cumsum(lw / lw.sum())
    rng = np.random.default_rng([config.seed, MASTER_STREAM, 1])
    # Separate user pools: test-set authors never appear in training (as MP-16 excludes them).
    sizes = {"yfcc": max(20, config.num_train_photos // 12),
             "im2gps3k": max(5, config.num_test_photos // 4),
             "yfcc4k": max(5, config.num_yfcc4k_photos // 4)}
    all_users = flickr.make_users(rng, sum(sizes.values()))
    self.users, self.user_cdf, start = {}, {}, 0
    for pool, n in sizes.items():
      self.users[pool] = all_users[start:start + n]
      self.user_cdf[pool] = flickr.activity_cdf(n)
      start += n


class Plan:
  """Decisions over the whole world drawn from the master stream: ids and bad-row positions."""

  def __init__(self, config: ToyWorldConfig):
    rng = np.random.default_rng([config.seed, MASTER_STREAM])
    n_good, n_bad = config.num_train_photos, config.num_bad_per_kind
    self.n_rows = n_good + n_bad * len(BAD_KINDS)
    kinds = ["good"] * n_good + [k for k in BAD_KINDS for _ in range(n_bad)]
    self.kinds = [kinds[i] for i in rng.permutation(self.n_rows)]  # bad rows interleaved
    n_test, n_4k = config.num_test_photos, config.num_yfcc4k_photos
    ids = flickr.unique_photo_ids(rng, self.n_rows + n_test + n_4k)
    self.train_ids = ids[:self.n_rows]
    self.im2gps_ids = ids[self.n_rows:self.n_rows + n_test]
    self.yfcc4k_ids = ids[self.n_rows + n_test:]
    n_unlabelled = max(1, int(round(n_test * _IM2GPS3K_UNLABELLED_SHARE)))
    self.unlabelled = set(rng.choice(n_test, n_unlabelled, replace=False).tolist())
    # YFCC4k rows come from the full YFCC100M file: line numbers beyond this toy file's.
    self.yfcc4k_lines = sorted(rng.choice(np.arange(self.n_rows, self.n_rows + 50 * n_4k), n_4k,
                                          replace=False).tolist())


def photo_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """The generator of one photo: its draws depend on (seed, split, index) only."""
  return np.random.default_rng([seed, _SPLITS[split], index])


def offset(lat: float, lon: float, dist_km: float, bearing: float) -> tuple[float, float]:
  """Moves dist_km along `bearing` (flat-earth step, wrapped over poles and the antimeridian)."""
  lat2 = lat + dist_km * math.cos(bearing) / _EARTH_KM_PER_DEG
  coslat = max(math.cos(math.radians(lat)), 0.05)
  lon2 = lon + dist_km * math.sin(bearing) / (_EARTH_KM_PER_DEG * coslat)
  if lat2 > 90.0:
    lat2, lon2 = 180.0 - lat2, lon2 + 180.0
  elif lat2 < -90.0:
    lat2, lon2 = -180.0 - lat2, lon2 + 180.0
  lon2 = (lon2 + 180.0) % 360.0 - 180.0
  return lat2, lon2


def sample_place(rng: np.random.Generator, world: World
                 ) -> tuple[str, int, Landmark | None, float, float, float]:
  """Where a photo was taken: around a city (most), in the countryside, or at a landmark."""
  r = rng.random()
  if r < 0.10:
    lm = world.landmarks[int(np.searchsorted(world.landmark_cdf, rng.random()))]
    dist = min(abs(rng.normal(0.0, 0.25)), 1.5)  # a photo of a landmark is taken near it
    lat, lon = offset(lm.lat, lm.lon, dist, rng.uniform(0, 2 * math.pi))
    return "landmark", CITY_INDEX[lm.city], lm, lat, lon, dist
  ci = int(np.searchsorted(world.city_cdf, rng.random()))
  city = CITIES[ci]
  if r < 0.85:
    # Most photos cluster within ~10 km of the centre, with a heavier tail into the suburbs.
    dist = abs(rng.normal(0.0, 8.0)) if rng.random() < 0.7 else rng.lognormal(math.log(20), 0.7)
    mode = "city"
  else:
    dist = min(15.0 + rng.lognormal(math.log(50.0), 0.7), 600.0)
    mode = "rural"
  lat, lon = offset(city.lat, city.lon, dist, rng.uniform(0, 2 * math.pi))
  return mode, ci, None, lat, lon, dist


def _image_shape(rng: np.random.Generator, size: int) -> tuple[int, int]:
  """(width, height): 4:3 landscape, 3:4 portrait, square or 3:2, shorter side = size."""
  r = rng.random()
  if r < 0.55:
    return size * 4 // 3, size
  if r < 0.7:
    return size, size * 4 // 3
  if r < 0.9:
    return size, size
  return size * 3 // 2, size


def sample_scene(rng: np.random.Generator, city: City, mode: str, dist_km: float, size: int,
                 landmark: Landmark | None, lat: float) -> Scene:
  """What a photo taken at this place shows (the content's dependence on place)."""
  climate = city.climate
  water, mountain = city.p_water, city.p_mountain
  if mode == "rural":
    water, mountain = water * 0.5, min(1.0, mountain + 0.15)
  r = rng.random()
  terrain = "water" if r < water else "mountain" if r < water + mountain else "plain"
  cloudy = 0.25 if climate in ("boreal", "temperate") else 0.1
  r = rng.random()
  tod = ("overcast" if r < cloudy else "golden" if r < cloudy + 0.16
         else "night" if r < cloudy + 0.28 else "day")
  snow_p = {"polar": 0.97, "boreal": 0.55, "temperate": 0.12, "arid": 0.0, "tropical": 0.0}
  snow = rng.random() < snow_p[climate]
  if mode == "city":
    skyline = (max(0.1, 1.0 - dist_km / 40.0) * rng.uniform(0.6, 1.0)
               if rng.random() < 0.85 else 0.0)
  elif mode == "landmark":
    skyline = rng.uniform(0.0, 0.5)
  else:
    skyline = rng.uniform(0.1, 0.3) if rng.random() < 0.15 else 0.0
  vegetation = {"polar": 0.0, "boreal": 0.8, "temperate": 0.6, "arid": 0.15,
                "tropical": 0.9}[climate] * rng.uniform(0.3, 1.0)
  beach = (terrain == "water" and climate not in ("polar", "boreal")
           and rng.random() < (0.7 if climate == "tropical" else 0.35))
  width, height = _image_shape(rng, size)
  kwargs = {}
  if landmark is not None:
    kwargs = {"landmark": landmark.shape, "landmark_scale": rng.uniform(0.35, 0.8),
              "landmark_x": rng.uniform(0.3, 0.7), "landmark_squash": rng.uniform(0.8, 1.2)}
  aurora = (tod == "night" and climate in ("polar", "boreal") and abs(lat) > 60
            and rng.random() < 0.6)
  return Scene(width=width, height=height, climate=climate, region=city.region,
               terrain=terrain, time_of_day=tod, snow=snow, beach=beach,
               desert=climate == "arid" and terrain == "plain" and skyline == 0.0,
               skyline=float(skyline), vegetation=float(vegetation), aurora=aurora,
               city_style=CITY_INDEX[city.name], **kwargs)


def _place_tag_variants(rng: np.random.Generator, name: str) -> str:
  """Users write place names in several ways: 'New York', 'new york', 'newyork'."""
  r = rng.random()
  if r < 0.45:
    return name
  if r < 0.85:
    return name.lower()
  return name.lower().replace(" ", "")


def _make_tags(rng: np.random.Generator, scene: Scene, city: City, mode: str,
               landmark: Landmark | None, year: int, camera_brand: str) -> list[str]:
  """0-15 user tags from place, content and noise (raw strings, before URL encoding)."""
  if rng.random() < 0.12:
    return []  # many Flickr photos carry no tags
  tags: list[str] = []

  def maybe(p: float, tag: str) -> None:
    if rng.random() < p:
      tags.append(tag)

  near = 0.25 if mode == "rural" else 0.6
  maybe(near, _place_tag_variants(rng, city.name))
  maybe(0.45, _place_tag_variants(rng, city.country))
  for t in city.local_tags:
    maybe(0.2, t)
  for t in COUNTRY_TAGS.get(city.country, ()):
    maybe(0.18, t)
  for t in REGION_TAGS[city.region]:
    maybe(0.15, t)
  if landmark is not None:
    maybe(0.75, _place_tag_variants(rng, landmark.name))
    for t in landmark.aliases:
      maybe(0.35, t)
    maybe(0.3, "landmark")
  # Content.
  if scene.snow:
    maybe(0.5, "snow")
    maybe(0.3, "winter")
  if scene.terrain == "water":
    maybe(0.35, "water")
    maybe(0.25, "sea" if scene.climate in ("tropical", "arid") else "harbour")
    if scene.beach:
      maybe(0.55, "beach")
      maybe(0.2, "sand")
  if scene.terrain == "mountain":
    maybe(0.45, "mountains")
    maybe(0.2, "hiking" if not scene.snow else "skiing")
  if scene.desert:
    maybe(0.55, "desert")
    maybe(0.2, "dunes")
  if scene.skyline > 0.4:
    maybe(0.4, "skyline")
    maybe(0.35, "city")
    maybe(0.25, "architecture")
  elif scene.skyline == 0.0:
    maybe(0.35, "nature")
    maybe(0.2, "landscape")
  if scene.time_of_day == "golden":
    maybe(0.6, "sunset" if rng.random() < 0.75 else "sunrise")
  elif scene.time_of_day == "night":
    maybe(0.55, "night")
    maybe(0.15, "long exposure")
  elif scene.time_of_day == "overcast":
    maybe(0.2, "clouds")
  if scene.aurora:
    maybe(0.7, "aurora")
    maybe(0.5, "northern lights" if city.lat > 0 else "aurora australis")
  if scene.vegetation > 0.5 and scene.climate == "tropical":
    maybe(0.3, "palm trees")
  elif scene.vegetation > 0.5 and scene.climate == "boreal":
    maybe(0.3, "forest")
  # Noise that says nothing about place.
  maybe(0.2, str(year))
  if camera_brand:
    maybe(0.15, camera_brand.lower() if rng.random() < 0.6 else camera_brand)
  for t in NOISE_TAGS:
    maybe(0.06, t)
  seen, out = set(), []
  for t in tags:
    if t not in seen:
      seen.add(t)
      out.append(t)
  order = rng.permutation(len(out))
  return [out[i] for i in order[:15]]


def places_labels(rng: np.random.Generator, scene: Scene) -> dict[str, Any]:
  """Places365-style scene columns of the MP-16 meta CSV, made up from the scene.

  S3: 0 indoor, 1 natural, 2 urban. S16/S365 are synthetic but consistent with the scene.
  """
  urban = 0.1 + 0.8 * scene.skyline + (0.4 if scene.landmark else 0.0)
  natural = 0.2 + (0.5 if scene.skyline < 0.2 else 0.0) + (0.2 if scene.terrain != "plain"
                                                           else 0.0)
  indoor = rng.uniform(0.005, 0.06)
  probs = np.array([indoor, natural, urban]) * rng.uniform(0.8, 1.2, 3)
  probs /= probs.sum()
  s3 = int(np.argmax(probs))
  s16 = {0: 0, 1: 4 + render.TERRAINS.index(scene.terrain),
         2: 10 + render.CLIMATES.index(scene.climate) % 6}[s3]
  s365 = (s16 * 23 + render.REGIONS.index(scene.region) * 2 + int(scene.snow)) % 365
  return {"S3_Label": s3, "S16_Label": s16, "S365_Label": s365,
          "Prob_indoor": float(probs[0]), "Prob_natural": float(probs[1]),
          "Prob_urban": float(probs[2])}


def _enc(text: str) -> str:
  """YFCC100M text fields are URL-encoded with '+' for spaces."""
  return urllib.parse.quote_plus(text)


def yfcc_record(rng: np.random.Generator, world: World, pool: str, photo_id: int,
                city: City, scene: Scene, landmark: Landmark | None, mode: str,
                lat: float, lon: float) -> dict[str, Any]:
  """Every YFCC100M column of one photo except line number and bad-record edits."""
  users = world.users[pool]
  user = users[int(np.searchsorted(world.user_cdf[pool], rng.random()))]
  brand, camera = flickr.CAMERAS[user["camera"] if rng.random() < 0.85
                                 else int(rng.integers(len(flickr.CAMERAS)))]
  (first_id, last_id), (first_upload, last_upload) = flickr.ID_RANGE, flickr.UPLOAD_RANGE
  frac = (photo_id - first_id) / (last_id - first_id)
  uploaded = int(first_upload + frac * (last_upload - first_upload))
  taken = uploaded - int(rng.exponential(30 * 86400))
  # The hour matches the light in the photo (time zones ignored).
  hours = {"day": range(9, 17), "overcast": range(9, 17), "golden": (6, 7, 18, 19),
           "night": (21, 22, 23, 0, 1)}[scene.time_of_day]
  dt = datetime.datetime.fromtimestamp(taken, tz=datetime.timezone.utc).replace(
      hour=hours[int(rng.integers(len(hours)))])
  if dt.timestamp() > uploaded:
    dt -= datetime.timedelta(days=1)
  tags = _make_tags(rng, scene, city, mode, landmark, dt.year, brand)
  r = rng.random()
  if r < 0.35:
    title = f"{rng.choice(['IMG', 'DSC', 'P1010', 'DSCN'])}_{int(rng.integers(1, 9999)):04d}"
  elif r < 0.75:
    what = (landmark.name if landmark else scene.time_of_day.replace("golden", "Sunset")
            .replace("day", "Afternoon").replace("overcast", "Grey day").replace("night", "Night"))
    title = f"{what.capitalize() if not landmark else what} in {city.name}"
  else:
    title = ""
  description = (f"Taken during our trip to {city.name}, {city.country}."
                 if rng.random() < 0.2 else "")
  machine_tags = _enc(f"geo:locality={city.name}") if rng.random() < 0.05 else ""
  farm = int(rng.integers(1, 10))
  server = int(rng.integers(1, 8000))
  secret = rng.bytes(5).hex()
  original_secret = rng.bytes(5).hex()
  download = f"http://farm{farm}.staticflickr.com/{server}/{photo_id}_{secret}.jpg"
  licence = flickr.LICENCES[int(rng.integers(len(flickr.LICENCES)))]
  accuracy = int(rng.integers(14, 17)) if mode != "rural" else int(rng.integers(6, 17))
  return {
      "photo_id": photo_id, "hash": hashlib.md5(download.encode()).hexdigest(),
      "nsid": user["nsid"], "nickname": _enc(user["nickname"]),
      "taken": dt.strftime("%Y-%m-%d %H:%M:%S.0"), "uploaded": str(uploaded),
      "camera": _enc(camera), "title": _enc(title), "description": _enc(description),
      "tags": ",".join(_enc(t) for t in tags), "machine_tags": machine_tags,
      "lon": f"{lon:.6f}", "lat": f"{lat:.6f}", "accuracy": str(accuracy),
      "page_url": f"http://www.flickr.com/photos/{user['nsid']}/{photo_id}/",
      "download_url": download, "licence_name": licence[0], "licence_url": licence[1],
      "server": str(server), "farm": str(farm), "secret": secret,
      "original_secret": original_secret, "extension": "jpg", "marker": "0",
  }
