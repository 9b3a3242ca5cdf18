"""Parsing YFCC100M metadata lines (the 25-column file and the older 23-column variant).

One tab-separated line per photo or video, no header. The 25-column layout starts with a line
number and has the photo hash in column 2; the 23-column layout has neither, so its photo hash
(the key of the Multimedia Commons image folders) is recomputed as the MD5 of the download URL.
"""

from __future__ import annotations

import bz2
import dataclasses
import hashlib
import io
import os
import urllib.parse
from collections.abc import Iterator

# Column of each field in the 25-column layout, in the order YFCC100M documents; the 23-column
# layout drops the line number (0) and the hash (2).
_COLUMNS_25 = {"photo_id": 1, "hash": 2, "user": 3, "taken": 5, "title": 8, "tags": 10,
               "longitude": 12, "latitude": 13, "accuracy": 14, "download_url": 16, "marker": 24}
_COLUMNS_23 = {k: (v - 1 if v == 1 else v - 2) for k, v in _COLUMNS_25.items() if k != "hash"}
LAYOUTS = {25: _COLUMNS_25, 23: _COLUMNS_23}


@dataclasses.dataclass(frozen=True)
class YfccRecord:
  """The fields of one metadata line that geolocation and tagging use."""
  photo_id: str
  photo_hash: str
  user: str
  date_taken: str
  title: str
  tags: tuple[str, ...]
  latitude: float
  longitude: float
  accuracy: int
  download_url: str


class BadRecord(ValueError):
  """A metadata line that is not a usable geotagged photo; `reason` is a skip-counter key."""

  def __init__(self, reason: str, detail: str, record_id: str = ""):
    # All in args, so the error survives pickling (Beam workers, process pools).
    super().__init__(reason, detail, record_id)
    self.reason = reason
    self.detail = detail
    self.record_id = record_id  # puts the skip in its record's split; "" when unknown

  def __str__(self) -> str:
    return f"{self.reason}: {self.detail}"


def decode_tags(field: str) -> tuple[str, ...]:
  """User tags: comma-separated, URL-encoded with '+' for spaces; lower-cased, de-duplicated."""
  tags = (urllib.parse.unquote_plus(t).strip().lower() for t in field.split(","))
  return tuple(dict.fromkeys(t for t in tags if t))


def photo_hash_of_url(download_url: str) -> str:
  """The Multimedia Commons key of a photo: MD5 of its download URL (DeepLocation report)."""
  return hashlib.md5(download_url.encode("utf-8")).hexdigest()


def image_path(images_root: str, photo_hash: str) -> str:
  """`<root>/<first 3 hex>/<next 3 hex>/<hash>.jpg`, the Multimedia Commons layout."""
  return os.path.join(images_root, photo_hash[:3], photo_hash[3:6], f"{photo_hash}.jpg")


def detect_layout(line: str, where: str) -> int:
  """Number of columns of a metadata line (25 or 23), or a ValueError saying what was found."""
  n = line.rstrip("\r\n").count("\t") + 1
  if n not in LAYOUTS:
    raise ValueError(f"{where}: {n} tab-separated columns; YFCC100M metadata has 25 (with line "
                     "number and photo hash) or 23 (without). Is this the right file?")
  return n


def parse_line(line: str, num_columns: int, where: str = "") -> YfccRecord:
  """A geotagged photo from one metadata line, or BadRecord with the reason it is not one."""
  fields = line.rstrip("\r\n").split("\t")
  if len(fields) != num_columns:
    raise BadRecord("malformed_row", f"{where}: {len(fields)} columns, expected {num_columns}")
  col = LAYOUTS[num_columns]
  photo_id = fields[col["photo_id"]]
  if fields[col["marker"]].strip() == "1":
    raise BadRecord("video", f"{where}: photo {photo_id} is a video", photo_id)
  lat_text, lon_text = fields[col["latitude"]].strip(), fields[col["longitude"]].strip()
  if not lat_text or not lon_text:
    raise BadRecord("no_gps", f"{where}: photo {photo_id} has no coordinates", photo_id)
  try:
    lat, lon = float(lat_text), float(lon_text)
  except ValueError:
    raise BadRecord("bad_coordinates",
                    f"{where}: photo {photo_id}: lat {lat_text!r}, lon {lon_text!r}",
                    photo_id) from None
  if not (-90 <= lat <= 90 and -180 <= lon <= 180):
    raise BadRecord("bad_coordinates", f"{where}: photo {photo_id}: lat {lat}, lon {lon}",
                    photo_id)
  url = fields[col["download_url"]]
  accuracy = fields[col["accuracy"]].strip()
  return YfccRecord(
      photo_id=photo_id,
      photo_hash=fields[col["hash"]] if "hash" in col else photo_hash_of_url(url),
      user=fields[col["user"]],
      date_taken=fields[col["taken"]],
      title=urllib.parse.unquote_plus(fields[col["title"]]),
      tags=decode_tags(fields[col["tags"]]),
      latitude=lat,
      longitude=lon,
      accuracy=int(accuracy) if accuracy.isdigit() else 0,
      download_url=url)


def open_text(path: str | os.PathLike) -> io.TextIOBase:
  """Opens a metadata file, plain or .bz2 (as the YFCC100M parts are distributed)."""
  path = os.fspath(path)
  if path.endswith(".bz2"):
    return io.TextIOWrapper(bz2.open(path, "rb"), encoding="utf-8", errors="replace")
  return open(path, encoding="utf-8", errors="replace")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
  """(1-based line number, line) of a metadata file, skipping blank lines."""
  with open_text(path) as f:
    for number, line in enumerate(f, start=1):
      if line.strip():
        yield number, line
