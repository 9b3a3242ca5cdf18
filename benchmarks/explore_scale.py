r"""The demo's Explore tab at scale: YFCC4k's 4,536 photos against 100k.

  python benchmarks/explore_scale.py --workdir runs/quickstart [--sizes 4536,100000]

Writes evaluator-style results CSVs of each size (photo-like true places; predictions at
street, city, region and continent errors in GeoEstimation-like shares), starts
`python -m demo --results ...` and drives it in headless Chromium. For each size, in ONE
run: the server's read of the file and its map payload (in this process), then in the browser
the time from choosing the file until every point is drawn, the map's own time for one frame
(data-draw-ms, median over pans and zooms), a filter (errors up to 25 km) until the accuracy
table shows it, and a click on a point until its row is in the inspector. The smallest size is
the reference the larger ones are compared with.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.photo_locations import photo_like_points  # pylint: disable=wrong-import-position
from demo import explore, results as results_lib  # pylint: disable=wrong-import-position
from tests.demo.demo_server import running_app  # pylint: disable=wrong-import-position
from timing import cpu_description

TIMEOUT_MS = 600_000
MAP = "#explore-map .jg-map"


def write_results(path: pathlib.Path, n: int, seed: int = 0) -> None:
  """An evaluator-style CSV of `n` photos with errors from metres to a continent."""
  rng = np.random.default_rng(seed)
  lat, lon = photo_like_points(n, seed=seed)
  scale_km = rng.choice([0.5, 10, 100, 500, 3000], size=n, p=[0.1, 0.3, 0.2, 0.2, 0.2])
  step = rng.normal(0, 1, (2, n)) * scale_km / 111.0
  plat = np.clip(lat + step[0], -89.9, 89.9)
  plon = (lon + step[1] / np.maximum(np.cos(np.radians(lat)), 0.05) + 180) % 360 - 180
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["img_id", "gt_lat", "predicted_lat", "gt_long", "predicted_long",
                     "great_circle_distance"])
    for i in range(n):
      writer.writerow([f"{i:08d}.jpg", f"{lat[i]:.6f}", f"{plat[i]:.6f}", f"{lon[i]:.6f}",
                       f"{plon[i]:.6f}", ""])


def server_side(path: pathlib.Path) -> tuple[float, float, int]:
  """(seconds to read, seconds to build the map's payload, its bytes)."""
  start = time.perf_counter()
  results = results_lib.read_results(str(path), path.name)
  read_s = time.perf_counter() - start
  start = time.perf_counter()
  data = explore.payload(results, np.ones(len(results), bool), move="all")
  return read_s, time.perf_counter() - start, len(data)


def in_browser(page, label: str, n: int) -> dict[str, float]:
  page.locator("#explore-source input").click()
  start = time.perf_counter()
  page.get_by_role("option", name=label).first.click()
  page.wait_for_function(f"Number(document.querySelector('{MAP}').dataset.points) >= {0.9 * n}",
                         timeout=TIMEOUT_MS)
  opened = time.perf_counter() - start
  draws = []
  canvas = page.locator(f"{MAP} canvas")
  box = canvas.bounding_box()
  cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
  for k in range(6):
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 40 * (-1) ** k, cy + 20, steps=4)
    page.mouse.up()
    page.mouse.wheel(0, -200 if k < 3 else 200)
    time.sleep(0.3)
    draws.append(float(page.locator(MAP).get_attribute("data-draw-ms")))
  page.locator(f"{MAP} .jg-fit").click()
  field = page.locator("#explore-error-max input, #explore-error-max textarea").first
  field.fill("25")
  start = time.perf_counter()
  page.keyboard.press("Enter")
  page.locator("#explore-summary", has_text="error 0-25 km").wait_for(timeout=TIMEOUT_MS)
  filtered = time.perf_counter() - start
  time.sleep(0.5)
  x, y, _ = json.loads(page.locator(MAP).get_attribute("data-sample"))[0]
  box = canvas.bounding_box()
  start = time.perf_counter()
  page.mouse.click(box["x"] + x, box["y"] + y)
  page.locator("#explore-inspector", has_text=f"In {label}").wait_for(timeout=TIMEOUT_MS)
  clicked = time.perf_counter() - start
  field.fill("")
  page.keyboard.press("Enter")
  page.locator("#explore-summary", has_text="filters: none").wait_for(timeout=TIMEOUT_MS)
  return {"open_s": opened, "frame_ms": statistics.median(draws), "frame_max_ms": max(draws),
          "filter_s": filtered, "click_s": clicked}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True, help="a trained run, e.g. runs/quickstart")
  parser.add_argument("--sizes", default="4536,100000")
  args = parser.parse_args()
  print(cpu_description(), flush=True)
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top

  sizes = [int(s) for s in args.sizes.split(",")]
  tmp = pathlib.Path(tempfile.mkdtemp(prefix="jaxgeo-explore-"))
  files = {n: tmp / f"results_{n}.csv" for n in sizes}
  for n, path in files.items():
    write_results(path, n)
  server = {n: server_side(path) for n, path in files.items()}
  flags = [f for path in files.values() for f in ("--results", str(path))]
  measured = {}
  with running_app(pathlib.Path(args.workdir), tmp, *flags) as url, \
       sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                         headless=True)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url)
    page.get_by_role("tab", name="Explore results").click(timeout=TIMEOUT_MS)
    for n, path in files.items():
      measured[n] = in_browser(page, f"{tmp.name}/{path.name}", n)
    browser.close()
  reference = sizes[0]
  for n in sizes:
    read_s, payload_s, size = server[n]
    m = measured[n]
    print(f"{n:>7,} photos: read {read_s:.2f} s + payload {payload_s:.2f} s "
          f"({size / 1e6:.1f} MB); in the browser: open {m['open_s']:.2f} s, one frame "
          f"{m['frame_ms']:.1f} ms (max {m['frame_max_ms']:.1f}), filter {m['filter_s']:.2f} s, "
          f"click to inspector {m['click_s']:.2f} s"
          + ("" if n == reference else
             f"; vs {reference:,}: open {m['open_s'] / measured[reference]['open_s']:.1f}x, "
             f"frame {m['frame_ms'] / measured[reference]['frame_ms']:.1f}x"))


if __name__ == "__main__":
  main()
