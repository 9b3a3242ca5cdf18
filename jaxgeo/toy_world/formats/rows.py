"""The line one photo gets in each metadata file: YFCC100M rows, Places365 meta CSVs, truth.

Several formats share these (YFCC100M and YFCC4k rows; MP-16 and Im2GPS3k meta CSVs; the
ground truth of all Flickr-style sets), so they live apart from any one format's writer.
"""

from __future__ import annotations

from typing import Any

from jaxgeo.toy_world.catalogue import CITIES
from jaxgeo.toy_world.render import Scene

# MP-16 meta CSV header (and that of later copies of the Im2GPS / Im2GPS3k label files).
PLACES365_HEADER = ("IMG_ID", "AUTHOR", "LAT", "LON", "S3_Label", "S16_Label", "S365_Label",
                    "Prob_indoor", "Prob_natural", "Prob_urban")
# The 2018 Im2GPS / Im2GPS3k label files' header: it names LON before LAT, but the values under
# it are latitudes then longitudes, as in every other copy. The toy Im2GPS3k set is written this
# way, so every quickstart reads the harder variant (jaxgeo.geo.coordinate_csv).
PLACES365_HEADER_2018 = ("IMG_ID", "AUTHOR", "LON", "LAT", *PLACES365_HEADER[4:])

# YFCC100M metadata columns, in file order.
_YFCC_COLUMNS = ("line", "photo_id", "hash", "nsid", "nickname", "taken", "uploaded", "camera",
                 "title", "description", "tags", "machine_tags", "lon", "lat", "accuracy",
                 "page_url", "download_url", "licence_name", "licence_url", "server", "farm",
                 "secret", "original_secret", "extension", "marker")


def yfcc_line(rec: dict[str, Any], line: int) -> str:
  """A YFCC100M metadata line (25 tab-separated columns), numbered `line` as in the full file."""
  return "\t".join([str(line), *(str(rec[c]) for c in _YFCC_COLUMNS[1:])])


def places_row(img_id: str, rec: dict[str, Any]) -> str:
  """A Places365 meta CSV row (PLACES365_HEADER order; the 2018 header mislabels it)."""
  p = rec["places"]
  return ",".join([img_id, rec["nsid"], rec["lat"], rec["lon"], str(p["S3_Label"]),
                   str(p["S16_Label"]), str(p["S365_Label"]), f"{p['Prob_indoor']:.4f}",
                   f"{p['Prob_natural']:.4f}", f"{p['Prob_urban']:.4f}"])


# Ground truth of the Flickr-style photos (truth/photos.csv; no official format): where each
# photo really is and what it shows, for tests and debugging.
TRUTH_HEADER = ("split,photo_id,kind,lat,lon,city,landmark,mode,climate,region,terrain,"
                "time_of_day,snow,skyline,aurora")


def _csv_float(x: float) -> str:
  return f"{x:.6f}"


def truth_row(split: str, rec: dict[str, Any]) -> str:
  """A truth/photos.csv row (TRUTH_HEADER order): the true place (bad rows too) and the scene."""
  s: Scene = rec["scene"]
  return ",".join([split, str(rec["photo_id"]), rec["kind"], _csv_float(rec["true_lat"]),
                   _csv_float(rec["true_lon"]), CITIES[rec["city"]].name, rec["landmark"],
                   rec["mode"], s.climate, s.region, s.terrain, s.time_of_day, str(int(s.snow)),
                   f"{s.skyline:.2f}", str(int(s.aurora))])
