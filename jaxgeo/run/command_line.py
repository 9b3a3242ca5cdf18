"""The main job's command line, parsed by absl with errors a person can act on.

ml_collections' own errors for a config file that is not there, an argument the config does not
take or an override of a key the config lacks are tracebacks naming only the last key; these
name the file, the argument or the key, and the keys there are.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys

from absl import flags


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
