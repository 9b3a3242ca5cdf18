"""End to end: the demo in headless Chromium (Debian's package, driven by Playwright).

`make test` installs chromium with apt when it is missing; Playwright's own browser download
(`playwright install`) is never used. The test skips, saying why, only when no chromium binary
can be found. The screenshots (1440 x 900, zoomed in, and 390 x 844) are kept as test artifacts:
under pytest's tmp dir, and copied to $JAXGEO_TEST_ARTIFACTS (default:
/tmp/jaxgeo-test-artifacts), whose paths the test prints.
"""

from __future__ import annotations

import csv
import io
import json
import pathlib
import sys


REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EXAMPLES = REPO / "demo" / "examples"
# The example photos under names as phones and cameras write them (36-40 characters): one such
# name used to widen the phone layout past its window.
NAMES = {"paris_eiffel_tower.jpg": "PXL_20240612_081532417.PORTRAIT_01.jpg",
         "tokyo.jpg": "IMG_20230815_143022_HDR_edited_final.jpg",
         "reykjavik.jpg": "DSCN0025_Reykjavik_harbour_evening_2.jpg"}
UNREADABLE = "Screenshot_20240612-081532_Photos~2.jpg"  # not a photo at all
PHONE_LAYOUT = """() => {
  const edges = s => [...document.querySelectorAll(s)].map(e => {
    const r = e.getBoundingClientRect();
    return [s, Math.round(r.left), Math.round(r.right)];
  });
  const warning = document.querySelector('#inspector .jaxgeo-warning').getBoundingClientRect();
  return {
    scrollWidth: document.documentElement.scrollWidth,
    sideways: [...document.querySelectorAll('.gradio-container, main, #jg-shell')]
      .map(e => e.scrollLeft),
    edges: ['#jg-shell', '#jg-shell > *', '#library', '.jg-item', '#map', '#inspector',
            '#inspector h3', '#inspector table', '#exports'].flatMap(edges),
    warning: [warning.left, warning.top, warning.right, warning.bottom, innerWidth, innerHeight],
    warningCut: (e => e.scrollWidth > e.clientWidth)(
      document.querySelector('#inspector .jaxgeo-warning')),
  };
}"""


def _map_labels(page) -> dict:
  """The map's labels and marker boxes as drawn, and its canvas's size."""
  state = map_state(page)
  box = page.locator("#map canvas").bounding_box()
  return {"labels": json.loads(state["labels"]), "markers": json.loads(state["markers"]),
          "size": (box["width"], box["height"]), "selected": state["selected"]}


def _check_labels(drawn: dict, pin_name: str) -> None:
  """The selected pin's name and the error distance are drawn, on the canvas, clear of every
  marker and of each other."""
  def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
  labels, markers = drawn["labels"], drawn["markers"]
  texts = [text for text, *_ in labels]
  assert any(t.endswith(" km") for t in texts), drawn
  name = next((t for t in texts if t[:8] == pin_name[:8]), None)
  assert name, (pin_name, texts)
  assert name == pin_name or (name.endswith("\u2026") and pin_name.startswith(name[:-1])), name
  width, height = drawn["size"]
  for k, (text, *box) in enumerate(labels):
    assert 0 <= box[0] and 0 <= box[1] and box[2] <= width + 0.5 and box[3] <= height + 0.5, (
        text, box, drawn["size"])
    assert not [m for m in markers if overlap(box, m)], (text, box, markers)
    assert not [o for o in labels[k + 1:] if overlap(box, o[1:])], (text, labels)

from tests.demo.browser import (  # pylint: disable=wrong-import-position
    TIMEOUT_MS, keep_screenshots, map_state, playwright_and_chromium, report_failure, wait_map)
from tests.demo.demo_server import running_app  # pylint: disable=wrong-import-position


def test_library_map_and_inspector_in_the_browser(runlocal_workdir, tmp_path_factory):
  sync_api, browser_path = playwright_and_chromium()

  tmp = tmp_path_factory.mktemp("demo_browser")
  photos = tmp / "photos"
  photos.mkdir()
  for example, name in NAMES.items():
    (photos / name).write_bytes((EXAMPLES / example).read_bytes())
  (photos / UNREADABLE).write_bytes(b"not a photo, a note about one\n" * 30)
  names = list(NAMES.values())
  shots = {"desktop": tmp / "demo_desktop.png", "zoomed": tmp / "demo_zoomed.png",
           "phone": tmp / "demo_phone.png"}
  seen = {}
  with running_app(runlocal_workdir, tmp) as url, sync_api.sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=browser_path, headless=True)
    try:
      page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
      requested = []
      page.on("request", lambda request: requested.append(request.url))
      page.goto(url)
      page.locator("#add-photos").wait_for(timeout=TIMEOUT_MS)  # the app has rendered
      wait_map(page, "d.layer === 'l'")  # the outlines came from the app itself
      # Three photos at once; the first answer shows before the others are done.
      page.locator("input[data-testid='Add photos-upload-button']").set_input_files(
          [str(photos / n) for n in names])
      page.wait_for_function("document.querySelectorAll('.jg-item').length === 3",
                             timeout=TIMEOUT_MS)
      wait_map(page, "d.pins === '3' && d.selected === '0'")
      seen["items"] = page.locator(".jg-item b").all_inner_texts()
      seen["captions"] = page.locator(".jg-item small").all_inner_texts()
      seen["first"] = page.locator("#inspector h3").inner_text()
      place = page.locator("#inspector .jaxgeo-place")
      seen["place"] = place.inner_text()
      seen["lat_lon"] = (float(place.get_attribute("data-lat")),
                         float(place.get_attribute("data-lon")))
      seen["truth"] = page.locator("#inspector .jaxgeo-truth").inner_text()
      seen["within"] = page.locator("#inspector .jaxgeo-within").inner_text()
      seen["scroll"] = page.evaluate("[document.documentElement.scrollHeight, innerHeight]")
      seen["scroll_width"] = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
      # Long names are cut in the list, whole in their rows' titles.
      seen["titles"] = page.locator(".jg-item b").evaluate_all(
          "bs => bs.map(b => [b.title, b.scrollWidth > b.clientWidth])")
      seen["labels_all"] = _map_labels(page)
      seen["heat_paris"] = int(map_state(page)["heatCells"])
      page.screenshot(path=str(shots["desktop"]))
      # Select each photo: a click, then the arrow key; the inspector and the map follow.
      page.locator(".jg-item").nth(1).click()
      page.locator("#inspector h3", has_text=names[1]).wait_for(timeout=TIMEOUT_MS)
      wait_map(page, "d.selected === '1'")
      page.keyboard.press("ArrowDown")
      page.locator("#inspector h3", has_text=names[2]).wait_for(timeout=TIMEOUT_MS)
      wait_map(page, "d.selected === '2'")
      seen["selected_item"] = page.locator(".jg-item.jg-selected b").inner_text()
      answer = page.locator("#inspector .jaxgeo-place")
      seen["reykjavik_answer"] = (float(answer.get_attribute("data-lat")),
                                  float(answer.get_attribute("data-lon")))
      for _ in range(4):  # out to the whole world
        page.click("#map .jg-zoom-out")
      wait_map(page, "Number(d.span) > 300")
      world = float(map_state(page)["span"])
      # Enter in the list shows the selected photo on the map: it zooms onto its answer.
      page.locator(".jg-library").focus()
      page.keyboard.press("Enter")
      wait_map(page, f"Number(d.span) < {world / 2}")
      seen["located"] = map_state(page)
      seen["labels_located"] = _map_labels(page)
      # Zoom in with the button and the wheel: the detailed (~1 km) outlines take over.
      page.click("#map .jg-zoom-in")
      box = page.locator("#map canvas").bounding_box()
      page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
      for _ in range(3):
        page.mouse.wheel(0, -300)
      wait_map(page, "d.layer === 'i'")
      seen["zoomed"] = map_state(page)
      page.screenshot(path=str(shots["zoomed"]))
      # A click on a pin selects its photo: back to the whole library, then Tokyo's pin.
      zoomed_span = seen["zoomed"]["span"]
      page.click("#map .jg-fit")
      wait_map(page, f"d.span !== '{zoomed_span}'")
      hits = json.loads(map_state(page)["hits"])
      x, y = next((x, y) for x, y, i in hits if i == 1)  # Tokyo's pin
      box = page.locator("#map canvas").bounding_box()
      page.mouse.click(box["x"] + x, box["y"] + y)
      page.locator("#inspector h3", has_text=names[1]).wait_for(timeout=TIMEOUT_MS)
      wait_map(page, "d.selected === '1'")
      seen["pin_selected_item"] = page.locator(".jg-item.jg-selected b").inner_text()
      # Export: the CSV link downloads the library's answers.
      with page.expect_download() as download:
        page.click("#exports .jg-export-csv")
      seen["csv"] = pathlib.Path(download.value.path()).read_text(encoding="utf-8")
      # An unreadable upload: the inspector says why, and the list highlights its row (it
      # stayed on the photo selected before).
      page.locator("input[data-testid='Add photos-upload-button']").set_input_files(
          [str(photos / UNREADABLE)])
      page.locator("#inspector .jaxgeo-error").wait_for(timeout=TIMEOUT_MS)
      wait_map(page, "d.selected === '3'")
      page.wait_for_function("document.querySelectorAll('.jg-item.jg-selected').length === 1 "
                             "&& document.querySelector('.jg-item.jg-selected').dataset.index "
                             "=== '3'", timeout=TIMEOUT_MS)
      seen["error_row"] = page.locator(".jg-item.jg-selected").evaluate(
          "e => [e.dataset.name, e.classList.contains('jg-error')]")
      seen["error_inspector"] = page.locator("#inspector").inner_text()
      # A file over the upload limit is refused by Gradio in the browser; its message says MB.
      page.locator("input[data-testid='Add photos-upload-button']").set_input_files(
          [{"name": "PANO_20240612_081532_big.jpg", "mimeType": "image/jpeg",
            "buffer": b"\xff\xd8" + bytes(26 << 20)}])
      page.get_by_text("upload limit of 25 MB").first.wait_for(timeout=TIMEOUT_MS)
      seen["too_big"] = page.get_by_text("upload limit of").first.inner_text()
      # The phone-sized window: the same app, stacked, still usable.
      page.set_viewport_size({"width": 390, "height": 844})
      page.locator(".jg-item").first.click()
      page.locator("#inspector h3", has_text=names[0]).wait_for(timeout=TIMEOUT_MS)
      wait_map(page, "d.selected === '0'")
      seen["phone_boxes"] = [page.locator(s).bounding_box() for s in
                             ("#library", "#map", "#inspector")]
      seen["labels_phone"] = _map_labels(page)
      page.locator("#inspector .jaxgeo-warning").scroll_into_view_if_needed()
      seen["phone_layout"] = page.evaluate(PHONE_LAYOUT)
      page.screenshot(path=str(shots["phone"]), full_page=True)
    except Exception:
      report_failure(page, tmp, "demo_failure.png")
      raise
    finally:
      browser.close()

  assert seen["items"] == names
  assert "25 MB" in seen["too_big"] and "Mb" not in seen["too_big"], seen["too_big"]
  assert all(" · " in c and c.endswith("%") for c in seen["captions"])
  assert seen["first"] == names[0]
  lat, lon = seen["lat_lon"]
  assert seen["place"].startswith("Predicted place: ")
  assert f"({lat:.4f}, {lon:.4f})" in seen["place"] and "probability" in seen["place"]
  assert seen["truth"].startswith("True place (EXIF GPS): 48.8566, 2.2924")
  assert "km away" in seen["truth"] and "25 km:" in seen["within"]
  # One window: nothing scrolls the page at 1440 x 900.
  assert seen["scroll"][0] <= seen["scroll"][1], seen["scroll"]
  assert seen["scroll_width"][0] <= seen["scroll_width"][1], seen["scroll_width"]
  assert seen["titles"] == [[n, True] for n in names]  # cut with an ellipsis, whole in the title
  assert seen["heat_paris"] >= 1
  assert seen["selected_item"] == names[2]
  # The located view holds the photo's answer and its true place (EXIF GPS of Reykjavik).
  located = seen["located"]
  south, west, north, east = (float(v) for v in located["view"].split(","))
  assert located["selected"] == "2"
  for lat, lon in (seen["reykjavik_answer"], (64.174062, -21.896226)):
    assert south <= lat <= north and west <= lon <= east, (lat, lon, located["view"])
  assert seen["zoomed"]["layer"] == "i" and float(seen["zoomed"]["span"]) < 30
  assert seen["pin_selected_item"] == names[1]  # the list follows a click on the map
  rows = list(csv.reader(io.StringIO(seen["csv"])))
  assert [r[0] for r in rows[1:]] == seen["items"] and rows[0][:3] == ["source", "latitude",
                                                                        "longitude"]
  # The map's labels: the selected pin's name (cut if long) and the error's distance, clear of
  # the markers and of each other, in the whole library's view, zoomed in and on a phone.
  _check_labels(seen["labels_all"], names[0])
  _check_labels(seen["labels_located"], names[2])
  _check_labels(seen["labels_phone"], names[0])
  assert seen["error_row"] == [UNREADABLE, True]
  assert f"{UNREADABLE}: " in seen["error_inspector"] and "not an image" in seen[
      "error_inspector"]
  # Stacked on a phone: library above the map above the inspector, each the window's width.
  library, world, inspector = seen["phone_boxes"]
  assert library["y"] < world["y"] < inspector["y"]
  assert all(b["width"] <= 390 and b["width"] > 300 for b in seen["phone_boxes"])
  # Long names wrap or are cut: nothing widens the page past the phone's window or scrolls it
  # sideways, and the model's warning is whole on the screen.
  layout = seen["phone_layout"]
  assert layout["scrollWidth"] <= 390 and layout["sideways"] == [0, 0, 0], layout
  assert [e for e in layout["edges"] if e[1] < 0 or e[2] > 390] == [], layout["edges"]
  left, top, right, bottom, width, height = layout["warning"]
  assert 0 <= left and right <= width and 0 <= top and bottom <= height, layout["warning"]
  assert not layout["warningCut"]
  # Offline: the page loaded nothing from anywhere but the app (no CDN, tiles or web fonts).
  outside = sorted({u for u in requested if not u.startswith((url, "data:", "blob:"))})
  assert outside == []
  keep_screenshots(shots)
