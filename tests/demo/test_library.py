"""The library's list and its exports (CSV, GeoJSON, XMP sidecars), built in memory."""

from __future__ import annotations

import base64
import csv
import html
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


def test_rows_of_a_toy_world_model_carry_a_toy_mark():
  # The list used to show "Berlin · 90%" with no sign that the model is the toy one.
  from jaxgeo.predict import model_card  # pylint: disable=g-import-not-at-top
  toy = paris_prediction(warning=model_card.TOY_WORLD_WARNING)
  entries = [library.Entry("toy.jpg", prediction=toy, decision=privacy.decide(0)),
             library.Entry("toy_face.jpg", prediction=paris_prediction(
                 coarse=True, warning=model_card.TOY_WORLD_WARNING), decision=privacy.decide(1)),
             library.Entry("real.jpg", prediction=paris_prediction(), decision=privacy.decide(0)),
             library.Entry("notes.jpg", error="notes.jpg: not an image this demo can read.")]
  rows = library.items_html(entries).split("</li>")[:-1]
  mark = (f'<em class="jg-toy" title="{html.escape(model_card.TOY_WORLD_WARNING)}">toy model'
          "</em>")
  assert [mark in row for row in rows] == [True, True, False, False]
  # The caption stays the place and its probability; the mark is an element of its own.
  assert "<small>Paris, France · 60%</small>" + mark in rows[0]
  assert "<small>Paris, France (coarse region)</small>" + mark in rows[1]


def test_counts_read_1_photo_and_2_photos():
  assert formats.counted(1, "photo") == "1 photo"
  assert formats.counted(2, "photo") == "2 photos"
  assert formats.counted(0, "photo") == "0 photos"
  assert formats.counted(1200, "photo") == "1,200 photos"
  assert formats.counted(1, "process", "processes") == "1 process"
  assert formats.counted(3, "process", "processes") == "3 processes"


def test_the_batch_clis_report_counts_in_words():
  report = {"predicted": 1, "inputs": 1, "skipped": 0, "skipped_by_reason": {},
            "skipped_files": [], "csv": "out/predictions.csv", "geojson": "out/p.geojson",
            "shards": 1, "shard_size": 1, "processes": 1, "decode_threads": 1,
            "seconds": {"wall": 2.0, "decode": 0.5, "waiting": 0.1, "model": 1.0,
                        "answers": 0.2, "writing": 0.1}}
  text = formats.format_report(report)
  assert text.startswith("Predicted 1 of 1 photo; skipped 0.\n")
  assert ("Time (1 shard of 1 input, 1 process): 2.0 s, 0.5 photos/s a process; decoding "
          "0.5 s over 1 thread (the model waited 0.1 s for photos)") in text
  report.update(inputs=2, skipped=1, skipped_by_reason={"corrupt_image": 1}, shards=2,
                shard_size=8, processes=2, decode_threads=4)
  text = formats.format_report(report)
  assert text.startswith("Predicted 1 of 2 photos; skipped 1 (corrupt_image: 1).\n")
  assert "Time (2 shards of 8 inputs, 2 processes): " in text and "over 4 threads" in text
