"""Waiting for processes started together, as the hosts of one job (test helper)."""

from __future__ import annotations

import pathlib
import subprocess
import time


def wait_all(procs: list[tuple[subprocess.Popen, pathlib.Path]],
             timeout_s: float) -> list[tuple[int, str]]:
  """(exit code, console output) of each (process, its output file); kills them all as soon as
  one fails or the time runs out, so a hung collective fails a test instead of hanging CI."""
  deadline = time.monotonic() + timeout_s
  try:
    while any(p.poll() is None for p, _ in procs):
      if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p, _ in procs):
        break
      time.sleep(0.2)
  finally:
    for p, _ in procs:
      if p.poll() is None:
        p.kill()  # SIGKILL: a process stuck in a collective ignores SIGTERM
        p.wait()
  return [(p.returncode, pathlib.Path(out).read_text()) for p, out in procs]
