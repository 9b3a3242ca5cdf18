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

from tests.demo.browser import (  # pylint: disable=wrong-import-position
    TIMEOUT_MS, keep_screenshots, map_state, playwright_and_chromium, report_failure, wait_map)
from tests.demo.demo_server import running_app  # pylint: disable=wrong-import-position


def test_library_map_and_inspector_in_the_browser(runlocal_workdir, tmp_path_factory):
  sync_api, browser_path = playwright_and_chromium()

  tmp = tmp_path_factory.mktemp("demo_browser")
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
          [str(EXAMPLES / n) for n in ("paris_eiffel_tower.jpg", "tokyo.jpg", "reykjavik.jpg")])
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
      seen["heat_paris"] = int(map_state(page)["heatCells"])
      page.screenshot(path=str(shots["desktop"]))
      # Select each photo: a click, then the arrow key; the inspector and the map follow.
      page.locator(".jg-item").nth(1).click()
      page.locator("#inspector h3", has_text="tokyo.jpg").wait_for(timeout=TIMEOUT_MS)
      wait_map(page, "d.selected === '1'")
      page.keyboard.press("ArrowDown")
      page.locator("#inspector h3", has_text="reykjavik.jpg").wait_for(timeout=TIMEOUT_MS)
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
      page.locator("#inspector h3", has_text="tokyo.jpg").wait_for(timeout=TIMEOUT_MS)
      wait_map(page, "d.selected === '1'")
      seen["pin_selected_item"] = page.locator(".jg-item.jg-selected b").inner_text()
      # Export: the CSV link downloads the library's answers.
      with page.expect_download() as download:
        page.click("#exports .jg-export-csv")
      seen["csv"] = pathlib.Path(download.value.path()).read_text(encoding="utf-8")
      # The phone-sized window: the same app, stacked, still usable.
      page.set_viewport_size({"width": 390, "height": 844})
      page.locator(".jg-item").first.click()
      page.locator("#inspector h3", has_text="paris_eiffel_tower.jpg").wait_for(
          timeout=TIMEOUT_MS)
      seen["phone_boxes"] = [page.locator(s).bounding_box() for s in
                             ("#library", "#map", "#inspector")]
      page.screenshot(path=str(shots["phone"]), full_page=True)
    except Exception:
      report_failure(page, tmp, "demo_failure.png")
      raise
    finally:
      browser.close()

  assert seen["items"] == ["paris_eiffel_tower.jpg", "tokyo.jpg", "reykjavik.jpg"]
  assert all(" · " in c and c.endswith("%") for c in seen["captions"])
  assert seen["first"] == "paris_eiffel_tower.jpg"
  lat, lon = seen["lat_lon"]
  assert seen["place"].startswith("Predicted place: ")
  assert f"({lat:.4f}, {lon:.4f})" in seen["place"] and "probability" in seen["place"]
  assert seen["truth"].startswith("True place (EXIF GPS): 48.8566, 2.2924")
  assert "km away" in seen["truth"] and "25 km:" in seen["within"]
  # One window: nothing scrolls the page at 1440 x 900.
  assert seen["scroll"][0] <= seen["scroll"][1], seen["scroll"]
  assert seen["heat_paris"] >= 1
  assert seen["selected_item"] == "reykjavik.jpg"
  # The located view holds the photo's answer and its true place (EXIF GPS of Reykjavik).
  located = seen["located"]
  south, west, north, east = (float(v) for v in located["view"].split(","))
  assert located["selected"] == "2"
  for lat, lon in (seen["reykjavik_answer"], (64.174062, -21.896226)):
    assert south <= lat <= north and west <= lon <= east, (lat, lon, located["view"])
  assert seen["zoomed"]["layer"] == "i" and float(seen["zoomed"]["span"]) < 30
  assert seen["pin_selected_item"] == "tokyo.jpg"  # the list follows a click on the map
  rows = list(csv.reader(io.StringIO(seen["csv"])))
  assert [r[0] for r in rows[1:]] == seen["items"] and rows[0][:3] == ["source", "latitude",
                                                                        "longitude"]
  # Stacked on a phone: library above the map above the inspector, each the window's width.
  library, world, inspector = seen["phone_boxes"]
  assert library["y"] < world["y"] < inspector["y"]
  assert all(b["width"] <= 390 and b["width"] > 300 for b in seen["phone_boxes"])
  # Offline: the page loaded nothing from anywhere but the app (no CDN, tiles or web fonts).
  outside = sorted({u for u in requested if not u.startswith((url, "data:", "blob:"))})
  assert outside == []
  keep_screenshots(shots)
