"""A pytest hook: with JAXGEO_FAIL_ON_SKIP=1, any skipped test fails the run.

Tests skip with a reason when an optional extra (chromium, torch, h5py, mtcnn, TensorFlow,
pillow-heif) is missing, which is right on a user's machine. CI installs every extra, so a skip
there means something is broken; `.ci/run` sets the variable so that it cannot pass silently.
`tests/conftest.py` imports the hook.
"""

from __future__ import annotations

import os

import pytest

ENV = "JAXGEO_FAIL_ON_SKIP"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
  """Turns a green run with skipped tests into a failure, naming each skip and its reason."""
  del exitstatus
  if os.environ.get(ENV) != "1" or hasattr(session.config, "workerinput"):
    return  # off, or an xdist worker (the controller sees every worker's reports)
  reporter = session.config.pluginmanager.get_plugin("terminalreporter")
  skipped = reporter.stats.get("skipped", []) if reporter is not None else []
  if not skipped:
    return
  reporter.write_line("")
  reporter.write_line(f"{ENV}=1: {len(skipped)} test(s) skipped, but every extra should be "
                      "installed here, so each skip is a failure:", red=True, bold=True)
  for report in skipped:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    reporter.write_line(f"  {report.nodeid}: {reason}", red=True)
  if session.exitstatus == pytest.ExitCode.OK:
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
