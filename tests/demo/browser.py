"""Helpers of the browser tests: Debian's chromium, screenshots kept as artifacts, the map's
state as its data-* attributes say."""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Generous: on 2 busy CPU cores the first page render and the first prediction are slow.
TIMEOUT_MS = 120_000


def artifacts() -> pathlib.Path:
  path = pathlib.Path(os.environ.get("JAXGEO_TEST_ARTIFACTS", "/tmp/jaxgeo-test-artifacts"))
  path.mkdir(parents=True, exist_ok=True)
  return path


def chromium() -> str | None:
  for name in BROWSERS:
    path = shutil.which(name)
    if path:
      return path
  return None


def map_state(page, selector: str = "#map .jg-map") -> dict[str, str]:
  """What the map says it drew (its data-* attributes)."""
  return page.locator(selector).evaluate("e => Object.assign({}, e.dataset)")


def wait_map(page, condition: str, selector: str = "#map .jg-map") -> None:
  page.wait_for_function(f"(() => {{ const d = document.querySelector('{selector}').dataset; "
                         f"return {condition}; }})()", timeout=TIMEOUT_MS)


def playwright_and_chromium() -> tuple[Any, str]:
  """(playwright.sync_api, the chromium binary); the test is skipped, saying why, without them.
  `make test` installs chromium with apt; Playwright's own browser download is never used."""
  sync_api = pytest.importorskip(
      "playwright.sync_api", reason="Playwright is not installed: pip install 'jaxgeo[dev]'")
  path = chromium()
  if path is None:
    pytest.skip("no chromium binary on PATH (tried " + ", ".join(BROWSERS) + "): "
                "`make test` installs it with `apt-get install -y chromium` when run as root")
  return sync_api, path


def report_failure(page, tmp: pathlib.Path, name: str) -> None:
  """A failed browser test: a screenshot of the page and the app's last log lines."""
  page.screenshot(path=str(artifacts() / name), full_page=True)
  print(f"\nbrowser screenshot of the failure: {artifacts() / name}")
  print("the app's log, last lines:\n" + (tmp / "app.log").read_text()[-3000:])


def keep_screenshots(shots: dict[str, pathlib.Path]) -> None:
  """Checks the screenshots hold a page (not a blank one) and copies them to the artifacts."""
  for shot in shots.values():
    assert shot.stat().st_size > 10_000
    shutil.copy(shot, artifacts() / shot.name)
  print(f"\nbrowser screenshots: {', '.join(str(artifacts() / s.name) for s in shots.values())}")
