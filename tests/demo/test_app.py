"""The demo's pieces (uploads, coarse mode, the inspector) and the app through gradio_client."""

from __future__ import annotations

import base64
import csv
import io
import json
import pathlib
import re
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from demo import privacy, uploads
from tests.demo.predictions import paris_prediction as _prediction

EXAMPLES = REPO / "demo" / "examples"


# ---------------------------------------------------------------------------------- uploads


def _jpeg(image: Image.Image, **kwargs) -> bytes:
  out = io.BytesIO()
  image.save(out, format="JPEG", **kwargs)
  return out.getvalue()


def test_decode_photo_orientation_and_modes():
  # A 60x40 landscape photo stored sideways (40x60) with EXIF orientation 6 (rotate 90 CW).
  upright = Image.new("RGB", (60, 40), (0, 0, 255))
  ImageDraw.Draw(upright).rectangle([0, 0, 29, 39], fill=(255, 0, 0))  # left half red
  stored = upright.transpose(Image.Transpose.ROTATE_90)
  exif = Image.Exif()
  exif[0x0112] = 6
  decoded = uploads.decode_photo(_jpeg(stored, exif=exif, quality=95), "phone.jpg")
  assert decoded.size == (60, 40)
  assert decoded.getpixel((5, 20))[0] > 200 and decoded.getpixel((55, 20))[2] > 200
  assert ImageOps.exif_transpose(decoded).size == (60, 40)
  # A transparent PNG is composited on white.
  rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
  out = io.BytesIO()
  rgba.save(out, format="PNG")
  png = uploads.decode_photo(out.getvalue(), "clear.png")
  assert png.mode == "RGB" and png.getpixel((3, 3)) == (255, 255, 255)


def _bad_uploads() -> dict[str, bytes]:
  """Bad uploads: zero bytes, not an image, truncated, 100 megapixels."""
  photo = (EXAMPLES / "tokyo.jpg").read_bytes()
  out = io.BytesIO()
  # 10,000 x 10,000 white PNG: ~100 KB on disk, 300 MB once decoded.
  Image.new("L", (10_000, 10_000), 255).save(out, format="PNG", optimize=False)
  return {"empty.jpg": b"", "notes.jpg": b"these are my holiday notes, not a photo\n" * 40,
          "truncated.jpg": photo[:len(photo) // 2], "huge.png": out.getvalue()}


@pytest.fixture(scope="module")
def bad_uploads() -> dict[str, bytes]:
  return _bad_uploads()


def test_bad_uploads_refused_with_reasons(bad_uploads):
  expected = {"empty.jpg": "empty (0 bytes)", "notes.jpg": "not an image",
              "truncated.jpg": "truncated or corrupt", "huge.png": "100 megapixels"}
  for name, data in bad_uploads.items():
    with pytest.raises(uploads.UploadError) as error:
      uploads.decode_photo(data, name)
    assert str(error.value).startswith(f"{name}: ")
    assert expected[name] in str(error.value)


def test_a_photo_cut_at_a_third_is_called_incomplete():
  # Pillow says "125 bytes not processed" while two thirds of the file were missing.
  photo = (EXAMPLES / "tokyo.jpg").read_bytes()
  with pytest.raises(uploads.UploadError) as error:
    uploads.decode_photo(photo[:len(photo) // 3], "IMG_2041.jpg")
  assert str(error.value) == ("IMG_2041.jpg: the file is incomplete: the image data ends early "
                              "(a truncated or corrupt copy). Upload the complete file.")


def test_an_upload_over_the_size_limit_says_so_in_megabytes():
  # Not Gradio's "25.0 Mb" (megabits?): "25 MB".
  assert uploads.MAX_UPLOAD_BYTES == 25 * 2**20 and uploads.file_size(25 * 2**20) == "25 MB"
  assert [uploads.file_size(n) for n in (3_300_000, 655_360, 90, 300 * 2**20)] == [
      "3.1 MB", "640 KB", "90 bytes", "300 MB"]
  assert uploads.size_limit_message("PXL_0001.jpg", 31_457_280) == (
      "PXL_0001.jpg: the file is 30 MB, over the upload limit of 25 MB. Upload a smaller copy (a "
      'phone\'s "medium" size is plenty; the model looks at a few hundred pixels anyway).')
  # Just over the limit never reads as the limit itself.
  assert "the file is 25.1 MB, over" in uploads.size_limit_message("x.jpg", 25 * 2**20 + 1)
  with pytest.raises(uploads.UploadError) as error:
    uploads.decode_photo(b"\xff" * (25 * 2**20 + 1), "big.jpg")
  assert str(error.value) == uploads.size_limit_message("big.jpg", 25 * 2**20 + 1)


def test_status_counts_read_1_photo_and_2_photos():
  from demo import library, library_tab, sessions  # pylint: disable=g-import-not-at-top
  one = library.Entry("a.jpg", prediction=_prediction(), decision=privacy.decide(0))
  bad = library.Entry("b.jpg", error="b.jpg: the file is empty (0 bytes).")
  status = library_tab.LibraryTab.status
  assert status(sessions.Session((one,))) == "1 photo"
  assert status(sessions.Session((one, bad)), skipped=1) == (
      "2 photos, 1 not readable; 1 file is not a photo and was left out")
  assert status(sessions.Session((one, one, bad, bad)), skipped=2, full=1) == (
      "4 photos, 2 not readable; 2 files are not photos and were left out; 1 not added: the "
      "library holds at most 2,000 photos")


def test_taking_an_upload_deletes_it_and_shares_it_with_requests_for_the_same_file(tmp_path):
  # Gradio's layout: <cache>/<sha256 of the bytes>/<name>; identical uploads share the path.
  folder = tmp_path / "3f0a"
  folder.mkdir()
  path = folder / "upload.jpg"
  path.write_bytes(b"abc")
  taker = uploads.UploadTaker()
  assert taker.take(path, "upload.jpg") == b"abc"
  assert not path.exists() and not folder.exists()  # the file and Gradio's folder for it
  assert taker.take(path, "upload.jpg") == b"abc"  # a second request for the same upload
  with pytest.raises(uploads.UploadError) as error:
    taker.take(tmp_path / "never.jpg", "never.jpg")
  assert str(error.value) == ("never.jpg: the upload was gone before it could be read. Upload "
                              "it again.")  # no server path
  # Kept in memory only briefly: after linger_s the bytes are gone too.
  brief = uploads.UploadTaker(linger_s=0.0)
  path.parent.mkdir()
  path.write_bytes(b"xyz")
  assert brief.take(path, "upload.jpg") == b"xyz"
  time.sleep(0.01)
  with pytest.raises(uploads.UploadError):
    brief.take(path, "upload.jpg")
  # Example photos the app keeps are read, not deleted.
  path.parent.mkdir()
  path.write_bytes(b"example")
  assert taker.take(path, "example.jpg", keep=lambda data: True) == b"example"
  assert path.read_bytes() == b"example"


# ---------------------------------------------------------------------------------- coarse mode


def test_coarse_decisions():
  assert privacy.decide(0) == privacy.Decision(coarse=False, reasons=(), faces=0)
  faces = privacy.decide(2)
  assert faces.coarse and "2 faces" in faces.reasons[0]
  no_detector = privacy.decide(None)
  assert no_detector.coarse and "face detector is not installed" in no_detector.reasons[0]
  shared = privacy.decide(0, share=True)
  assert shared.coarse and "share link" in shared.reasons[0]
  assert privacy.decide(0, coarse=True).coarse
  # Share link and a face: both reasons are given.
  assert len(privacy.decide(1, share=True).reasons) == 2


REAL_PHOTOS = REPO / "tests" / "real_photos"  # real photos with their licences (its README)
FACES_EXTRA = "the face check needs its weights: pip install 'jaxgeo[demo]'"


def test_face_check_on_real_photos():
  pytest.importorskip("mtcnn", reason=FACES_EXTRA)
  for name in ("astronaut.jpg", "cameraman.jpg"):
    assert privacy.count_faces(Image.open(REAL_PHOTOS / name)) == 1, name
  decision = privacy.decide(privacy.count_faces(Image.open(REAL_PHOTOS / "astronaut.jpg")))
  assert decision.coarse and decision.faces == 1 and "1 face:" in decision.reasons[0]
  # A landmark, a cat's face, and the toy world's example photos: no faces, fine answers.
  for path in [REAL_PHOTOS / "summer_palace.jpg", REAL_PHOTOS / "chelsea_cat.jpg",
               *EXAMPLES.glob("*.jpg")]:
    assert privacy.count_faces(Image.open(path).convert("RGB")) == 0, path.name


# ---------------------------------------------------------------------------------- the page


def test_page_shows_everything_for_a_fine_answer():
  from demo import report  # pylint: disable=g-import-not-at-top
  photo = Image.new("RGB", (64, 48), (10, 120, 200))
  index_photo = Image.new("RGB", (32, 32), (200, 20, 20))
  html = report.prediction_html("photo.jpg", _prediction(), privacy.decide(0),
                                report.data_uri(photo, "JPEG"), [("abc (0.87)", index_photo)])
  assert ("Predicted place:</b> Paris, France (48.8584, 2.2945), probability 60.0%" in html)
  assert "London, United Kingdom" in html and "30.0%" in html
  assert "cells_coarse</td><td>80.0%" in html and "hierarchy</td><td>60.0%" in html
  assert "LocSens, ranked for (48.86, 2.29)" in html and "eiffel tower" in html
  assert "Landmark:</b> Eiffel Tower (90.0%)" in html
  assert html.count('class="jaxgeo-index"') == 1 and "abc (0.87)" in html
  assert "True place (EXIF GPS):</b> 48.8566, 2.2924; the prediction is <b>0.2 km</b>" in html
  assert html.count('class="jaxgeo-photo"') == 1 and "data:image/jpeg;base64," in html
  summary = report.summary("photo.jpg", _prediction(), privacy.decide(0))
  assert summary["true_location"]["distance_km"] == 0.16
  assert summary["alternatives"][0]["place"] == "London, United Kingdom"


def test_page_hides_the_details_in_coarse_mode():
  from demo import report  # pylint: disable=g-import-not-at-top
  decision = privacy.decide(1)
  html = report.prediction_html("photo.jpg", _prediction(coarse=True), decision,
                                report.data_uri(Image.new("RGB", (64, 48)), "JPEG"))
  assert "Coarse region:</b> Paris, France, somewhere in 40-50&deg;N, 0-10&deg;E" in html
  for hidden in ("48.85", "2.29", "London", "Eiffel Tower", "eiffel tower", "EXIF GPS",
                 "ranked for", "cells_fine"):
    assert hidden not in html, hidden
  assert "to protect the people in it" in html and "not shown in coarse mode" in html
  assert "Tags are not shown in coarse mode" in html
  summary = report.summary("photo.jpg", _prediction(coarse=True), decision)
  assert summary["region"] == [40.0, 0.0, 50.0, 10.0]
  assert not {"latitude", "longitude", "alternatives", "tags", "landmark", "true_location"
              } & set(summary)


# ---------------------------------------------------------------------------------- the app


def test_command_line_defaults_and_share_forces_coarse():
  from demo import app, ui_inputs  # pylint: disable=g-import-not-at-top  (imports gradio)
  settings = app.parse_args(["--workdir", "w"])
  assert (settings.host, settings.port, settings.share, settings.coarse) == (
      "127.0.0.1", 7860, False, False)
  assert app.parse_args(["--workdir", "w", "--share"]).coarse
  assert app.parse_args(["--workdir", "w", "--coarse"]).coarse
  assert ui_inputs.parse_location(" 48.86, 2.35 ") == ((48.86, 2.35), "")
  assert ui_inputs.parse_location("-33.9 18.4") == ((-33.9, 18.4), "")
  assert ui_inputs.parse_location("") == (None, "")
  assert "not a place on Earth" in ui_inputs.parse_location("95, 10")[1]
  assert "decimal degrees" in ui_inputs.parse_location("Paris")[1]


class _Request:
  """What the handlers read of a gr.Request: the session's key."""

  def __init__(self, session_hash: str):
    self.session_hash = session_hash


class _Event:
  """What the handlers read of a list or map event: the photo's index."""

  def __init__(self, index: int):
    self._data = {"index": index}


class _NoModel:
  """The Predictor, as far as the views of photos it never answered ask it."""
  partition_names = ("cells_coarse", "cells_fine")
  has_index = has_gallery = False


def test_an_unreadable_first_upload_is_the_selected_row_everywhere(tmp_path):
  # After an upload whose first file was unreadable, the list used to keep highlighting the
  # photo before it while the inspector showed the error. The list highlights what the map's
  # `selected` says, so that must name the error's row, as the session and the inspector do.
  from demo import answerer, library, library_tab  # pylint: disable=g-import-not-at-top
  # The Photos tab's handlers alone: no file here needs the model.
  demo = library_tab.LibraryTab(answerer.Answerer(_NoModel()))
  old = library.Entry("PXL_20240612_081532417.PORTRAIT.jpg", prediction=_prediction(),
                      decision=privacy.decide(0))
  demo.sessions.append("s", old, demo.sessions.get("s").generation)
  broken = tmp_path / "IMG_20230815_143022_HDR_edited_final.jpg"
  broken.write_bytes(b"these are my holiday notes, not a photo\n" * 40)
  streamed = list(demo.add([str(broken)], False, _Request("s")))
  assert len(streamed) == 2  # the first answer at once, then the views with the exports
  for items, world, inspector, _, _, answers in streamed:
    assert demo.sessions.get("s").selected == 1
    assert json.loads(world)["selected"] == 1 and "focus" not in json.loads(world)
    assert 'class="jaxgeo-error"' in inspector and "not an image" in inspector
    assert 'class="jg-item jg-error" role="option" data-index="1"' in items
    assert "error" in answers[1] and answers[0]["name"] == old.name
  # Picked in the list again: the old photo, then the unreadable one; the map says which.
  world, inspector = demo.select(_Event(0), _Request("s"))
  assert json.loads(world)["selected"] == 0 and "PXL_20240612_081532417.PORTRAIT.jpg" in inspector
  world, inspector = demo.select(_Event(1), _Request("s"))
  assert json.loads(world)["selected"] == 1 and 'class="jaxgeo-error"' in inspector
  assert demo.sessions.get("s").selected == 1


@pytest.fixture(scope="module")
def app_url(runlocal_workdir, tmp_path_factory):
  from tests.demo.demo_server import running_app  # pylint: disable=g-import-not-at-top
  tmp = tmp_path_factory.mktemp("demo_app")
  with running_app(runlocal_workdir, tmp) as url:
    yield url, tmp
  # Ctrl-C: the app removed its private cache folder (and every upload with it).
  assert not list(tmp.glob("jaxgeo-demo-*")), (tmp / "app.log").read_text()[-2000:]


@pytest.fixture(scope="module")
def client(app_url):
  gradio_client = pytest.importorskip("gradio_client")
  return gradio_client.Client(app_url[0], verbose=False)


def _upload(tmp_path, name: str, data: bytes):
  from gradio_client import handle_file  # pylint: disable=g-import-not-at-top
  path = tmp_path / name
  path.write_bytes(data)
  return handle_file(str(path))


def _locate(client, files, five_crop: bool = False) -> dict:
  """Adds photos to the client's library as the "Add photos" button does; the views by name."""
  library, world, inspector, exports, status, answers = client.predict(
      files, five_crop, api_name="/locate")
  return {"library": library, "map": json.loads(world), "inspector": inspector,
          "exports": exports, "status": status, "answers": answers}


def _export(exports: str, css_class: str) -> bytes:
  """The bytes behind one of the export links (a data: URI)."""
  match = re.search(f'class="jg-export {css_class}" download="[^"]+" href="data:[^;]+;base64,'
                    '([^"]+)"', exports)
  assert match, exports[:300]
  return base64.b64decode(match.group(1))


def test_app_predicts_an_example(client, runlocal_workdir):
  from gradio_client import handle_file  # pylint: disable=g-import-not-at-top

  from jaxgeo.geo import distance  # pylint: disable=g-import-not-at-top
  from jaxgeo.run.restore import load_config, load_tree  # pylint: disable=g-import-not-at-top
  client.predict(api_name="/clear")
  views = _locate(client, [handle_file(str(EXAMPLES / "paris_eiffel_tower.jpg"))])
  html = views["inspector"]
  (result,) = views["answers"]
  assert result["name"] == "paris_eiffel_tower.jpg" and not result["coarse"]
  assert -90 <= result["latitude"] <= 90 and -180 <= result["longitude"] <= 180
  assert 0 < result["probability"] <= 1 and len(result["alternatives"]) == 4
  probabilities = [result["probability"]] + [a["probability"] for a in result["alternatives"]]
  # The run built its retrieval gallery: the hybrid may answer in a lower cell than the
  # hierarchy's best (its photos outweighed it); the alternatives follow in the hierarchy's order.
  assert result["method"] == "hybrid"
  assert probabilities[1:] == sorted(probabilities[1:], reverse=True)
  assert sum(probabilities) <= 1.0001
  photos = result["gallery_photos"]
  assert photos and (photos[0]["latitude"], photos[0]["longitude"]) == (result["latitude"],
                                                                        result["longitude"])
  assert "Gallery photos that decided the place" in html
  assert html.count('class="jaxgeo-gallery"') == len(photos)
  tree = load_tree(load_config(str(runlocal_workdir)), str(runlocal_workdir))
  assert list(result["granularities"]) == [*tree.names, "hierarchy"]
  # Tags: LocSens ranks them for the EXIF GPS position when the run has it, else the tag head.
  assert result["tags"] and result["tag_source"] in ("locsens", "tag_head")
  # The example's EXIF GPS (48.856560, 2.292364) and its distance to the answers.
  truth = result["true_location"]
  assert (truth["latitude"], truth["longitude"], truth["source"]) == (48.85656, 2.29236, "exif")
  expected_km = float(distance.great_circle_km(48.856560, 2.292364, result["latitude"],
                                               result["longitude"]))
  assert truth["distance_km"] == pytest.approx(expected_km, abs=0.02)
  # The inspector: the place, the photo inlined, the GPS line.
  assert f"Predicted place:</b> {result['place']}" in html.replace("&#x27;", "'")
  assert 'class="jaxgeo-photo" src="data:image/jpeg;base64,' in html
  assert "True place (EXIF GPS)" in html
  # The toy-world model says so on every answer.
  from jaxgeo.predict.model_card import TOY_WORLD_WARNING  # pylint: disable=g-import-not-at-top
  assert result["warning"] == TOY_WORLD_WARNING
  assert html.count('class="jaxgeo-warning"') == 1 and "generated toy world" in html
  # The library lists it with its place; the map pins it, with its heat map and true place.
  assert 'data-name="paris_eiffel_tower.jpg"' in views["library"]
  assert views["status"] == "1 photo"
  world = views["map"]
  assert world["pins"] == [{"i": 0, "lat": pytest.approx(result["latitude"], abs=1e-5),
                            "lon": pytest.approx(result["longitude"], abs=1e-5),
                            "label": "paris_eiffel_tower.jpg"}]
  assert world["selected"] == 0 and world["view"]["bounds"] == world["home"]
  focus = world["focus"]
  assert focus["truth"] == [pytest.approx(48.85656, abs=1e-5), pytest.approx(2.292364, abs=1e-5)]
  assert len(focus["alternatives"]) == 4 and len(focus["gallery"]) == len(photos)
  cells = [c["p"] for c in focus["cells"]]
  assert cells == sorted(cells, reverse=True) and 0.99 <= sum(cells) <= 1.0001
  # The exports: the CLI's CSV and GeoJSON; no sidecar, as the photo has GPS.
  rows = list(csv.reader(io.StringIO(_export(views["exports"], "jg-export-csv").decode())))
  assert rows[1][0] == "paris_eiffel_tower.jpg"
  assert float(rows[1][1]) == pytest.approx(result["latitude"], abs=1e-5)
  geojson = json.loads(_export(views["exports"], "jg-export-geojson"))
  assert geojson["features"][0]["properties"]["source"] == "paris_eiffel_tower.jpg"
  assert "jg-export-xmp" not in views["exports"] and "1 (has GPS)" in views["exports"]


def test_app_refuses_bad_uploads_and_keeps_serving(client, bad_uploads, tmp_path, app_url):
  from gradio_client import handle_file  # pylint: disable=g-import-not-at-top
  files = [_upload(tmp_path, name, data) for name, data in bad_uploads.items()]
  files.append(handle_file(str(EXAMPLES / "tokyo.jpg")))
  client.predict(api_name="/clear")
  views = _locate(client, files)
  results = views["answers"]
  errors = {r["name"]: r["error"] for r in results if "error" in r}
  assert set(errors) == set(bad_uploads)
  assert "empty (0 bytes)" in errors["empty.jpg"] and "not an image" in errors["notes.jpg"]
  assert "truncated or corrupt" in errors["truncated.jpg"]
  assert "100 megapixels" in errors["huge.png"]
  assert views["library"].count("jg-item jg-error") == 4 and "4 not readable" in views["status"]
  # The good photo in the same upload was still predicted, and only it is pinned...
  assert [r["name"] for r in results if "place" in r] == ["tokyo.jpg"]
  assert [p["label"] for p in views["map"]["pins"]] == ["tokyo.jpg"]
  # ...and the server answers the next request.
  again = _locate(client, [handle_file(str(EXAMPLES / "cape_town.jpg"))])["answers"]
  assert again[-1]["name"] == "cape_town.jpg" and "place" in again[-1]
  # No uploaded bytes are left anywhere under the app's temporary folder.
  uploaded = {data for data in bad_uploads.values() if data}
  _, tmp = app_url
  left = [p for p in tmp.rglob("*") if p.is_file() and p.name != "app.log"
          and p.read_bytes() in uploaded]
  assert left == []


def test_a_forged_upload_path_gets_no_server_path_back(app_url):
  """The scripting API called by hand with a path on the server that was never uploaded: the
  answer refuses it, and no message names a server path or the working directory."""
  import os  # pylint: disable=g-import-not-at-top
  import urllib.request  # pylint: disable=g-import-not-at-top
  url, tmp = app_url
  url = url.rstrip("/")
  secret = tmp / "not_uploaded.jpg"
  secret.write_bytes((EXAMPLES / "tokyo.jpg").read_bytes())
  forged = {"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], False]}
  request = urllib.request.Request(f"{url}/gradio_api/call/locate",
                                   data=json.dumps(forged).encode(),
                                   headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=60) as response:
    event = json.load(response)["event_id"]
  with urllib.request.urlopen(f"{url}/gradio_api/call/locate/{event}", timeout=120) as response:
    stream = response.read().decode()
  assert "event: error" in stream and "event: complete" not in stream, stream[:500]
  for server_path in (str(secret), str(tmp), str(REPO), os.getcwd(), "/tmp"):
    assert server_path not in stream, (server_path, stream[:500])
  assert "Traceback" not in stream and "File \"" not in stream
  # Nor does the page itself (its header names the model's run by its folder name only).
  with urllib.request.urlopen(f"{url}/config", timeout=60) as response:
    page = response.read().decode()
  assert "runlocal" in page and "/runlocal" not in page and str(tmp) not in page


def test_app_reads_iphone_heic_photos_upright_with_their_gps(client, tmp_path, app_url):
  from tests.photo_files import heic_with_gps  # pylint: disable=g-import-not-at-top
  data, _ = heic_with_gps(64.1466, -21.9426)  # Reykjavik
  result = _locate(client, [_upload(tmp_path, "IMG_0007.HEIC", data)])["answers"][-1]
  assert result["name"] == "IMG_0007.HEIC" and "error" not in result and "place" in result
  truth = result["true_location"]
  assert (truth["latitude"], truth["longitude"], truth["source"]) == (
      pytest.approx(64.1466, abs=1e-4), pytest.approx(-21.9426, abs=1e-4), "exif")
  _, tmp = app_url
  assert not [p for p in tmp.rglob("*") if p.is_file() and p.read_bytes() == data]


def test_app_coarse_for_faces(client, tmp_path, app_url):
  pytest.importorskip("mtcnn", reason=FACES_EXTRA)
  face = (REAL_PHOTOS / "astronaut.jpg").read_bytes()
  views = _locate(client, [_upload(tmp_path, "portrait.jpg", face)])
  result, html = views["answers"][-1], views["inspector"]
  assert result["coarse"] and result["faces"] == 1
  assert "latitude" not in result and "alternatives" not in result
  south, west, north, east = result["region"]
  assert north - south == 10 and east - west == 10 and south % 10 == 0 and west % 10 == 0
  assert list(result["granularities"]) == [next(iter(result["granularities"]))]
  assert "Coarse region:" in html and "to protect the people in it" in html
  assert "Predicted place" not in html
  pin = views["map"]["pins"][-1]  # the map shows its box, never a point
  assert pin["box"] == result["region"] and "lat" not in pin
  assert views["map"]["focus"] == {"box": result["region"]}
  _, tmp = app_url
  assert not [p for p in tmp.rglob("*") if p.is_file() and p.read_bytes() == face]


def test_app_reranks_tags_for_a_typed_place(client):
  from gradio_client import handle_file  # pylint: disable=g-import-not-at-top
  first = _locate(client, [handle_file(str(EXAMPLES / "reykjavik.jpg"))])["answers"][-1]
  assert first["name"] == "reykjavik.jpg" and first["tags"]
  html, exports = client.predict("64.15, -21.94", api_name="/rerank")  # the selected photo
  assert "<h3>reykjavik.jpg</h3>" in html and "jg-export-csv" in exports
  if first["tag_source"] == "locsens":  # the Predictor ranks tags with the run's LocSens
    assert "LocSens, ranked for (64.15, -21.94)" in html
  else:  # no LocSens: the tag head's tags, and the page says why
    assert "no LocSens model" in html
  html, _ = client.predict("200, 0", api_name="/rerank")
  assert "not a place on Earth" in html


def test_app_search_tab(client, runlocal_workdir):
  from jaxgeo.locsens import ranking  # pylint: disable=g-import-not-at-top
  scorer = ranking.load_locsens(str(runlocal_workdir))
  if scorer is None:  # a run without stage 2: the tab says so and the app keeps serving
    message, gallery, _ = client.predict("beach", "48.86, 2.35", 1000, api_name="/search")
    assert "no trained LocSens model" in message and gallery == []
    return
  index = scorer.load_index("test")
  where = f"{index.latitude[0]:.4f}, {index.longitude[0]:.4f}"
  tag = scorer.vocabulary.tags[0]
  message, gallery, _ = client.predict(tag, where, 2000, api_name="/search")
  assert gallery and f"for **{tag}** within 2,000 km" in message
  kms = [float(item["caption"].split(", ")[1].split(" km")[0].replace(",", ""))
         for item in gallery]
  assert all(km <= 2000 for km in kms)
  message, gallery, _ = client.predict("no such tag", where, 2000, api_name="/search")
  assert "not in the vocabulary" in message and gallery == []
  message, _, _ = client.predict(tag, "", 2000, api_name="/search")
  assert "Pick a place" in message


def test_search_without_locsens_says_why(tmp_path):
  from demo import search  # pylint: disable=g-import-not-at-top
  searcher, note = search.load_search(str(tmp_path))
  assert searcher is None and f"{tmp_path} has no trained LocSens model" in note


def test_eight_users_uploading_the_same_photo_at_once_all_get_an_answer(app_url, tmp_path):
  # Gradio stores identical uploads at one path; the first request used to delete it under the
  # others ("could not be read ([Errno 2] ... <server path>)" and an empty result for 7 of 8).
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top
  photo = io.BytesIO()
  Image.fromarray(np.random.default_rng(5).integers(0, 256, (120, 160, 3), np.uint8)).save(
      photo, format="JPEG", quality=90)
  (tmp_path / "IMG_2024.jpg").write_bytes(photo.getvalue())
  clients = [Client(app_url[0], verbose=False) for _ in range(8)]
  jobs = [c.submit([handle_file(str(tmp_path / "IMG_2024.jpg"))], False, api_name="/locate")
          for c in clients]
  answers = [job.result(timeout=300) for job in jobs]
  for views in answers:
    results = views[5]
    assert len(results) == 1 and "error" not in results[0], results
    assert results[0]["name"] == "IMG_2024.jpg" and "place" in results[0]
    assert "/tmp" not in views[2] and "Errno" not in views[2]
  assert len({views[5][0]["place"] for views in answers}) == 1
  # Nothing of the uploads stays on disk: no copy of the photo, no empty placeholder files.
  _, tmp = app_url
  cache = next(tmp.glob("jaxgeo-demo-*"))
  left = [p for p in cache.rglob("*") if p.is_file()]
  assert not [p for p in left if p.read_bytes() == photo.getvalue()]
  assert not [p for p in left if p.stat().st_size == 0], left


# With --share, Gradio opens a tunnel through gradio.live: the test points every request Gradio
# makes at a closed port of this machine instead, so the link fails at once without leaving it
# and the app serves locally -- still as a --share app.
_NO_SHARE_LINK = {"GRADIO_SHARE_SERVER_ADDRESS": "127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                  "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}


@pytest.mark.parametrize("flag", ["--coarse", "--share"])
def test_coarse_and_share_answer_every_photo_coarsely(runlocal_workdir, tmp_path, flag):
  from tests.demo.demo_server import running_app  # pylint: disable=g-import-not-at-top
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top
  photos = sorted(EXAMPLES.glob("*.jpg"))
  with running_app(runlocal_workdir, tmp_path, flag,
                   env=_NO_SHARE_LINK if flag == "--share" else None) as url:
    client = Client(url, verbose=False)
    views = _locate(client, [handle_file(str(p)) for p in photos])
    reranked, _ = client.predict("48.86, 2.35", api_name="/rerank")
    again = _locate(client, [])["answers"]  # the library after the typed place
  log = (tmp_path / "app.log").read_text()
  results = views["answers"]
  assert [r["name"] for r in results] == [p.name for p in photos]
  why = ("public share link" if flag == "--share" else "started with --coarse")
  for result in results + again:  # every answer, also after a typed location
    assert result["coarse"] and any(why in reason for reason in result["reasons"]), result
    south, west, north, east = result["region"]
    assert north - south == 10 and east - west == 10
    for fine in ("latitude", "longitude", "alternatives", "tags", "landmark", "true_location"):
      assert fine not in result, (fine, result)
    assert len(result["granularities"]) == 1  # the coarsest partition only
  assert views["library"].count("(coarse region)") == len(photos)
  shown = views["library"] + json.dumps(views["map"]) + views["inspector"] + reranked
  assert "Predicted place" not in shown and "Coarse region:" in views["inspector"]
  assert "48.8566" not in shown and "2.2924" not in shown  # the example's EXIF GPS stays hidden
  assert all("box" in pin and "lat" not in pin for pin in views["map"]["pins"])
  assert "48.8566" not in _export(views["exports"], "jg-export-csv").decode()
  if flag == "--share":
    assert "--share opens a PUBLIC link" in log and "Could not create share link" in log


def test_app_queues_concurrent_users(client, app_url):
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top
  others = [Client(app_url[0], verbose=False) for _ in range(3)]
  jobs = [c.submit([handle_file(str(EXAMPLES / "tokyo.jpg"))], False, api_name="/locate")
          for c in others]
  results = [job.result(timeout=120)[5] for job in jobs]
  assert [r[0]["name"] for r in results] == ["tokyo.jpg"] * 3
  assert len({r[0]["place"] for r in results}) == 1


def test_app_folder_upload_leaves_out_files_that_are_not_photos(client, tmp_path, app_url):
  from gradio_client import handle_file  # pylint: disable=g-import-not-at-top
  client.predict(api_name="/clear")
  notes = _upload(tmp_path, "notes.txt", b"taken on holiday")
  sidecar = _upload(tmp_path, "tokyo.jpg.xmp", b"<x:xmpmeta/>")
  library, world, _, _, status, answers = client.predict(
      [handle_file(str(EXAMPLES / "tokyo.jpg")), notes, sidecar], False,
      api_name="/add_folder")
  assert [a["name"] for a in answers] == ["tokyo.jpg"] and "place" in answers[0]
  assert status == "1 photo; 2 files are not photos and were left out"
  assert library.count('class="jg-item') == 1 and len(json.loads(world)["pins"]) == 1
  _, tmp = app_url  # the files left out were deleted like the others
  assert not [p for p in tmp.rglob("*") if p.is_file() and p.read_bytes() == b"taken on holiday"]
