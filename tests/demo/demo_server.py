"""Starts `python -m demo` in a subprocess on a free local port, as a user would (a test
helper)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

REPO = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 120  # generous: CI machines are busy


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def running_app(workdir: pathlib.Path, tmp: pathlib.Path, *flags: str,
                env: dict[str, str] | None = None) -> Iterator[str]:
  """The app's URL while it serves; stopped with Ctrl-C (SIGINT) afterwards, as a user would.

  The app's temporary files go under `tmp` (TMPDIR), so tests can check what it leaves there.
  Its output is in `tmp / "app.log"`. `env` adds environment variables for the app.
  """
  port = free_port()
  log = open(tmp / "app.log", "w")
  env = {**os.environ, "TMPDIR": str(tmp), "JAX_PLATFORMS": "cpu",
         # One CPU device: the app does not need the tests' 8 fake devices.
         "XLA_FLAGS": "", **(env or {})}
  process = subprocess.Popen(
      [sys.executable, "-m", "demo", "--workdir", str(workdir),
       "--port", str(port), *flags], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
  url = f"http://127.0.0.1:{port}/"
  try:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
      if process.poll() is not None:
        raise RuntimeError(f"the app exited with {process.returncode}:\n"
                           + (tmp / "app.log").read_text()[-3000:])
      with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        break
      if time.monotonic() > deadline:
        raise TimeoutError(f"the app did not listen within {START_TIMEOUT_S} s:\n"
                           + (tmp / "app.log").read_text()[-3000:])
      time.sleep(0.5)
    yield url
  finally:
    process.send_signal(signal.SIGINT)
    try:
      process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
      log.write(f"\n[test] killed: no exit within {STOP_TIMEOUT_S} s of Ctrl-C\n")
    log.close()
