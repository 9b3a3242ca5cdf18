"""A coarse answer carries nothing finer than its region, in every output that shows it.

One photo with EXIF GPS is answered coarsely by the demo (the page, the library list, the map's
JSON, the scripting API's JSON, the CSV, GeoJSON and XMP exports) and by the batch CLI (its
CSV, GeoJSON, report and plan files, with --write_xmp), and every text is searched for what the
fine answer of the same photo would reveal: its coordinates, the photo's own GPS, the classes'
and cells' ids of every partition, and the city names. The regions' own numbers (grid-cell
centres and edges, multiples of 5 degrees) are all a coarse answer may hold.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

from jaxgeo.predict import predictor as predictor_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from demo import app as app_lib  # noqa: E402

PHOTO = REPO / "demo" / "examples" / "paris_eiffel_tower.jpg"  # EXIF GPS 48.856560, 2.292364
GPS = (48.856560, 2.292364)
NAME = "IMG_0001.jpg"  # the example's own name says "paris"
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,([A-Za-z0-9+/=]+)")


def _fine_facts(predictor: predictor_lib.Predictor) -> dict[str, set]:
  """What the fine answer of the photo reveals, to be searched for in the coarse outputs."""
  fine = predictor.predict(PHOTO.read_bytes(), name=NAME)
  coords = {GPS[0], GPS[1]}
  for p in fine.places:
    coords |= {p.latitude, p.longitude}
  tokens, ids = set(), set()
  for p in fine.places:
    tokens.add(p.cell)
    ids.add(p.class_id)
  for g in fine.granularities:
    ids.add(g.class_id)
    partition = next((q for q in predictor.hierarchy.partitions if q.name == g.name), None)
    if partition is not None:
      tokens.add(partition.tokens[g.class_id])
  cities = {p.name.split(",")[0].removeprefix("near ").strip() for p in fine.places
            if "," in p.name}
  return {"coords": coords, "tokens": tokens, "ids": ids, "cities": cities}


def _decoded_exports(html: str) -> tuple[str, list[str]]:
  """The HTML with its data: URIs cut out, and the text of each export behind them (a zip's
  members read one by one; images left out)."""
  texts = []
  for match in DATA_URI.finditer(html):
    data = base64.b64decode(match.group(1))
    if data[:2] == b"PK":
      with zipfile.ZipFile(io.BytesIO(data)) as z:
        texts += [z.read(n).decode() for n in z.namelist()]
    elif not data.startswith((b"\x89PNG", b"\xff\xd8")):
      texts.append(data.decode())
  return DATA_URI.sub("data:...", html), texts


def _without_timings(where: str, text: str) -> str:
  """The batch CLI's report less its timings: seconds and rates are numbers that may fall near a
  coordinate by chance, and say nothing of where the photo is."""
  if where.endswith(".json"):
    report = json.loads(text)
    if isinstance(report, dict):
      report.pop("seconds", None)
    return json.dumps(report)
  return "\n".join(line for line in text.splitlines() if not line.startswith("Time ("))


def _log_words(text: str) -> str:
  """The CLI's log less what every line carries (absl's and Python's timestamps, thread ids,
  source lines) and decimal numbers (timings, sizes): a short cell token such as "31" would
  otherwise be found in a clock time."""
  text = re.sub(r"(?m)^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+\s+\S+:\d+\]", "", text)
  text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+", "", text)
  return re.sub(r"\d\d:\d\d:\d\d|\d+\.\d+", "", text)


def _is_fine_coordinate(number: str, coords: set) -> bool:
  """Whether a number written with its decimals is one of `coords` written so: equal once
  rounded to 1 or 2 decimals, within rounding of 3 or more; never a region's centre or edge."""
  value, decimals = float(number), len(number.split(".")[1])
  if value % 5 == 0:
    return False
  if decimals <= 2:
    return any(round(c, decimals) == round(value, decimals) for c in coords)
  return any(abs(value - c) < 6e-4 for c in coords)


def _assert_nothing_finer(where: str, text: str, facts: dict[str, set]) -> None:
  # The log's numbers are timestamps, sizes and timings of the libraries underneath: only its
  # words are searched.
  if where != "cli log":
    for number in re.findall(r"-?\d+\.\d+", _without_timings(where, text)
                             if where.startswith("cli") else text):
      assert not _is_fine_coordinate(number, facts["coords"]), (
          f"{where}: {number} is a coordinate of the fine answer")
  else:
    text = _log_words(text)
  for token in facts["tokens"]:
    assert not re.search(rf"\b{re.escape(token)}\b", text), f"{where}: cell {token}"
  for city in facts["cities"]:
    assert city not in text, f"{where}: the city {city!r}"
  for key in ("class_id", "cell"):
    for value in re.findall(rf'"{key}": ("[^"]*"|-?\d+)', text):
      assert value in ('""', "-1"), f"{where}: {key} {value}"


def _assert_regions(where: str, lat: str, lon: str) -> None:
  if lat or lon:
    assert float(lat) % 10 == 5 and float(lon) % 10 == 5, f"{where}: {lat}, {lon} is no centre"


@pytest.fixture(scope="module")
def predictor(runlocal_workdir) -> predictor_lib.Predictor:
  return predictor_lib.Predictor.from_workdir(str(runlocal_workdir))


def test_a_coarse_answer_leaks_nothing_finer_anywhere(predictor, runlocal_workdir, tmp_path):
  facts = _fine_facts(predictor)
  assert facts["cities"] and facts["tokens"] and facts["ids"]  # what a fine answer reveals

  # The demo, started with --coarse: every view of a library holding the photo.
  settings = app_lib.parse_args(["--workdir", str(runlocal_workdir), "--coarse"])
  demo = app_lib.Demo(settings, predictor, searcher=None).library  # the Photos tab
  entry = demo.answerer.answer(NAME, PHOTO.read_bytes(), five_crop=False)
  assert entry.prediction.coarse and entry.prediction.true_location is not None
  session = demo.sessions.append("k", entry, demo.sessions.get("k").generation, select=True)
  library, world, inspector, exports, status, answers = demo.views(session, move="all")
  page, export_texts = _decoded_exports(library + inspector + exports)
  assert len(export_texts) == 2  # CSV and GeoJSON; no XMP sidecar for a coarse answer
  outputs = {"page": page, "map": world, "status": status, "api": json.dumps(answers),
             "to_dict": json.dumps(entry.prediction.to_dict())}
  outputs.update({f"export {i}": text for i, text in enumerate(export_texts)})

  # The batch CLI with --coarse and --write_xmp, over a copy of the photo.
  photos, out = tmp_path / "photos", tmp_path / "out"
  photos.mkdir()
  (photos / NAME).write_bytes(PHOTO.read_bytes())
  result = subprocess.run(
      [sys.executable, "-m", "jaxgeo.predict", "--workdir", str(runlocal_workdir), "--output_dir",
       str(out), "--coarse", "--write_xmp", str(photos)],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert not list(photos.glob("*.xmp"))
  files = [p for p in out.rglob("*") if p.is_file()]
  assert {"predictions.csv", "predictions.geojson", "report.json"} <= {p.name for p in files}
  outputs.update({f"cli {p.relative_to(out)}": p.read_text() for p in files})
  outputs["cli log"] = result.stderr

  for where, text in outputs.items():
    _assert_nothing_finer(where, text, facts)

  # Where coordinates are fields, they are region centres.
  for where in ("cli predictions.csv", "export 0"):
    rows = list(csv.DictReader(io.StringIO(outputs[where])))
    assert len(rows) == 1
    _assert_regions(where, rows[0]["latitude"], rows[0]["longitude"])
    _assert_regions(where, rows[0]["true_latitude"], rows[0]["true_longitude"])
    assert rows[0]["cell"] == "" and rows[0]["distance_km"] == ""
  for where in ("cli predictions.geojson", "export 1"):
    (feature,) = json.loads(outputs[where])["features"]
    _assert_regions(where, *map(str, reversed(feature["geometry"]["coordinates"])))
  summary, top = answers[0], entry.prediction.top
  south, west, north, east = summary["region"]
  assert (north - south, east - west, south % 10, west % 10) == (10, 10, 0, 0)
  assert ((south + north) / 2, (west + east) / 2) == (top.latitude, top.longitude)
  assert summary["place"] == top.name and "," not in top.name  # the country alone
