r"""The main job: `python -m jaxgeo.main --config configs/<name>.py --workdir DIR`.

A config's argument follows a colon (`configs/quickstart.py:runlocal`; configs/common.py's
parse_arg). Config overrides use ml_collections' syntax, e.g. `--config.partitions.tau_min=20`.
The log goes to the console and to `<workdir>/log.txt`; the resolved config to
`<workdir>/config.json`.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging as python_logging
import os
import re
import sys
import time

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from jaxgeo import train
from jaxgeo.locsens import train as locsens_train
from jaxgeo.run import distributed, host_memory, workdir as workdir_lib

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (configs/*.py), optionally `path:arg`.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for outputs, logs and checkpoints.")
flags.mark_flags_as_required(["config", "workdir"])


def run_locsens(config: ml_collections.ConfigDict,
                workdir: workdir_lib.Workdir) -> dict | None:
  """Stage 2 (LocSens) into `<workdir>/locsens`, over `locsens.stage1_workdir` or this workdir."""
  if not config.locsens.enabled:
    return None
  section = config.locsens.copy_and_resolve_references()
  section.stage1_workdir = section.stage1_workdir or str(workdir)
  return locsens_train.train_and_evaluate(section, workdir.locsens)


def _config_file_arg(argv: list[str]) -> str | None:
  for i, arg in enumerate(argv[1:], start=1):
    if arg.startswith("--config="):
      return arg.split("=", 1)[1]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _unknown_override(argv: list[str], config_arg: str) -> str:
  """Says which `--config.a.b=...` override names a key the config lacks, and what it has."""
  path, _, arg = config_arg.partition(":")
  spec = importlib.util.spec_from_file_location("_jaxgeo_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg or None)
  for override in argv:
    match = re.match(r"--config\.([\w.]+)(=|$)", override)
    if not match:
      continue
    node, keys = config, match.group(1).split(".")
    for depth, key in enumerate(keys):
      if not hasattr(node, "keys") or key not in node:
        where = ".".join(keys[:depth]) or "the config"
        known = sorted(node.keys()) if hasattr(node, "keys") else []
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (f"error: {override!r}: {where} has no key {key!r}.{hint} "
                f"Keys there: {', '.join(known)}.")
      node = node[key]
  return "error: a --config override names a key the config does not have."


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing with clear errors for a missing config file, an argument the config does
  not take, and an unknown key."""
  config_arg = _config_file_arg(argv)
  if config_arg and not os.path.isfile(config_arg.split(":", 1)[0]):
    sys.exit(f"error: config file {config_arg.split(':', 1)[0]!r} not found (configs are "
             "Python files such as configs/quickstart.py).")
  try:
    return flags.FLAGS(argv)
  except (KeyError, AttributeError):
    # ml_collections raises these, naming only the last key component, for an unknown override.
    sys.exit(_unknown_override(argv, config_arg))
  except flags.IllegalFlagValueError as e:
    # The config file's get_config(arg) refused its argument (configs/common.py's parse_arg):
    # its message says what the config takes; the traceback around it says nothing more.
    cause = e.__context__
    while cause is not None and cause.__context__ is not None:
      cause = cause.__context__
    if isinstance(cause, ValueError):
      sys.exit(f"error: {cause}")
    raise


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


def _log_to_workdir(workdir: workdir_lib.Workdir) -> None:
  handler = _LogFileHandler(workdir.log(jax.process_index()))
  handler.setFormatter(python_logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
  logger = logging.get_absl_logger()
  logger.addHandler(handler)
  logger.addFilter(_QuietLibraries())  # for the console and the file alike


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  host_memory.reexec_with_malloc_tuning()  # on the CPU; a restart, so first of all
  mode = distributed.initialize_from_environment()  # before anything else touches JAX
  config, workdir = _CONFIG.value, workdir_lib.Workdir(_WORKDIR.value).make()
  _log_to_workdir(workdir)
  logging.info("Distributed mode: %s.", mode)
  if jax.process_index() == 0:
    workdir.config.write_text(config.to_json_best_effort(indent=2))
  logging.info("Config:\n%s", config)

  start = time.perf_counter()
  if jax.process_count() > 1:
    logging.info("Process %d of %d.", jax.process_index(), jax.process_count())
  # Stage 1 (geolocation) unless the config is stage 2 only (configs/locsens.py).
  results = train.train_and_evaluate(config, workdir) if config.stage1 else {}
  summary = {"results": results}
  stage1_seconds = time.perf_counter() - start
  locsens_results = run_locsens(config, workdir)
  if locsens_results is not None:
    summary["locsens"] = locsens_results
    logging.info("LocSens stage 2 took %.1f s.", time.perf_counter() - start - stage1_seconds)
  if jax.process_index() == 0:
    workdir_lib.write_json(workdir.summary, summary)
  logging.info("Done in %.1f s.", time.perf_counter() - start)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
