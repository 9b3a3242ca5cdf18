"""The toy world's catalogue: real cities and landmarks, and the tags users write about them.

These are the facts the world is sampled from (jaxgeo.toy_world.sampling): where photos can be
taken, how popular each place is, what each place looks like (climate, region style, water and
mountains) and which tags belong to a country or region. Changing an entry changes every
generated world, so tests that pin the quickstart's numbers depend on it.
"""

from __future__ import annotations

import dataclasses

import numpy as np


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
CITY_INDEX = {c.name: i for i, c in enumerate(CITIES)}


@dataclasses.dataclass(frozen=True)
class Landmark:
  """A real landmark at its real coordinate, drawn with drawings.LANDMARK_SHAPES[shape]."""
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
# Tags that say nothing about place (holiday words, years and camera brands come on top).
NOISE_TAGS = ("vacation", "travel", "holiday", "trip", "family", "friends", "summer", "geotagged",
              "photo", "me", "fun", "Travel", "2 weeks off")


def city_weights(exponent: float = 0.9) -> np.ndarray:
  """Popularity of each city (Zipf over the CITIES order): the share of photos taken there."""
  w = 1.0 / np.arange(1, len(CITIES) + 1) ** exponent
  return w / w.sum()
