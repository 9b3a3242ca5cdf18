"""The toy world: a small, seeded photo-geolocation world written in the official raw formats.

No real photos can be downloaded at run time, so the quickstart generates ~20k photos whose
content depends on where they were taken (climate by latitude band, region building styles,
terrain, a few landmarks at fixed real coordinates), with user tags that depend on content and
place, and writes them exactly as YFCC100M, MP-16, Im2GPS3k, YFCC4k and Google Landmarks v2 are
distributed (each builder's README in tfds_builders/ describes them). The project's data-set
builders then read these files as they would read the real ones.

  python -m jaxgeo.toy_world --out /tmp/toy_world --num_train_photos 20000

Every photo is drawn from its own generator seeded by (seed, split, index), so the output is
byte-identical for a seed whatever the number of worker processes. Only `manifest.json`'s
"generation" entry (wall time, worker count) differs between runs.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import shutil
import tarfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

from absl import app
from absl import flags
import msgpack
import numpy as np

from jaxgeo.toy_world import render
from jaxgeo.toy_world.render import Scene

# Records per MP-16 msgpack shard, as GeoEstimation distributes them.
MP16_SHARD_SIZE = 4096
# Images per GLDv2 tar file (the real tars hold ~8k; small tars keep the toy ones handy).
GLDV2_IMAGES_PER_TAR = 2000
# Fixed tar member metadata, so tars are byte-identical across runs.
_TAR_MTIME = 1_546_300_800  # 2019-01-01, the GLDv2 release year
# The usual Im2GPS3k meta CSV labels 2,997 of its 3,000 images.
_IM2GPS3K_UNLABELLED_SHARE = 3 / 3000
BAD_KINDS = ("no_gps", "bad_coordinates", "video", "missing_image", "empty_image",
             "corrupt_image")
# Number of rows copied into the 23-column (older layout) metadata sample.
_NUM_23COL_ROWS = 12

# Split codes: the second seed word of every per-photo generator.
_SPLITS = {"yfcc": 1, "im2gps3k": 2, "yfcc4k": 3, "gldv2_train": 4, "gldv2_index": 5,
           "gldv2_test": 6}
_MASTER_STREAM = 99  # ids, users, bad-record positions

_EARTH_KM_PER_DEG = 111.195


@dataclasses.dataclass(frozen=True)
class City:
  """A real city (facts) and how the toy world renders it."""
  name: str
  country: str
  lat: float
  lon: float
  region: str  # a render.REGIONS style
  climate: str  # a render.CLIMATES entry
  p_water: float  # share of photos with water (sea, river, lake, fjord)
  p_mountain: float  # share of photos with mountains
  local_tags: tuple[str, ...] = ()  # nicknames and names in the local script


# Ordered by Flickr-style popularity (Zipf rank); the climate follows the latitude band except
# where a city's real climate clearly differs (Dubai, Lima, Singapore, ...).
CITIES: tuple[City, ...] = (
    City("London", "United Kingdom", 51.5074, -0.1278, "europe", "temperate", 0.4, 0.0,
         ("londres", "LDN")),
    City("New York", "United States", 40.7128, -74.0060, "north_america", "temperate", 0.5, 0.0,
         ("nyc", "Manhattan", "big apple")),
    City("Paris", "France", 48.8566, 2.3522, "europe", "temperate", 0.35, 0.0, ("paname",)),
    City("Tokyo", "Japan", 35.6762, 139.6503, "east_asia", "temperate", 0.3, 0.1, ("東京",)),
    City("San Francisco", "United States", 37.7749, -122.4194, "north_america", "temperate",
         0.6, 0.2, ("sf", "bay area")),
    City("Rome", "Italy", 41.9028, 12.4964, "europe", "temperate", 0.15, 0.05, ("roma",)),
    City("Barcelona", "Spain", 41.3851, 2.1734, "europe", "temperate", 0.5, 0.2, ("bcn",)),
    City("Berlin", "Germany", 52.5200, 13.4050, "europe", "temperate", 0.3, 0.0, ()),
    City("Sydney", "Australia", -33.8688, 151.2093, "oceania", "temperate", 0.7, 0.0, ()),
    City("Los Angeles", "United States", 34.0522, -118.2437, "north_america", "arid", 0.3, 0.3,
         ("LA", "hollywood")),
    City("Chicago", "United States", 41.8781, -87.6298, "north_america", "temperate", 0.5, 0.0,
         ("windy city",)),
    City("Istanbul", "Turkey", 41.0082, 28.9784, "middle_east", "temperate", 0.6, 0.0,
         ("bosphorus",)),
    City("Moscow", "Russia", 55.7558, 37.6173, "eastern_europe", "boreal", 0.3, 0.0,
         ("Москва",)),
    City("Beijing", "China", 39.9042, 116.4074, "east_asia", "temperate", 0.1, 0.2,
         ("北京", "peking")),
    City("Hong Kong", "China", 22.3193, 114.1694, "east_asia", "tropical", 0.6, 0.3,
         ("香港", "hk")),
    City("Singapore", "Singapore", 1.3521, 103.8198, "southeast_asia", "tropical", 0.5, 0.0,
         ("sg",)),
    City("Dubai", "United Arab Emirates", 25.2048, 55.2708, "middle_east", "arid", 0.4, 0.0,
         ()),
    City("Rio de Janeiro", "Brazil", -22.9068, -43.1729, "latin_america", "tropical", 0.55, 0.35,
         ("rio",)),
    City("Mexico City", "Mexico", 19.4326, -99.1332, "latin_america", "temperate", 0.05, 0.3,
         ("cdmx", "df")),
    City("Bangkok", "Thailand", 13.7563, 100.5018, "southeast_asia", "tropical", 0.4, 0.0,
         ("กรุงเทพ",)),
    City("Seattle", "United States", 47.6062, -122.3321, "north_america", "temperate", 0.5, 0.3,
         ()),
    City("Toronto", "Canada", 43.6532, -79.3832, "north_america", "temperate", 0.5, 0.0,
         ("the six",)),
    City("Amsterdam", "Netherlands", 52.3676, 4.9041, "europe", "temperate", 0.6, 0.0,
         ("grachten",)),
    City("Cairo", "Egypt", 30.0444, 31.2357, "middle_east", "arid", 0.2, 0.0, ("القاهرة",)),
    City("Mumbai", "India", 19.0760, 72.8777, "south_asia", "tropical", 0.5, 0.0, ("bombay",)),
    City("Delhi", "India", 28.7041, 77.1025, "south_asia", "arid", 0.1, 0.0, ("new delhi",)),
    City("Buenos Aires", "Argentina", -34.6037, -58.3816, "latin_america", "temperate", 0.4, 0.0,
         ("baires",)),
    City("Cape Town", "South Africa", -33.9249, 18.4241, "africa", "temperate", 0.5, 0.45, ()),
    City("Kyoto", "Japan", 35.0116, 135.7681, "east_asia", "temperate", 0.15, 0.4, ("京都",)),
    City("Athens", "Greece", 37.9838, 23.7275, "europe", "temperate", 0.25, 0.2, ("Αθήνα",)),
    City("Kuala Lumpur", "Malaysia", 3.1390, 101.6869, "southeast_asia", "tropical", 0.1, 0.2,
         ("KL",)),
    City("Vancouver", "Canada", 49.2827, -123.1207, "north_america", "temperate", 0.55, 0.45, ()),
    City("Reykjavik", "Iceland", 64.1466, -21.9426, "arctic", "boreal", 0.5, 0.4,
         ("reykjavík",)),
    City("Auckland", "New Zealand", -36.8485, 174.7633, "oceania", "temperate", 0.6, 0.1, ()),
    City("Seoul", "South Korea", 37.5665, 126.9780, "east_asia", "temperate", 0.2, 0.35,
         ("서울",)),
    City("Shanghai", "China", 31.2304, 121.4737, "east_asia", "temperate", 0.45, 0.0, ("上海",)),
    City("Miami", "United States", 25.7617, -80.1918, "north_america", "tropical", 0.7, 0.0, ()),
    City("Marrakesh", "Morocco", 31.6295, -7.9811, "middle_east", "arid", 0.0, 0.4,
         ("marrakech",)),
    City("Anchorage", "United States", 61.2181, -149.9003, "north_america", "boreal", 0.4, 0.5,
         ()),
    City("Tehran", "Iran", 35.6892, 51.3890, "middle_east", "arid", 0.0, 0.5, ("تهران",)),
    City("Helsinki", "Finland", 60.1699, 24.9384, "europe", "boreal", 0.5, 0.0, ()),
    City("Oslo", "Norway", 59.9139, 10.7522, "europe", "boreal", 0.5, 0.2, ()),
    City("Saint Petersburg", "Russia", 59.9311, 30.3609, "eastern_europe", "boreal", 0.5, 0.0,
         ("Санкт-Петербург", "piter")),
    City("Lima", "Peru", -12.0464, -77.0428, "latin_america", "arid", 0.5, 0.1, ()),
    City("Santiago", "Chile", -33.4489, -70.6693, "latin_america", "temperate", 0.0, 0.6, ()),
    City("Havana", "Cuba", 23.1136, -82.3666, "latin_america", "tropical", 0.6, 0.0,
         ("la habana",)),
    City("Nairobi", "Kenya", -1.2921, 36.8219, "africa", "tropical", 0.0, 0.1, ()),
    City("Kathmandu", "Nepal", 27.7172, 85.3240, "south_asia", "temperate", 0.0, 0.8, ()),
    City("Perth", "Australia", -31.9505, 115.8605, "oceania", "arid", 0.5, 0.0, ()),
    City("Honolulu", "United States", 21.3069, -157.8583, "oceania", "tropical", 0.7, 0.3,
         ("oahu",)),
    City("Jakarta", "Indonesia", -6.2088, 106.8456, "southeast_asia", "tropical", 0.3, 0.0, ()),
    City("Manila", "Philippines", 14.5995, 120.9842, "southeast_asia", "tropical", 0.4, 0.0, ()),
    City("Lagos", "Nigeria", 6.5244, 3.3792, "africa", "tropical", 0.5, 0.0, ()),
    City("Riyadh", "Saudi Arabia", 24.7136, 46.6753, "middle_east", "arid", 0.0, 0.0,
         ("الرياض",)),
    City("Quito", "Ecuador", -0.1807, -78.4678, "latin_america", "temperate", 0.0, 0.7, ()),
    City("Dakar", "Senegal", 14.7167, -17.4677, "africa", "arid", 0.6, 0.0, ()),
    City("Johannesburg", "South Africa", -26.2041, 28.0473, "africa", "temperate", 0.0, 0.1,
         ("jozi", "joburg")),
    City("Addis Ababa", "Ethiopia", 9.0300, 38.7400, "africa", "temperate", 0.0, 0.4, ()),
    City("Alice Springs", "Australia", -23.6980, 133.8807, "oceania", "arid", 0.0, 0.25, ()),
    City("Tromsø", "Norway", 69.6492, 18.9553, "arctic", "polar", 0.5, 0.5, ("tromso",)),
    City("Ushuaia", "Argentina", -54.8019, -68.3030, "latin_america", "boreal", 0.5, 0.5,
         ("fin del mundo",)),
    City("Murmansk", "Russia", 68.9585, 33.0827, "eastern_europe", "polar", 0.4, 0.1,
         ("Мурманск",)),
    City("Nuuk", "Greenland", 64.1814, -51.6941, "arctic", "polar", 0.6, 0.4, ()),
    City("Suva", "Fiji", -18.1416, 178.4419, "oceania", "tropical", 0.7, 0.2, ()),
    # West of the antimeridian from Suva: the Fiji-Tonga cluster straddles +-180 degrees.
    City("Nuku'alofa", "Tonga", -21.1394, -175.2049, "oceania", "tropical", 0.8, 0.0,
         ("tongatapu",)),
    City("Longyearbyen", "Svalbard", 78.2232, 15.6267, "arctic", "polar", 0.5, 0.5,
         ("svalbard",)),
    City("McMurdo Station", "Antarctica", -77.8419, 166.6863, "antarctic", "polar", 0.4, 0.5,
         ("mcmurdo", "ross island")),
)
_CITY_INDEX = {c.name: i for i, c in enumerate(CITIES)}


@dataclasses.dataclass(frozen=True)
class Landmark:
  """A real landmark at its real coordinate, drawn with render.LANDMARK_SHAPES[shape]."""
  name: str
  city: str
  lat: float
  lon: float
  shape: str
  aliases: tuple[str, ...] = ()


# Ordered so that any prefix spreads over the continents; num_landmarks takes the first N.
LANDMARKS: tuple[Landmark, ...] = (
    Landmark("Eiffel Tower", "Paris", 48.8584, 2.2945, "eiffel", ("tour eiffel",)),
    Landmark("Big Ben", "London", 51.5007, -0.1246, "big_ben", ("elizabeth tower",)),
    Landmark("Statue of Liberty", "New York", 40.6892, -74.0445, "liberty", ("lady liberty",)),
    Landmark("Tokyo Tower", "Tokyo", 35.6586, 139.7454, "tokyo_tower", ("東京タワー",)),
    Landmark("Sydney Opera House", "Sydney", -33.8568, 151.2153, "opera_house", ("opera house",)),
    Landmark("Christ the Redeemer", "Rio de Janeiro", -22.9519, -43.2105, "christ_redeemer",
             ("cristo redentor", "corcovado")),
    Landmark("Great Pyramid of Giza", "Cairo", 29.9792, 31.1342, "giza", ("pyramids", "giza")),
    Landmark("Colosseum", "Rome", 41.8902, 12.4922, "colosseum", ("colosseo",)),
    Landmark("Golden Gate Bridge", "San Francisco", 37.8199, -122.4783, "golden_gate",
             ("golden gate",)),
    Landmark("Taj Mahal", "Delhi", 27.1751, 78.0421, "taj_mahal", ("agra",)),
    Landmark("Burj Khalifa", "Dubai", 25.1972, 55.2744, "burj", ()),
    Landmark("Saint Basil's Cathedral", "Moscow", 55.7525, 37.6231, "st_basil",
             ("red square", "Храм Василия Блаженного")),
    Landmark("Forbidden City", "Beijing", 39.9163, 116.3972, "forbidden_city", ("故宫",)),
    Landmark("Table Mountain", "Cape Town", -33.9628, 18.4098, "table_mountain", ()),
    Landmark("Sagrada Família", "Barcelona", 41.4036, 2.1744, "sagrada", ("gaudi",)),
    Landmark("Petronas Towers", "Kuala Lumpur", 3.1579, 101.7116, "petronas", ("klcc",)),
    Landmark("Brandenburg Gate", "Berlin", 52.5163, 13.3777, "brandenburg",
             ("brandenburger tor",)),
    Landmark("Hallgrímskirkja", "Reykjavik", 64.1417, -21.9266, "hallgrimskirkja",
             ("hallgrimskirkja",)),
    Landmark("Marina Bay Sands", "Singapore", 1.2834, 103.8607, "marina_bay_sands",
             ("marina bay",)),
    Landmark("CN Tower", "Toronto", 43.6426, -79.3871, "cn_tower", ()),
    Landmark("Space Needle", "Seattle", 47.6205, -122.3493, "space_needle", ()),
    Landmark("Gateway of India", "Mumbai", 18.9220, 72.8347, "gateway_of_india", ()),
    Landmark("Pyramid of the Sun", "Mexico City", 19.6925, -98.8438, "pyramid_of_the_sun",
             ("teotihuacan",)),
    Landmark("Hagia Sophia", "Istanbul", 41.0086, 28.9802, "hagia_sophia", ("ayasofya",)),
    Landmark("Parthenon", "Athens", 37.9715, 23.7267, "parthenon", ("acropolis",)),
    Landmark("Wat Arun", "Bangkok", 13.7437, 100.4888, "wat_arun", ("temple of dawn",)),
    Landmark("Obelisco de Buenos Aires", "Buenos Aires", -34.6037, -58.3816, "obelisco",
             ("obelisco",)),
    Landmark("Sky Tower", "Auckland", -36.8485, 174.7622, "sky_tower", ()),
    Landmark("Fushimi Inari-taisha", "Kyoto", 34.9671, 135.7727, "fushimi_inari",
             ("torii", "伏見稲荷大社")),
    Landmark("Arctic Cathedral", "Tromsø", 69.6479, 18.9870, "arctic_cathedral",
             ("ishavskatedralen",)),
    Landmark("Azadi Tower", "Tehran", 35.6997, 51.3380, "azadi", ("borj-e azadi",)),
    Landmark("Koutoubia Mosque", "Marrakesh", 31.6237, -7.9936, "koutoubia", ("koutoubia",)),
    Landmark("Oriental Pearl Tower", "Shanghai", 31.2397, 121.4998, "oriental_pearl",
             ("东方明珠",)),
    Landmark("Solomon R. Guggenheim Museum", "New York", 40.7830, -73.9590, "guggenheim",
             ("guggenheim",)),
    Landmark("Kingdom Centre", "Riyadh", 24.7113, 46.6744, "kingdom_centre", ()),
)

# Tags that make sense in one country only (the place signal a tag model can learn).
COUNTRY_TAGS: dict[str, tuple[str, ...]] = {
    "United Kingdom": ("double decker", "pub", "red phone box", "tube"),
    "United States": ("usa", "road trip", "downtown", "americana"),
    "France": ("boulangerie", "métro", "francais"),
    "Japan": ("hanami", "sakura", "shinkansen", "onsen", "nihon"),
    "Italy": ("piazza", "gelato", "vespa"),
    "Spain": ("tapas", "flamenco"),
    "Germany": ("biergarten", "deutschland", "ubahn"),
    "Australia": ("outback", "kangaroo", "aussie"),
    "Turkey": ("türkiye", "turkish delight", "çay"),
    "Russia": ("matryoshka", "россия", "soviet"),
    "China": ("dim sum", "hutong", "中国"),
    "Singapore": ("hawker", "merlion"),
    "United Arab Emirates": ("uae", "emirates"),
    "Brazil": ("carnaval", "favela", "caipirinha"),
    "Mexico": ("tacos", "dia de muertos", "mariachi"),
    "Thailand": ("tuk tuk", "pad thai", "siam"),
    "Canada": ("hockey", "maple leaf", "canuck"),
    "Netherlands": ("fietsen", "holland", "tulips"),
    "Egypt": ("felucca", "pharaoh", "nile"),
    "India": ("rickshaw", "chai", "holi", "incredible india"),
    "Argentina": ("tango", "asado", "mate"),
    "South Africa": ("braai", "rainbow nation"),
    "Greece": ("ouzo", "hellas"),
    "Malaysia": ("nasi lemak", "malaysia truly asia"),
    "Iceland": ("geysir", "ísland"),
    "New Zealand": ("kiwi", "aotearoa", "middle earth"),
    "South Korea": ("kimchi", "hanok", "한국"),
    "Morocco": ("medina", "tagine", "souk"),
    "Iran": ("persian", "ایران"),
    "Finland": ("sauna", "suomi"),
    "Norway": ("fjord", "norge"),
    "Peru": ("ceviche", "inca"),
    "Chile": ("andes", "pisco"),
    "Cuba": ("vintage cars", "mojito", "salsa"),
    "Kenya": ("safari", "maasai", "big five"),
    "Nepal": ("himalaya", "trekking", "stupa"),
    "Indonesia": ("nasi goreng", "batik"),
    "Philippines": ("jeepney", "pinoy"),
    "Nigeria": ("naija", "jollof"),
    "Saudi Arabia": ("ksa", "najd"),
    "Ecuador": ("mitad del mundo", "ecuador"),
    "Senegal": ("teranga", "gorée"),
    "Ethiopia": ("injera", "habesha"),
    "Greenland": ("kalaallit nunaat", "inuit", "icebergs"),
    "Fiji": ("bula", "fijian"),
    "Tonga": ("malo e lelei", "kingdom of tonga"),
    "Svalbard": ("polar bear", "high arctic"),
    "Antarctica": ("penguins", "research station", "ice shelf"),
}
# Tags shared by a region's countries.
REGION_TAGS: dict[str, tuple[str, ...]] = {
    "europe": ("europe", "old town", "cathedral"),
    "eastern_europe": ("eastern europe", "kremlin"),
    "north_america": ("north america", "skyscraper"),
    "latin_america": ("latin america", "plaza", "colonial"),
    "middle_east": ("mosque", "bazaar", "minaret"),
    "africa": ("africa", "market"),
    "south_asia": ("temple", "street life"),
    "east_asia": ("asia", "pagoda"),
    "southeast_asia": ("asia", "street food"),
    "oceania": ("down under", "pacific"),
    "arctic": ("arctic", "midnight sun"),
    "antarctic": ("antarctica", "expedition"),
}
_NOISE_TAGS = ("vacation", "travel", "holiday", "trip", "family", "friends", "summer", "geotagged",
               "photo", "me", "fun", "Travel", "2 weeks off")
_CAMERAS = (
    ("Canon", "Canon EOS 400D Digital"), ("Canon", "Canon EOS 5D Mark II"),
    ("Canon", "Canon PowerShot S95"), ("Nikon", "NIKON D90"), ("Nikon", "NIKON D700"),
    ("Nikon", "NIKON COOLPIX P7000"), ("Sony", "SONY DSC-RX100"), ("Apple", "Apple iPhone 4"),
    ("Apple", "Apple iPhone 5"), ("Panasonic", "Panasonic DMC-LX5"), ("Olympus", "OLYMPUS E-M5"),
    ("Fujifilm", "FUJIFILM X100"), ("", ""),
)
_LICENCES = (
    ("Attribution-NonCommercial-ShareAlike License",
     "http://creativecommons.org/licenses/by-nc-sa/2.0/"),
    ("Attribution-NonCommercial License", "http://creativecommons.org/licenses/by-nc/2.0/"),
    ("Attribution-NonCommercial-NoDerivs License",
     "http://creativecommons.org/licenses/by-nc-nd/2.0/"),
    ("Attribution License", "http://creativecommons.org/licenses/by/2.0/"),
    ("Attribution-ShareAlike License", "http://creativecommons.org/licenses/by-sa/2.0/"),
    ("Attribution-NoDerivs License", "http://creativecommons.org/licenses/by-nd/2.0/"),
)
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "jo", "an", "el", "sa", "vi", "do", "ne", "ru", "ta",
              "be", "xi", "po", "li", "mar", "co")
# Flickr photo ids grow with upload time: map the id range onto 2007-01 .. 2014-06 uploads.
_ID_RANGE = (1_000_000_000, 12_000_000_000)
_UPLOAD_RANGE = (1_167_609_600, 1_401_580_800)

# MP-16 meta CSV header (and that of later copies of the Im2GPS / Im2GPS3k label files).
PLACES365_HEADER = ("IMG_ID", "AUTHOR", "LAT", "LON", "S3_Label", "S16_Label", "S365_Label",
                    "Prob_indoor", "Prob_natural", "Prob_urban")
# The 2018 Im2GPS / Im2GPS3k label files' header: it names LON before LAT, but the values under
# it are latitudes then longitudes, as in every other copy. The toy Im2GPS3k set is written this
# way, so every quickstart reads the harder variant (jaxgeo.geo.coordinate_csv).
PLACES365_HEADER_2018 = ("IMG_ID", "AUTHOR", "LON", "LAT", *PLACES365_HEADER[4:])


@dataclasses.dataclass(frozen=True)
class ToyWorldConfig:
  """Size and seed of the toy world.

  Attributes:
    seed: Seed of everything generated.
    num_train_photos: Good (usable) YFCC100M training photos; bad records come on top.
    num_test_photos: Images of the Im2GPS3k-style test set.
    num_yfcc4k_photos: Photos of the YFCC4k-style test set.
    image_size: Shorter image side in pixels.
    num_landmarks: Landmarks of the world (the first N of LANDMARKS).
    gldv2_train_per_landmark: GLDv2 train images per landmark (about 20% of them noisy).
    gldv2_index_per_landmark: GLDv2 index images per landmark.
    gldv2_test_photos: GLDv2 test images; about a quarter show no landmark.
    gldv2_ignored_fraction: Share of the GLDv2 test images whose solution rows say "Ignored"
      (no ground truth, left out of every score), as in the v2.1 solutions.
    bad_fraction: Share of YFCC100M metadata rows of each bad kind (BAD_KINDS).
    mp16: Also write the MP-16 layout (meta CSV, URL list, msgpack shards).
  """
  seed: int = 0
  num_train_photos: int = 20_000
  num_test_photos: int = 600
  num_yfcc4k_photos: int = 300
  image_size: int = 96
  num_landmarks: int = 30
  gldv2_train_per_landmark: int = 30
  gldv2_index_per_landmark: int = 6
  gldv2_test_photos: int = 200
  gldv2_ignored_fraction: float = 0.1
  bad_fraction: float = 0.02
  mp16: bool = True

  def validate(self) -> None:
    """Raises ValueError naming the offending field."""
    if not 0 < self.num_landmarks <= len(LANDMARKS):
      raise ValueError(f"ToyWorldConfig.num_landmarks={self.num_landmarks}: must be in "
                       f"1..{len(LANDMARKS)} (the landmarks of "
                       "jaxgeo.toy_world.generator.LANDMARKS).")
    if not 0.0 <= self.bad_fraction <= 0.1:
      raise ValueError(f"ToyWorldConfig.bad_fraction={self.bad_fraction}: must be in [0, 0.1] "
                       f"(it is the share of rows of each of the {len(BAD_KINDS)} bad kinds).")
    if not 0.0 <= self.gldv2_ignored_fraction <= 0.5:
      raise ValueError(f"ToyWorldConfig.gldv2_ignored_fraction={self.gldv2_ignored_fraction}: "
                       "must be in [0, 0.5], so that most test images are scored.")
    if self.image_size < 32:
      raise ValueError(f"ToyWorldConfig.image_size={self.image_size}: use at least 32 px.")
    for name in ("num_train_photos", "num_test_photos", "num_yfcc4k_photos",
                 "gldv2_train_per_landmark", "gldv2_index_per_landmark", "gldv2_test_photos"):
      if getattr(self, name) < 1:
        raise ValueError(f"ToyWorldConfig.{name}={getattr(self, name)}: must be at least 1.")

  @property
  def num_bad_per_kind(self) -> int:
    """Bad rows of each kind, so that each kind is `bad_fraction` of all metadata rows."""
    if self.bad_fraction <= 0:
      return 0
    n = self.bad_fraction * self.num_train_photos / (1.0 - len(BAD_KINDS) * self.bad_fraction)
    return max(1, int(round(n)))


# --- The world: popularity, users --------------------------------------------------------------


def _city_weights(exponent: float = 0.9) -> np.ndarray:
  w = 1.0 / np.arange(1, len(CITIES) + 1) ** exponent
  return w / w.sum()


def _make_users(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
  """Flickr-like users: NSID (12345678@N00), nickname and favourite camera."""
  users = []
  nsids = set()
  while len(users) < n:
    nsid = f"{int(rng.integers(10_000_000, 99_999_999))}@N{int(rng.integers(0, 8)):02d}"
    if nsid in nsids:
      continue
    nsids.add(nsid)
    name = "".join(rng.choice(_SYLLABLES, int(rng.integers(2, 4))))
    style = int(rng.integers(4))
    nickname = (name.capitalize(), f"{name}_photos", f"{name.capitalize()} {name[:1].upper()}.",
                f"{name}{int(rng.integers(10, 99))}")[style]
    users.append({"nsid": nsid, "nickname": nickname,
                  "camera": int(rng.integers(len(_CAMERAS)))})
  return users


def _zipf_cdf(n: int, exponent: float = 1.1) -> np.ndarray:
  w = 1.0 / np.arange(1, n + 1) ** exponent
  return np.cumsum(w) / w.sum()


# --- Per-photo sampling ------------------------------------------------------------------------


def _offset(lat: float, lon: float, dist_km: float, bearing: float) -> tuple[float, float]:
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


def _sample_scene(rng: np.random.Generator, city: City, mode: str, dist_km: float, size: int,
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
               city_style=_CITY_INDEX[city.name], **kwargs)


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
  for t in _NOISE_TAGS:
    maybe(0.06, t)
  seen, out = set(), []
  for t in tags:
    if t not in seen:
      seen.add(t)
      out.append(t)
  order = rng.permutation(len(out))
  return [out[i] for i in order[:15]]


def _places_labels(rng: np.random.Generator, scene: Scene) -> dict[str, Any]:
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


def _yfcc_record(rng: np.random.Generator, world: "_World", pool: str, photo_id: int,
                 city: City, scene: Scene, landmark: Landmark | None, mode: str,
                 lat: float, lon: float) -> dict[str, Any]:
  """Every YFCC100M column of one photo except line number and bad-record edits."""
  users = world.users[pool]
  user = users[int(np.searchsorted(world.user_cdf[pool], rng.random()))]
  brand, camera = _CAMERAS[user["camera"] if rng.random() < 0.85
                           else int(rng.integers(len(_CAMERAS)))]
  frac = (photo_id - _ID_RANGE[0]) / (_ID_RANGE[1] - _ID_RANGE[0])
  uploaded = int(_UPLOAD_RANGE[0] + frac * (_UPLOAD_RANGE[1] - _UPLOAD_RANGE[0]))
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
  licence = _LICENCES[int(rng.integers(len(_LICENCES)))]
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


_YFCC_COLUMNS = ("line", "photo_id", "hash", "nsid", "nickname", "taken", "uploaded", "camera",
                 "title", "description", "tags", "machine_tags", "lon", "lat", "accuracy",
                 "page_url", "download_url", "licence_name", "licence_url", "server", "farm",
                 "secret", "original_secret", "extension", "marker")


# --- Workers -----------------------------------------------------------------------------------


class _World:
  """Everything derived from the config alone; rebuilt identically in every worker."""

  def __init__(self, config: ToyWorldConfig):
    self.config = config
    self.city_cdf = np.cumsum(_city_weights())
    self.landmarks = LANDMARKS[:config.num_landmarks]
    lw = np.array([_city_weights()[_CITY_INDEX[lm.city]] for lm in self.landmarks])
    self.landmark_cdf = np.cumsum(lw / lw.sum())
    rng = np.random.default_rng([config.seed, _MASTER_STREAM, 1])
    # Separate user pools: test-set authors never appear in training (as MP-16 excludes them).
    sizes = {"yfcc": max(20, config.num_train_photos // 12),
             "im2gps3k": max(5, config.num_test_photos // 4),
             "yfcc4k": max(5, config.num_yfcc4k_photos // 4)}
    all_users = _make_users(rng, sum(sizes.values()))
    self.users, self.user_cdf, start = {}, {}, 0
    for pool, n in sizes.items():
      self.users[pool] = all_users[start:start + n]
      self.user_cdf[pool] = _zipf_cdf(n)
      start += n


_WORKER_WORLD: _World | None = None


def _init_worker(config: ToyWorldConfig) -> None:
  global _WORKER_WORLD
  _WORKER_WORLD = _World(config)


def _photo_rng(seed: int, split: str, index: int) -> np.random.Generator:
  return np.random.default_rng([seed, _SPLITS[split], index])


def _sample_place(rng: np.random.Generator, world: _World
                  ) -> tuple[str, int, Landmark | None, float, float, float]:
  """Where a photo was taken: around a city (most), in the countryside, or at a landmark."""
  r = rng.random()
  if r < 0.10:
    lm = world.landmarks[int(np.searchsorted(world.landmark_cdf, rng.random()))]
    dist = min(abs(rng.normal(0.0, 0.25)), 1.5)  # a photo of a landmark is taken near it
    lat, lon = _offset(lm.lat, lm.lon, dist, rng.uniform(0, 2 * math.pi))
    return "landmark", _CITY_INDEX[lm.city], lm, lat, lon, dist
  ci = int(np.searchsorted(world.city_cdf, rng.random()))
  city = CITIES[ci]
  if r < 0.85:
    # Most photos cluster within ~10 km of the centre, with a heavier tail into the suburbs.
    dist = abs(rng.normal(0.0, 8.0)) if rng.random() < 0.7 else rng.lognormal(math.log(20), 0.7)
    mode = "city"
  else:
    dist = min(15.0 + rng.lognormal(math.log(50.0), 0.7), 600.0)
    mode = "rural"
  lat, lon = _offset(city.lat, city.lon, dist, rng.uniform(0, 2 * math.pi))
  return mode, ci, None, lat, lon, dist


def _make_photo(task: tuple) -> dict[str, Any]:
  """Worker entry: samples and renders one photo. Task = (split, index, ...)."""
  world = _WORKER_WORLD
  config = world.config
  split, index = task[0], task[1]
  rng = _photo_rng(config.seed, split, index)
  if split.startswith("gldv2"):
    _, _, lm_index, noisy = task
    if lm_index >= 0:
      lm = world.landmarks[lm_index]
      city = CITIES[_CITY_INDEX[lm.city]]
    else:
      lm, city = None, CITIES[int(np.searchsorted(world.city_cdf, rng.random()))]
    scene = _sample_scene(rng, city, "landmark" if lm else "city", 2.0, config.image_size,
                          None if (lm is None or noisy) else lm, city.lat)
    if lm is not None and not noisy:
      # Landmark-retrieval photos: wider viewpoint and scale changes than YFCC snapshots.
      scene = dataclasses.replace(scene, landmark_scale=rng.uniform(0.4, 0.95),
                                  landmark_x=rng.uniform(0.25, 0.75),
                                  landmark_squash=rng.uniform(0.7, 1.3),
                                  skyline=scene.skyline * 0.5)
    return {"jpeg": render.render_jpeg(scene, rng)}

  _, _, photo_id, pool, kind = task
  mode, ci, lm, lat, lon, dist = _sample_place(rng, world)
  city = CITIES[ci]
  scene = _sample_scene(rng, city, mode, dist, config.image_size, lm, lat)
  rec = _yfcc_record(rng, world, pool, photo_id, city, scene, lm, mode, lat, lon)
  rec.update(true_lat=lat, true_lon=lon, city=ci, landmark=lm.name if lm else "", mode=mode,
             scene=scene, places=_places_labels(rng, scene), kind=kind)
  if kind == "video":
    rec["download_url"] = (f"http://www.flickr.com/photos/{rec['nsid']}/{photo_id}/play/orig/"
                           f"{rec['original_secret']}/")
    rec["hash"] = hashlib.md5(rec["download_url"].encode()).hexdigest()
    rec["extension"], rec["marker"] = "mp4", "1"
    return rec
  if kind == "no_gps":
    rec["lon"] = rec["lat"] = rec["accuracy"] = ""
  elif kind == "bad_coordinates":
    # Out of range in latitude, longitude or both.
    which = int(rng.integers(3))
    if which in (0, 2):
      rec["lat"] = f"{rng.choice([-1, 1]) * rng.uniform(90.5, 180.0):.6f}"
    if which in (1, 2):
      rec["lon"] = f"{rng.choice([-1, 1]) * rng.uniform(180.5, 360.0):.6f}"
  if kind == "missing_image":
    return rec
  jpeg = render.render_jpeg(scene, rng)
  if kind == "empty_image":
    # Multimedia Commons holds some 0-byte files and some tiny (< 1 KB) stubs.
    jpeg = b"" if rng.random() < 0.5 else jpeg[:int(rng.integers(100, 1000))]
  elif kind == "corrupt_image":
    # Truncated (no end-of-image marker) or garbage after a JPEG start marker; >= 1 KB either
    # way, so that size alone never hides a corrupt file.
    cut = int(len(jpeg) * rng.uniform(0.3, 0.7))
    if rng.random() < 0.5 and cut >= 1024:
      jpeg = jpeg[:cut]
    else:
      jpeg = b"\xff\xd8\xff\xe0" + rng.bytes(int(rng.integers(1200, 4000)))
  rec["jpeg"] = jpeg
  return rec


class _Renderer:
  """Runs _make_photo over task lists, in-process or on one spawn pool for the whole world.

  Results come back in task order and depend only on the tasks, not on the worker count.
  """

  def __init__(self, config: ToyWorldConfig, num_workers: int):
    self._config = config
    self._pool = None
    _init_worker(config)  # for in-process runs
    if num_workers > 1:
      # spawn, not fork: callers may already run JAX, whose threads do not survive a fork.
      ctx = multiprocessing.get_context("spawn")
      self._pool = ctx.Pool(num_workers, initializer=_init_worker, initargs=(config,))

  def map(self, tasks: list[tuple]) -> Iterator[dict[str, Any]]:
    if self._pool is None or len(tasks) < 64:
      return map(_make_photo, tasks)
    return self._pool.imap(_make_photo, tasks, chunksize=32)

  def __enter__(self) -> "_Renderer":
    return self

  def __exit__(self, *exc) -> None:
    if self._pool is not None:
      self._pool.terminate()
      self._pool.join()


# --- Writers -----------------------------------------------------------------------------------


class _FileWriter:
  """Writes files under a root, creating folders once, and counts files and bytes."""

  def __init__(self, root: str):
    self.root = root
    self.dirs: set[str] = set()
    self.files = 0
    self.bytes = 0

  def write(self, rel: str, data: bytes) -> None:
    path = os.path.join(self.root, rel)
    d = os.path.dirname(path)
    if d not in self.dirs:
      os.makedirs(d, exist_ok=True)
      self.dirs.add(d)
    with open(path, "wb") as f:
      f.write(data)
    self.files += 1
    self.bytes += len(data)

  def write_text(self, rel: str, lines: Iterable[str]) -> None:
    self.write(rel, "".join(line + "\n" for line in lines).encode("utf-8"))


def _yfcc_line(rec: dict[str, Any], line: int) -> str:
  return "\t".join([str(line), *(str(rec[c]) for c in _YFCC_COLUMNS[1:])])


def _mp16_id(rec: dict[str, Any]) -> str:
  # Real MP-16 ids look like e1/55/4763369508.jpg; the toy world takes the two hex folders from
  # the photo hash.
  return f"{rec['hash'][:2]}/{rec['hash'][2:4]}/{rec['photo_id']}.jpg"


def _csv_float(x: float) -> str:
  return f"{x:.6f}"


def _places_row(img_id: str, rec: dict[str, Any]) -> str:
  p = rec["places"]
  return ",".join([img_id, rec["nsid"], rec["lat"], rec["lon"], str(p["S3_Label"]),
                   str(p["S16_Label"]), str(p["S365_Label"]), f"{p['Prob_indoor']:.4f}",
                   f"{p['Prob_natural']:.4f}", f"{p['Prob_urban']:.4f}"])


def _truth_row(split: str, rec: dict[str, Any]) -> str:
  s: Scene = rec["scene"]
  return ",".join([split, str(rec["photo_id"]), rec["kind"], _csv_float(rec["true_lat"]),
                   _csv_float(rec["true_lon"]), CITIES[rec["city"]].name, rec["landmark"],
                   rec["mode"], s.climate, s.region, s.terrain, s.time_of_day, str(int(s.snow)),
                   f"{s.skyline:.2f}", str(int(s.aurora))])


_TRUTH_HEADER = ("split,photo_id,kind,lat,lon,city,landmark,mode,climate,region,terrain,"
                 "time_of_day,snow,skyline,aurora")


def _unique_ids(rng: np.random.Generator, n: int) -> list[int]:
  """n distinct Flickr-like photo ids in random order."""
  ids: list[int] = []
  seen: set[int] = set()
  while len(ids) < n:
    for x in rng.integers(_ID_RANGE[0], _ID_RANGE[1], n - len(ids) + 16).tolist():
      if x not in seen and len(ids) < n:
        seen.add(x)
        ids.append(x)
  return ids


def _gldv2_hex_ids(rng: np.random.Generator, n: int) -> list[str]:
  ids: list[str] = []
  seen: set[str] = set()
  while len(ids) < n:
    x = rng.bytes(8).hex()
    if x not in seen:
      seen.add(x)
      ids.append(x)
  return ids


def _write_tars(out: _FileWriter, folder: str, images: dict[str, bytes]) -> list[str]:
  """GLDv2 tars: members a/b/c/<id>.jpg, ids sorted, deterministic member metadata."""
  ids = sorted(images)
  paths = []
  for t, start in enumerate(range(0, len(ids), GLDV2_IMAGES_PER_TAR)):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
      for gid in ids[start:start + GLDV2_IMAGES_PER_TAR]:
        data = images[gid]
        info = tarfile.TarInfo(f"{gid[0]}/{gid[1]}/{gid[2]}/{gid}.jpg")
        info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))
    rel = f"{folder}/images_{t:03d}.tar"
    out.write(rel, buf.getvalue())
    paths.append(rel)
  return paths


def _wikimedia_url(name: str, k: int) -> str:
  fname = f"{name.replace(' ', '_')}_{k:03d}.jpg"
  md5 = hashlib.md5(fname.encode("utf-8")).hexdigest()
  return (f"https://upload.wikimedia.org/wikipedia/commons/{md5[0]}/{md5[:2]}/"
          f"{urllib.parse.quote(fname)}")


def _category_url(name: str) -> str:
  return "http://commons.wikimedia.org/wiki/Category:" + urllib.parse.quote(name.replace(" ", "_"))


class _Plan:
  """Decisions over the whole world drawn from the master stream: ids and bad-row positions."""

  def __init__(self, config: ToyWorldConfig):
    rng = np.random.default_rng([config.seed, _MASTER_STREAM])
    n_good, n_bad = config.num_train_photos, config.num_bad_per_kind
    self.n_rows = n_good + n_bad * len(BAD_KINDS)
    kinds = ["good"] * n_good + [k for k in BAD_KINDS for _ in range(n_bad)]
    self.kinds = [kinds[i] for i in rng.permutation(self.n_rows)]  # bad rows interleaved
    n_test, n_4k = config.num_test_photos, config.num_yfcc4k_photos
    ids = _unique_ids(rng, self.n_rows + n_test + n_4k)
    self.train_ids = ids[:self.n_rows]
    self.im2gps_ids = ids[self.n_rows:self.n_rows + n_test]
    self.yfcc4k_ids = ids[self.n_rows + n_test:]
    n_unlabelled = max(1, int(round(n_test * _IM2GPS3K_UNLABELLED_SHARE)))
    self.unlabelled = set(rng.choice(n_test, n_unlabelled, replace=False).tolist())
    # YFCC4k rows come from the full YFCC100M file: line numbers beyond this toy file's.
    self.yfcc4k_lines = sorted(rng.choice(np.arange(self.n_rows, self.n_rows + 50 * n_4k), n_4k,
                                          replace=False).tolist())


def _write_yfcc100m(out: _FileWriter, config: ToyWorldConfig, plan: _Plan,
                    renderer: _Renderer) -> dict[str, Any]:
  """Writes yfcc100m/ and mp16/, streaming rows, images and shards as photos arrive."""
  tasks = [("yfcc", i, plan.train_ids[i], "yfcc", plan.kinds[i]) for i in range(plan.n_rows)]
  lines, truth, mp16_rows, url_rows, shards = [], [], [], [], []
  bad: dict[str, dict[str, list]] = {k: {"photo_ids": [], "line_numbers": []} for k in BAD_KINDS}
  shard_buf: list[bytes] = []
  landmark_photos = 0

  def flush_shard() -> None:
    if shard_buf:
      rel = f"mp16/shards/shard_{len(shards)}.msg"
      out.write(rel, b"".join(shard_buf))
      shards.append(rel)
      shard_buf.clear()

  for i, rec in enumerate(renderer.map(tasks)):
    lines.append(_yfcc_line(rec, i))
    truth.append(_truth_row("yfcc", rec))
    kind = rec["kind"]
    if kind != "good":
      bad[kind]["photo_ids"].append(rec["photo_id"])
      bad[kind]["line_numbers"].append(i)
    if "jpeg" in rec:
      h = rec["hash"]
      out.write(f"yfcc100m/data/images/{h[:3]}/{h[3:6]}/{h}.jpg", rec["jpeg"])
    if kind == "good":
      landmark_photos += bool(rec["landmark"])
      if config.mp16:
        img_id = _mp16_id(rec)
        mp16_rows.append(_places_row(img_id, rec))
        url_rows.append(f"{img_id},{rec['download_url']}")
        shard_buf.append(msgpack.packb({"image": rec["jpeg"], "id": img_id}, use_bin_type=True))
        if len(shard_buf) == MP16_SHARD_SIZE:
          flush_shard()
  flush_shard()
  out.write_text("yfcc100m/yfcc100m_dataset", lines)
  # The older 23-column layout: no line number (col 0) and no photo hash (col 2). In a folder of
  # its own, since builders read every yfcc100m_dataset* file of a folder as parts of one set.
  out.write_text("yfcc100m_23col/yfcc100m_dataset", [
      "\t".join(f for j, f in enumerate(line.split("\t")) if j not in (0, 2))
      for line in lines[:_NUM_23COL_ROWS]])
  if config.mp16:
    out.write_text("mp16/mp16_places365.csv", [",".join(PLACES365_HEADER)] + mp16_rows)
    out.write_text("mp16/mp16_urls.csv", url_rows)
  return {
      "counts": {"yfcc100m_rows": plan.n_rows, "yfcc100m_good_photos": config.num_train_photos,
                 "yfcc100m_bad_per_kind": {k: len(v["photo_ids"]) for k, v in bad.items()},
                 "yfcc100m_landmark_photos": landmark_photos,
                 "yfcc100m_23col_rows": min(_NUM_23COL_ROWS, plan.n_rows),
                 "mp16_photos": len(mp16_rows), "mp16_shards": len(shards)},
      "bad_records": bad, "shards": shards, "truth": truth,
  }


def _write_test_sets(out: _FileWriter, config: ToyWorldConfig, plan: _Plan,
                     renderer: _Renderer) -> dict[str, Any]:
  """Writes the Im2GPS3k-style (images + meta CSV) and YFCC4k-style (rows + flat images) sets."""
  n_test = config.num_test_photos
  tasks = ([("im2gps3k", i, plan.im2gps_ids[i], "im2gps3k", "good") for i in range(n_test)]
           + [("yfcc4k", i, plan.yfcc4k_ids[i], "yfcc4k", "good")
              for i in range(config.num_yfcc4k_photos)])
  im2gps_rows, unlabelled, yfcc4k_rows, truth = [], [], [], []
  for j, rec in enumerate(renderer.map(tasks)):
    if j < n_test:
      img_id = f"{rec['photo_id']}_{rec['original_secret']}_o.jpg"
      out.write(f"im2gps3k/images/{img_id}", rec["jpeg"])
      truth.append(_truth_row("im2gps3k", rec))
      if j in plan.unlabelled:  # image present, row missing (as in the usual meta CSV)
        unlabelled.append(img_id)
      else:
        im2gps_rows.append(_places_row(img_id, rec))
    else:
      out.write(f"yfcc4k/images/{rec['photo_id']}.jpg", rec["jpeg"])
      yfcc4k_rows.append(_yfcc_line(rec, plan.yfcc4k_lines[j - n_test]))
      truth.append(_truth_row("yfcc4k", rec))
  out.write_text("im2gps3k/im2gps3k_places365.csv",
                 [",".join(PLACES365_HEADER_2018)] + im2gps_rows)
  out.write_text("yfcc4k/yfcc4k_dataset", yfcc4k_rows)
  return {"counts": {"im2gps3k_images": n_test, "im2gps3k_labelled": len(im2gps_rows),
                     "yfcc4k_photos": config.num_yfcc4k_photos},
          "im2gps3k_unlabelled": unlabelled, "truth": truth}


def _write_gldv2(out: _FileWriter, config: ToyWorldConfig, renderer: _Renderer,
                 manifest_landmarks: list[dict[str, Any]]) -> dict[str, Any]:
  """Writes gldv2/ (CSVs, tars of train, index and test images) and truth/gldv2.csv."""
  rng = np.random.default_rng([config.seed, _MASTER_STREAM, 2])
  n_lm = config.num_landmarks
  # Landmark ids: train ids and index ids are different id spaces (as in GLDv2). A landmark's
  # two ids never coincide, so a builder that reuses one for the other fails loudly.
  train_lids = rng.choice(203_094, n_lm, replace=False).tolist()
  while True:
    index_lids = rng.choice(100_000, n_lm, replace=False).tolist()
    if all(i != t for i, t in zip(index_lids, train_lids)):
      break
  n_drop = min(2, n_lm // 5)
  dropped = set(rng.choice(n_lm, n_drop, replace=False).tolist()) if n_drop else set()
  per = config.gldv2_train_per_landmark
  n_train, n_index = n_lm * per, n_lm * config.gldv2_index_per_landmark
  n_test = config.gldv2_test_photos
  ids = _gldv2_hex_ids(rng, n_train + n_index + n_test)
  train_ids, index_ids, test_ids = (ids[:n_train], ids[n_train:n_train + n_index],
                                    ids[n_train + n_index:])
  train_lm = [k // per for k in range(n_train)]
  noisy = [bool(rng.random() < 0.2) for _ in range(n_train)]
  index_lm = [k // config.gldv2_index_per_landmark for k in range(n_index)]
  test_lm = [int(rng.integers(n_lm)) if rng.random() < 0.75 else -1 for _ in range(n_test)]

  tasks = ([("gldv2_train", k, train_lm[k], noisy[k]) for k in range(n_train)]
           + [("gldv2_index", k, index_lm[k], False) for k in range(n_index)]
           + [("gldv2_test", k, test_lm[k], False) for k in range(n_test)])
  jpegs = [r["jpeg"] for r in renderer.map(tasks)]
  train_img = dict(zip(train_ids, jpegs[:n_train]))
  index_img = dict(zip(index_ids, jpegs[n_train:n_train + n_index]))
  test_img = dict(zip(test_ids, jpegs[n_train + n_index:]))

  order = rng.permutation(n_train)
  out.write_text("gldv2/train.csv", ["id,url,landmark_id"] + [
      f"{train_ids[k]},{_wikimedia_url(LANDMARKS[train_lm[k]].name, k % per)},"
      f"{train_lids[train_lm[k]]}" for k in order])
  clean: dict[int, list[str]] = {}
  for k in range(n_train):
    if not noisy[k] and train_lm[k] not in dropped:
      clean.setdefault(train_lids[train_lm[k]], []).append(train_ids[k])
  out.write_text("gldv2/train_clean.csv", ["landmark_id,images"] + [
      f"{lid},{' '.join(clean[lid])}" for lid in sorted(clean)])
  out.write_text("gldv2/train_label_to_category.csv", ["landmark_id,category"] + [
      f"{train_lids[k]},{_category_url(LANDMARKS[k].name)}"
      for k in sorted(range(n_lm), key=lambda k: train_lids[k])])
  index_order = rng.permutation(n_index)
  out.write_text("gldv2/index.csv", ["id"] + [index_ids[k] for k in index_order])
  out.write_text("gldv2/index_image_to_landmark.csv", ["id,landmark_id"] + [
      f"{index_ids[k]},{index_lids[index_lm[k]]}" for k in index_order])
  out.write_text("gldv2/test.csv", ["id"] + test_ids)
  # As in v2.1, some test images are "Ignored": no ground truth (an empty list, "None" in the
  # retrieval solution) whatever they show, and left out of every score.
  usage = [("Public" if u < 0.33 else "Private" if u < 1 - config.gldv2_ignored_fraction
            else "Ignored") for u in (rng.random() for _ in range(n_test))]
  out.write_text("gldv2/recognition_solution_v2.1.csv", ["id,landmarks,Usage"] + [
      f"{gid},{train_lids[lm] if lm >= 0 and u != 'Ignored' else ''},{u}"
      for gid, lm, u in zip(test_ids, test_lm, usage)])
  index_of = {k: [index_ids[j] for j in range(n_index) if index_lm[j] == k] for k in range(n_lm)}
  out.write_text("gldv2/retrieval_solution_v2.1.csv", ["id,images,Usage"] + [
      f"{gid},{'None' if u == 'Ignored' else ' '.join(index_of[lm]) if lm >= 0 else ''},{u}"
      for gid, lm, u in zip(test_ids, test_lm, usage)])
  out.write_text("truth/gldv2.csv", ["split,id,landmark,noisy"] + [
      f"train,{train_ids[k]},{LANDMARKS[train_lm[k]].name},{int(noisy[k])}"
      for k in range(n_train)] + [
      f"index,{index_ids[k]},{LANDMARKS[index_lm[k]].name},0" for k in range(n_index)] + [
      f"test,{gid},{LANDMARKS[lm].name if lm >= 0 else ''},0" for gid, lm in zip(test_ids,
                                                                                 test_lm)])
  tars = {split: _write_tars(out, f"gldv2/{split}", imgs)
          for split, imgs in (("train", train_img), ("index", index_img), ("test", test_img))}
  for k in range(n_lm):
    manifest_landmarks[k].update(gldv2_train_landmark_id=train_lids[k],
                                 gldv2_index_landmark_id=index_lids[k],
                                 in_train_clean=k not in dropped,
                                 gldv2_category=_category_url(LANDMARKS[k].name))
  return {
      "counts": {"gldv2_train": n_train, "gldv2_train_noisy": int(sum(noisy)),
                 "gldv2_train_clean": sum(len(v) for v in clean.values()),
                 "gldv2_train_clean_landmarks": len(clean), "gldv2_index": n_index,
                 "gldv2_test": n_test,
                 "gldv2_test_with_landmark": sum(1 for lm in test_lm if lm >= 0)},
      "tars": tars,
      "dropped_from_clean": sorted(train_lids[k] for k in dropped),
  }


# What generate_toy_world writes at the top of out_dir (and may delete when regenerating).
_OUTPUTS = ("yfcc100m", "yfcc100m_23col", "mp16", "im2gps3k", "yfcc4k", "gldv2", "truth",
            "manifest.json")


_MARKER = ".jaxgeo_toy_world"  # written first: marks a folder as ours even if a run was cut


def _prepare_out_dir(root: str) -> None:
  """Creates root, or clears an earlier toy world there so no stale shard or image survives."""
  os.makedirs(root, exist_ok=True)
  entries = set(os.listdir(root))
  if entries and _MARKER not in entries:
    raise ValueError(f"Toy world output folder {root!r} is not empty and holds no toy world: "
                     "pass an empty or new folder (nothing was written).")
  manifest = os.path.join(root, "manifest.json")
  if os.path.exists(manifest):
    os.remove(manifest)  # first, so an interrupted run never looks complete
  for name in _OUTPUTS:
    path = os.path.join(root, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
  with open(os.path.join(root, _MARKER), "w") as f:
    f.write("Written by jaxgeo.toy_world.generator; manifest.json appears when the world is "
            "complete.\n")


def generate_toy_world(out_dir: str | os.PathLike, config: ToyWorldConfig = ToyWorldConfig(),
                       *, num_workers: int | None = None) -> dict[str, Any]:
  """Generates the toy world under out_dir in the official raw formats.

  Writes yfcc100m/ (25-column metadata, Multimedia Commons image tree), yfcc100m_23col/ (a
  sample of the older 23-column layout),
  mp16/ (meta CSV, URL list, msgpack shards; if config.mp16), im2gps3k/, yfcc4k/, gldv2/,
  truth/ (per-photo ground truth for tests and debugging; no official format) and
  manifest.json.

  Args:
    out_dir: Output folder: new, empty, or holding an earlier toy world (which is replaced).
    config: Size and seed of the world.
    num_workers: Rendering processes (default: the CPU count, at most 8). The output does not
      depend on it. Workers are spawned (not forked), so a calling script needs the usual
      `if __name__ == "__main__":` guard.

  Returns:
    The manifest (also written to out_dir/manifest.json, last, so its presence means the
    world is complete).

  Raises:
    ValueError: If the config is invalid, or out_dir holds files that are not a toy world.
  """
  config.validate()
  start = time.time()
  root = os.fspath(out_dir)
  _prepare_out_dir(root)
  if num_workers is None:
    num_workers = min(os.cpu_count() or 1, 8)
  out = _FileWriter(root)
  plan = _Plan(config)
  landmarks = [{"world_id": k, "name": lm.name, "city": lm.city, "lat": lm.lat, "lon": lm.lon,
                "shape": lm.shape, "tags": [lm.name, *lm.aliases]}
               for k, lm in enumerate(LANDMARKS[:config.num_landmarks])]
  with _Renderer(config, num_workers) as renderer:
    yfcc = _write_yfcc100m(out, config, plan, renderer)
    tests = _write_test_sets(out, config, plan, renderer)
    gld = _write_gldv2(out, config, renderer, landmarks)
  out.write_text("truth/photos.csv", [_TRUTH_HEADER] + yfcc.pop("truth") + tests.pop("truth"))

  manifest = {
      "format_version": 1,
      "generator": "jaxgeo.toy_world.generator",
      "seed": config.seed,
      "config": dataclasses.asdict(config),
      "counts": {**yfcc["counts"], **tests["counts"], **gld["counts"],
                 "files": out.files + 1, "bytes": out.bytes},
      "bad_records": yfcc["bad_records"],
      "im2gps3k_unlabelled": tests["im2gps3k_unlabelled"],
      "gldv2_dropped_from_clean": gld["dropped_from_clean"],
      "cities": [{"name": c.name, "country": c.country, "lat": c.lat, "lon": c.lon,
                  "region": c.region, "climate": c.climate, "popularity": round(float(w), 6)}
                 for c, w in zip(CITIES, _city_weights())],
      "landmarks": landmarks,
      "layouts": {
          "yfcc100m_dataset": "25 tab-separated columns, no header (the YFCC100M order)",
          "yfcc100m_dataset_23col": "23 columns: the 25-column layout without line number "
                                    "(0) and photo hash (2)",
          "yfcc100m_images": "data/images/<hash[:3]>/<hash[3:6]>/<hash>.jpg, hash = MD5 of "
                             "the download URL (column 16)",
          "mp16_img_id": "<hash[:2]>/<hash[2:4]>/<photo id>.jpg",
          "im2gps3k_img_id": "<photo id>_<original secret>_o.jpg",
          "yfcc4k_images": "flat folder <photo id>.jpg",
          "gldv2_tar_member": "<id[0]>/<id[1]>/<id[2]>/<id>.jpg",
      },
      "files": {
          "yfcc100m_metadata": "yfcc100m/yfcc100m_dataset",
          "yfcc100m_metadata_23col": "yfcc100m_23col/yfcc100m_dataset",
          "yfcc100m_images": "yfcc100m/data/images",
          "mp16_meta": "mp16/mp16_places365.csv" if config.mp16 else None,
          "mp16_urls": "mp16/mp16_urls.csv" if config.mp16 else None,
          "mp16_shards": yfcc["shards"],
          "im2gps3k_meta": "im2gps3k/im2gps3k_places365.csv",
          "im2gps3k_images": "im2gps3k/images",
          "yfcc4k_metadata": "yfcc4k/yfcc4k_dataset",
          "yfcc4k_images": "yfcc4k/images",
          "gldv2_dir": "gldv2",
          "gldv2_csv": {name: f"gldv2/{name}" for name in (
              "train.csv", "train_clean.csv", "train_label_to_category.csv", "index.csv",
              "index_image_to_landmark.csv", "test.csv", "recognition_solution_v2.1.csv",
              "retrieval_solution_v2.1.csv")},
          "gldv2_tars": gld["tars"],
          "truth_photos": "truth/photos.csv",
          "truth_gldv2": "truth/gldv2.csv",
      },
      "generation": {"seconds": round(time.time() - start, 2), "num_workers": num_workers},
  }
  with open(os.path.join(root, "manifest.json"), "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False)
  return manifest


# --- CLI -----------------------------------------------------------------------------------------


def _define_flags() -> None:
  """CLI flags: --out, --num_workers and one per ToyWorldConfig field (defined only by main)."""
  flags.DEFINE_string("out", None, "Output folder of the toy world.", required=True)
  flags.DEFINE_integer("num_workers", 0, "Rendering processes (0: CPU count, at most 8).")
  # Help texts: the Attributes section of ToyWorldConfig's docstring.
  docs = dict(re.findall(r"^    (\w+): (.+)$", ToyWorldConfig.__doc__ or "", re.MULTILINE))
  for f in dataclasses.fields(ToyWorldConfig):
    help_ = docs.get(f.name, f"ToyWorldConfig.{f.name}.")
    if isinstance(f.default, bool):
      flags.DEFINE_boolean(f.name, f.default, help_)
    elif isinstance(f.default, int):
      flags.DEFINE_integer(f.name, f.default, help_)
    else:
      flags.DEFINE_float(f.name, f.default, help_)


def main(argv: list[str]) -> None:
  """Generates the toy world from the flags and prints what was written."""
  del argv
  config = ToyWorldConfig(**{f.name: getattr(flags.FLAGS, f.name)
                             for f in dataclasses.fields(ToyWorldConfig)})
  m = generate_toy_world(flags.FLAGS.out, config, num_workers=flags.FLAGS.num_workers or None)
  c = m["counts"]
  print(f"Toy world (seed {config.seed}) written to {flags.FLAGS.out} in "
        f"{m['generation']['seconds']:.1f} s with {m['generation']['num_workers']} workers: "
        f"{c['files']} files, {c['bytes'] / 2**20:.1f} MiB")
  print(f"  yfcc100m: {c['yfcc100m_rows']} rows ({c['yfcc100m_good_photos']} good; bad: "
        + ", ".join(f"{k} {v}" for k, v in c["yfcc100m_bad_per_kind"].items())
        + f"), {c['yfcc100m_landmark_photos']} good photos show a landmark")
  if config.mp16:
    print(f"  mp16: {c['mp16_photos']} photos in {c['mp16_shards']} shards")
  print(f"  im2gps3k: {c['im2gps3k_images']} images, {c['im2gps3k_labelled']} labelled; "
        f"yfcc4k: {c['yfcc4k_photos']} photos")
  print(f"  gldv2: {c['gldv2_train']} train ({c['gldv2_train_clean']} clean), "
        f"{c['gldv2_index']} index, {c['gldv2_test']} test "
        f"({c['gldv2_test_with_landmark']} with a landmark); {len(m['landmarks'])} landmarks")


def run_command_line() -> None:
  """`python -m jaxgeo.toy_world` (jaxgeo/toy_world/__main__.py): flags, then `main`."""
  _define_flags()
  app.run(main)
