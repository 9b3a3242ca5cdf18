"""End to end: the Explore tab over the quickstart's Im2GPS3k-style evaluation, in Chromium.

The figures the page shows are checked against the evaluator's CSV itself (errors recomputed
here with geopy). Screenshots at 1440 x 900 and 390 x 844 are kept as test artifacts.
"""

from __future__ import annotations

import csv
import json
import pathlib
import sys

from geopy import distance as geopy_distance

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from demo import explore  # pylint: disable=wrong-import-position
from tests.demo.browser import (  # pylint: disable=wrong-import-position
    TIMEOUT_MS, keep_screenshots, map_state, playwright_and_chromium, report_failure, wait_map)
from tests.demo.demo_server import running_app  # pylint: disable=wrong-import-position

CONTINENTS = set(explore.CONTINENTS.values())
MAP = "#explore-map .jg-map"


def _errors(path: pathlib.Path) -> list[float]:
  with open(path, encoding="utf-8", newline="") as f:
    return [geopy_distance.great_circle((float(r["gt_lat"]), float(r["gt_long"])),
                                        (float(r["predicted_lat"]),
                                         float(r["predicted_long"]))).km
            for r in csv.DictReader(f)]


def _choose(page, dropdown: str, option: str) -> None:
  page.locator(f"{dropdown} input").click()
  page.get_by_role("option", name=option).first.click()


def _summary_waits_for(page, text: str) -> str:
  page.locator("#explore-summary", has_text=text).wait_for(timeout=TIMEOUT_MS)
  return page.locator("#explore-summary").inner_text()


def test_explore_the_quickstart_evaluation_in_the_browser(runlocal_workdir, tmp_path_factory):
  sync_api, browser_path = playwright_and_chromium()

  tmp = tmp_path_factory.mktemp("explore_browser")
  evaluation = runlocal_workdir / "eval" / "geo_testsets_im2gps3k.csv"
  errors = _errors(evaluation)
  # A results file given on the command line, with a row that has no prediction.
  extra = tmp / "yfcc4k_copy.csv"
  lines = (runlocal_workdir / "eval" / "geo_testsets_yfcc4k.csv").read_text().splitlines()
  extra.write_text("\n".join(lines + ["broken.jpg,10.0,,20.0,,"]) + "\n")
  shots = {"desktop": tmp / "explore_desktop.png", "phone": tmp / "explore_phone.png"}
  seen = {}
  with running_app(runlocal_workdir, tmp, "--results", str(extra)) as url, \
       sync_api.sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=browser_path, headless=True)
    try:
      page = browser.new_page(viewport={"width": 1440, "height": 900})
      requested = []
      page.on("request", lambda request: requested.append(request.url))
      page.goto(url)
      page.get_by_role("tab", name="Explore results").click(timeout=TIMEOUT_MS)
      _choose(page, "#explore-source", "geo_testsets/im2gps3k (hierarchy)")
      seen["all"] = _summary_waits_for(page, "photos shown")
      wait_map(page, f"Number(d.points) === {len(errors)}", MAP)
      seen["map"] = map_state(page, MAP)
      # A click on a point (photos answered with the same cell share it: any of them is
      # selected): its row, its photo from the built split, the model's answer.
      x, y, _ = json.loads(seen["map"]["sample"])[0]
      box = page.locator(f"{MAP} canvas").bounding_box()
      page.mouse.click(box["x"] + x, box["y"] + y)
      page.locator("#explore-inspector", has_text="The model's answer now").wait_for(
          timeout=TIMEOUT_MS)
      wait_map(page, "d.selected !== ''", MAP)
      seen["row"] = int(map_state(page, MAP)["selected"])
      seen["inspector"] = page.locator("#explore-inspector").inner_text()
      seen["photo"] = page.locator("#explore-inspector img.jaxgeo-photo").count()
      seen["scroll"] = page.evaluate("[document.documentElement.scrollHeight, innerHeight]")
      page.screenshot(path=str(shots["desktop"]))
      # Filters: errors up to 25 km, then also predicted in the first country listed.
      page.locator("#explore-error-max input, #explore-error-max textarea").first.fill("25")
      page.keyboard.press("Enter")
      seen["close"] = _summary_waits_for(page, "error 0-25 km")
      seen["close_points"] = map_state(page, MAP)["points"]
      page.locator("#explore-error-max input, #explore-error-max textarea").first.fill("")
      page.keyboard.press("Enter")
      _summary_waits_for(page, "filters: none")
      page.locator("#explore-region input").click()
      options = page.get_by_role("option").all_inner_texts()
      seen["options"] = options
      country = next(o for o in options[1:] if o.rsplit(" (", 1)[0] not in CONTINENTS)
      page.get_by_role("option", name=country).first.click()
      seen["country"] = country
      seen["country_summary"] = _summary_waits_for(page, "predicted in")
      # Another file: the --results copy, whose broken row is counted and named.
      _choose(page, "#explore-source", f"{tmp.name}/yfcc4k_copy.csv")
      page.locator("#explore-status", has_text="skipped").wait_for(timeout=TIMEOUT_MS)
      seen["status"] = page.locator("#explore-status").inner_text()
      seen["copy_summary"] = _summary_waits_for(page, f"of {len(lines) - 1} photos shown")
      page.set_viewport_size({"width": 390, "height": 844})
      seen["phone_boxes"] = [page.locator(s).bounding_box() for s in
                             ("#jg-explore-controls", "#explore-map", "#explore-summary")]
      page.screenshot(path=str(shots["phone"]), full_page=True)
    except Exception:
      report_failure(page, tmp, "explore_failure.png")
      raise
    finally:
      browser.close()

  n = len(errors)
  assert f"{n} of {n} photos shown" in seen["all"] and f"true place known for {n}" in seen["all"]
  for radius in (1, 25, 200, 750, 2500):  # the page's accuracy is the CSV's
    share = sum(e <= radius for e in errors) / n
    assert f"{100 * share:.1f}%" in seen["all"], (radius, share, seen["all"])
  assert seen["map"]["layer"] == "l" and int(seen["map"]["lines"]) == n
  assert "In geo_testsets/im2gps3k (hierarchy)" in seen["inspector"]
  assert f"{errors[seen['row']]:,.1f} km" in seen["inspector"]
  assert seen["photo"] == 1  # the test photo itself, read from the built split
  assert seen["scroll"][0] <= seen["scroll"][1], seen["scroll"]
  close = sum(e <= 25 for e in errors)
  assert f"{close} of {n} photos shown" in seen["close"] and seen["close_points"] == str(close)
  assert "100.0%" in seen["close"]  # every shown photo is within 25 km
  # A country's option says how many photos are predicted there; that many are shown.
  listed = int(seen["country"].rsplit(" (", 1)[1].rstrip(")").replace(",", ""))
  assert seen["country_summary"].startswith(f"{listed} of {n} photos shown")
  assert seen["options"][0].endswith(f"All photos ({n})")  # (after the check mark)
  assert "1 row of " in seen["status"] and "no predicted position: 1 (line" in seen["status"]
  assert "true place known for" in seen["copy_summary"]
  controls, world, summary = seen["phone_boxes"]
  assert controls["y"] < world["y"] < summary["y"]
  outside = sorted({u for u in requested if not u.startswith((url, "data:", "blob:"))})
  assert outside == []
  keep_screenshots(shots)
