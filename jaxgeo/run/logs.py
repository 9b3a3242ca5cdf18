"""The run's log: the console and `<workdir>/log.txt` (one file per process), without the
INFO chatter of the libraries underneath."""

from __future__ import annotations

import logging as python_logging

import jax
from absl import logging

from jaxgeo.run import workdir as workdir_lib


# Libraries whose INFO lines (orbax writes a dozen per checkpoint) drown the run's own log;
# their warnings and errors still show.
_QUIET_LIBRARIES = ("/orbax/", "/tensorflow_datasets/", "/grain/", "/etils/")


class _QuietLibraries(python_logging.Filter):

  def filter(self, record: python_logging.LogRecord) -> bool:
    return record.levelno >= python_logging.WARNING or not any(
        lib in record.pathname for lib in _QUIET_LIBRARIES)


class _LogFileHandler(python_logging.StreamHandler):
  """Lines to a file of the workdir, local or in a bucket (where it is written on close)."""

  def __init__(self, path):
    super().__init__(workdir_lib.open_for_append(path))

  def close(self) -> None:
    self.stream.close()
    super().close()


def log_to_workdir(workdir: workdir_lib.Workdir) -> None:
  """Adds the workdir's log file of this process to absl's logger, and quiets the libraries."""
  handler = _LogFileHandler(workdir.log(jax.process_index()))
  handler.setFormatter(python_logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
  logger = logging.get_absl_logger()
  logger.addHandler(handler)
  logger.addFilter(_QuietLibraries())  # for the console and the file alike
