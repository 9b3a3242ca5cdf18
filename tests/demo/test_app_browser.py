"""End to end: the demo in headless Chromium (Debian's package, driven by Playwright).

`make test` installs chromium with apt when it is missing; Playwright's own browser download
(`playwright install`) is never used. The test skips, saying why, only when no chromium binary
can be found. The screenshot is kept as a test artifact: under pytest's tmp dir, and copied to
$JAXGEO_TEST_ARTIFACTS (default: /tmp/jaxgeo-test-artifacts), whose path the test prints.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EXAMPLES = REPO / "demo" / "examples"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Generous: on 2 busy CPU cores the first page render and the first prediction are slow.
TIMEOUT_MS = 120_000


def _artifacts() -> pathlib.Path:
  path = pathlib.Path(os.environ.get("JAXGEO_TEST_ARTIFACTS", "/tmp/jaxgeo-test-artifacts"))
  path.mkdir(parents=True, exist_ok=True)
  return path


def _chromium() -> str | None:
  for name in BROWSERS:
    path = shutil.which(name)
    if path:
      return path
  return None


def test_upload_in_the_browser_shows_the_place(runlocal_workdir, tmp_path_factory):
  sync_api = pytest.importorskip(
      "playwright.sync_api", reason="Playwright is not installed: pip install 'jaxgeo[dev]'")
  browser_path = _chromium()
  if browser_path is None:
    pytest.skip("no chromium binary on PATH (tried " + ", ".join(BROWSERS) + "): "
                "`make test` installs it with `apt-get install -y chromium` when run as root")
  from tests.demo.demo_server import running_app  # pylint: disable=g-import-not-at-top

  tmp = tmp_path_factory.mktemp("demo_browser")
  screenshot = tmp / "demo_upload.png"
  with running_app(runlocal_workdir, tmp) as url, sync_api.sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=browser_path, headless=True)
    try:
      page = browser.new_page(viewport={"width": 1400, "height": 1000})
      requested = []
      page.on("request", lambda request: requested.append(request.url))
      page.goto(url)
      page.locator("#locate").wait_for(timeout=TIMEOUT_MS)  # the app has rendered
      page.locator("#photos input[type=file]").set_input_files(
          [str(EXAMPLES / "paris_eiffel_tower.jpg")])
      # Uploaded: the server's copy has a download link. (Not the file name's text: Gradio shows
      # it as two spans, stem and extension, and only a transient progress line has it whole.)
      page.locator('#photos a[download="paris_eiffel_tower.jpg"]').wait_for(timeout=TIMEOUT_MS)
      page.click("#locate")
      place = page.locator(".jaxgeo-place").first
      place.wait_for(timeout=TIMEOUT_MS)
      text = place.inner_text()
      lat, lon = float(place.get_attribute("data-lat")), float(place.get_attribute("data-lon"))
      truth = page.locator(".jaxgeo-truth").first.inner_text()
      maps = page.locator("img.jaxgeo-map").count()
      notice = page.locator("#responsible-use").inner_text()
      card = page.locator("#model-card").inner_text()
      answer_warning = page.locator(".jaxgeo-result .jaxgeo-warning").first.inner_text()
      page.screenshot(path=str(screenshot), full_page=True)
      # An example is one click away: the click runs the prediction.
      page.get_by_role("button", name="reykjavik").click()
      page.locator('.jaxgeo-result[data-name="reykjavik.jpg"] .jaxgeo-place').wait_for(
          timeout=TIMEOUT_MS)
      # The search tab's map: a click on Paris fills in its coordinates.
      page.get_by_role("tab", name="Search indexed photos").click()
      world = page.locator("#search-map img").first
      world.wait_for()
      box = world.bounding_box()
      page.mouse.click(box["x"] + (2.35 + 180) / 360 * box["width"],
                       box["y"] + (90 - 48.86) / 180 * box["height"])
      where = page.locator("#search-where textarea, #search-where input").first
      page.wait_for_function("e => e.value !== ''", arg=where.element_handle(),
                             timeout=TIMEOUT_MS)
      picked = [float(v) for v in where.input_value().split(",")]
    except Exception:
      page.screenshot(path=str(_artifacts() / "demo_failure.png"), full_page=True)
      print(f"\nbrowser screenshot of the failure: {_artifacts() / 'demo_failure.png'}")
      print("the app's log, last lines:\n" + (tmp / "app.log").read_text()[-3000:])
      raise
    finally:
      browser.close()

  assert text.startswith("Predicted place: ")
  assert f"({lat:.4f}, {lon:.4f})" in text and "probability" in text
  assert -90 <= lat <= 90 and -180 <= lon <= 180
  assert truth.startswith("True place (EXIF GPS): 48.8566, 2.2924") and "km away" in truth
  assert maps == 2
  assert "never stores them" in notice
  # What the model knows, above the answers, and the toy-world warning on the answer itself.
  assert card.startswith("What this model knows. Trained on yfcc100m_geo/yfcc100m (")
  assert "% within 25 / 200 / 750 km" in card
  assert answer_warning.startswith("This model was trained only on jaxgeo's generated toy world")
  # Half a degree per pixel of the 720 px map, and the page may scale it.
  assert picked == pytest.approx([48.86, 2.35], abs=1.5)
  # Offline: the page loaded nothing from anywhere but the app (no CDN, tiles or web fonts).
  outside = sorted({u for u in requested if not u.startswith((url, "data:", "blob:"))})
  assert outside == []
  assert screenshot.stat().st_size > 10_000
  shutil.copy(screenshot, _artifacts() / screenshot.name)
  print(f"\nbrowser screenshot: {_artifacts() / screenshot.name} (also {screenshot})")
