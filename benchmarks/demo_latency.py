r"""The demo as a user feels it: upload to answer, and the map with a 200-photo library.

  python benchmarks/demo_latency.py --workdir runs/quickstart [--photos 200] [--single 5]

Starts `python -m demo` on this machine and drives it in headless Chromium (Debian's
package, through Playwright), as tests/demo/test_app_browser.py does. It measures, in ONE run:
  * upload to answer: from handing one phone-sized JPEG (1600 x 1200) to the "Add photos" button
    until its row with the predicted place shows in the library, median of --single photos. The
    reference is the Predictor alone on the same JPEG bytes in this process (decode, model,
    names): the ratio is what the browser, the upload and the views add.
  * a library of --photos photos (added in one upload; time until all rows show), then with
    every photo pinned: how long the map takes to draw one frame (its own measure, data-draw-ms,
    median over pans and zooms) and how long a click in the list takes to update the inspector.
"""

from __future__ import annotations

import argparse
import functools
import io
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.timing import median_seconds  # pylint: disable=wrong-import-position
from tests.demo.demo_server import running_app  # pylint: disable=wrong-import-position
from timing import cpu_description

TIMEOUT_MS = 600_000


def phone_photo(seed: int, size=(1600, 1200)) -> bytes:
  """A photo-like JPEG: smooth colour fields with noise, different for each seed."""
  rng = np.random.default_rng(seed)
  h, w = size[1] // 8, size[0] // 8
  base = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
  small = np.asarray(Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC), np.float32)
  small += rng.normal(0, 12, small.shape)
  image = Image.fromarray(np.clip(small, 0, 255).astype(np.uint8)).resize(size)
  out = io.BytesIO()
  image.save(out, format="JPEG", quality=88)
  return out.getvalue()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True, help="a trained run, e.g. runs/quickstart")
  parser.add_argument("--photos", type=int, default=200)
  parser.add_argument("--single", type=int, default=5)
  args = parser.parse_args()
  print(cpu_description(), flush=True)
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top

  from jaxgeo.predict.predictor import Predictor  # pylint: disable=g-import-not-at-top
  browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
  if browser_path is None:
    sys.exit("no chromium on PATH: apt-get install -y chromium")
  tmp = pathlib.Path(tempfile.mkdtemp(prefix="jaxgeo-demo-bench-"))
  singles = []  # the first is the warm-up (a file input fires no change for the same file)
  for k in range(args.single + 1):
    path = tmp / f"IMG_{k:04d}.jpg"
    path.write_bytes(phone_photo(k))
    singles.append(path)
  many = tmp / "library"
  many.mkdir()
  for k in range(args.photos):
    (many / f"DSC_{k:04d}.jpg").write_bytes(phone_photo(1000 + k, (800, 600)))

  predictor = Predictor.from_workdir(args.workdir)
  data = singles[0].read_bytes()
  reference = median_seconds(functools.partial(predictor.predict, data, name="x.jpg"), repeats=5)
  del predictor

  def rows(page) -> int:
    return page.locator(".jg-item").count()

  with running_app(pathlib.Path(args.workdir), tmp) as url, sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=browser_path, headless=True)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url)
    page.locator("#add-photos").wait_for(timeout=TIMEOUT_MS)
    upload = page.locator("input[data-testid='Add photos-upload-button']")
    upload.set_input_files([str(singles[0])])  # warm-up: the first request compiles
    page.wait_for_function("document.querySelectorAll('.jg-item').length === 1",
                           timeout=TIMEOUT_MS)
    latencies = []
    for path in singles[1:]:
      before = rows(page)
      start = time.perf_counter()
      upload.set_input_files([str(path)])
      page.wait_for_function(f"document.querySelectorAll('.jg-item').length === {before + 1}",
                             timeout=TIMEOUT_MS, polling=20)
      latencies.append(time.perf_counter() - start)
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('.jg-item').length === 0",
                           timeout=TIMEOUT_MS)
    start = time.perf_counter()
    upload.set_input_files(sorted(str(p) for p in many.iterdir()))
    page.wait_for_function(f"document.querySelectorAll('.jg-item').length === {args.photos}",
                           timeout=TIMEOUT_MS, polling=100)
    library_s = time.perf_counter() - start
    page.wait_for_function(f"document.querySelector('#map .jg-map').dataset.pins === "
                           f"'{args.photos}'", timeout=TIMEOUT_MS)
    canvas = page.locator("#map canvas").bounding_box()
    cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    draws = []
    for k in range(20):
      page.mouse.move(cx, cy)
      if k % 2:
        page.mouse.wheel(0, -200 if k < 10 else 200)
      else:
        page.mouse.down()
        page.mouse.move(cx + 60, cy + 20, steps=3)
        page.mouse.up()
      page.wait_for_timeout(60)
      draws.append(float(page.locator("#map .jg-map").get_attribute("data-draw-ms")))
    selects = []
    for k in (10, 50, 100, 150, min(199, args.photos - 1)):
      name = f"DSC_{k:04d}.jpg"
      start = time.perf_counter()
      page.locator(f'.jg-item[data-name="{name}"]').click()
      page.locator("#inspector h3", has_text=name).wait_for(timeout=TIMEOUT_MS)
      selects.append(time.perf_counter() - start)
    browser.close()
  shutil.rmtree(tmp, ignore_errors=True)
  p50 = statistics.median(latencies)
  print(f"upload to answer (1600x1200 JPEG, {len(latencies)} photos): p50 {p50:.2f} s, "
        f"max {max(latencies):.2f} s; Predictor alone {reference:.3f} s "
        f"(app/Predictor {p50 / reference:.1f}x)")
  print(f"library of {args.photos} photos (800x600, one upload): all answered in "
        f"{library_s:.1f} s ({args.photos / library_s:.1f} photos/s)")
  print(f"map with {args.photos} pins: one frame p50 {statistics.median(draws):.1f} ms, "
        f"max {max(draws):.1f} ms; a click in the list to the inspector: p50 "
        f"{statistics.median(selects):.2f} s, max {max(selects):.2f} s")


if __name__ == "__main__":
  main()
