"""The library's list and its exports (CSV, GeoJSON, XMP sidecars), built in memory."""

from __future__ import annotations

import base64
import csv
import io
import json
import pathlib
import sys
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from PIL import Image

from demo import library, privacy
from jaxgeo.predict import formats
from tests.demo.predictions import paris_prediction

NAMES = ("cells_coarse", "cells_fine")


def _entries() -> list[library.Entry]:
  no_gps = paris_prediction(true_location=None, source="IMG_1.jpg")
  return [
      library.entry_of("IMG_1.jpg", Image.new("RGB", (640, 480), (90, 140, 60)), no_gps,
                       privacy.decide(0)),
      library.Entry("with_gps.jpg", prediction=paris_prediction(source="with_gps.jpg"),
                    decision=privacy.decide(0)),
      library.Entry("portrait.jpg", prediction=paris_prediction(coarse=True, source="portrait.jpg"),
                    decision=privacy.decide(2)),
      library.Entry("IMG_1.jpg", prediction=no_gps, decision=privacy.decide(0)),
      library.Entry("notes.jpg", error="notes.jpg: not an image this demo can read."),
  ]


def test_items_show_each_upload_with_its_place():
  entries = _entries()
  items = library.items_html(entries + [library.Entry("<b>.jpg", error="<b>.jpg: empty")])
  assert items.count('class="jg-item') == 6
  assert items.count("jg-item jg-fine") == 3 and items.count("jg-item jg-coarse") == 1
  assert items.count("jg-item jg-error") == 2
  assert "Paris, France · 60%" in items and "Paris, France (coarse region)" in items
  assert "&lt;b&gt;.jpg: empty" in items and "<b>.jpg" not in items.replace("<b>IMG", "")
  # Thumbnails are inlined: nothing is written anywhere.
  assert entries[0].thumbnail.startswith("data:image/jpeg;base64,")
  thumb = Image.open(io.BytesIO(base64.b64decode(entries[0].thumbnail.split(",")[1])))
  assert max(thumb.size) == library.LIST_THUMBNAIL


def test_csv_and_geojson_are_the_batch_clis():
  entries = _entries()
  rows = list(csv.reader(io.StringIO(library.export_csv(entries, NAMES).decode())))
  assert rows[0] == formats.csv_header(NAMES)
  assert len(rows) == 5  # header and the four answered photos; the unreadable one has no row
  assert rows[1] == formats.csv_row(entries[0].prediction, NAMES)
  header = rows[0]
  assert rows[2][header.index("true_latitude")] == "48.856560"
  # The coarse answer keeps no coordinates of the photo's own GPS.
  assert rows[3][header.index("true_latitude")] == "" and rows[3][header.index("source")] == (
      "portrait.jpg")
  collection = json.loads(library.export_geojson(entries))
  assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 4
  first = collection["features"][0]
  assert first["geometry"] == {"type": "Point", "coordinates": [2.2945, 48.8584]}
  assert first["properties"]["place"] == "Paris, France" and "heat" not in first["properties"]
  assert collection["features"][2]["properties"]["true_location"] is None


def test_xmp_zip_follows_the_sidecar_rules():
  data, refused = library.export_xmp_zip(_entries())
  archive = zipfile.ZipFile(io.BytesIO(data))
  assert archive.namelist() == ["IMG_1.jpg.xmp"]
  sidecar = archive.read("IMG_1.jpg.xmp").decode()
  assert 'exif:GPSLatitude="48,51.504000N"' in sidecar
  assert 'GPSLongitude="2,17.670000E"' in sidecar
  assert refused == {"has_gps": 1, "coarse": 1, "duplicate_name": 1}
