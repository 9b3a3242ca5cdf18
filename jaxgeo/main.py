r"""The main job: `python -m jaxgeo.main --config configs/<name>.py --workdir DIR`.

A config's argument follows a colon (`configs/quickstart.py:runlocal`; configs/common.py's
parse_arg). Config overrides use ml_collections' syntax, e.g. `--config.partitions.tau_min=20`.
The log goes to the console and to `<workdir>/log.txt`; the resolved config to
`<workdir>/config.json`.
"""

from __future__ import annotations

import time

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from jaxgeo import train
from jaxgeo.locsens import train as locsens_train
from jaxgeo.run import command_line, distributed, host_memory, logs, workdir as workdir_lib

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


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  host_memory.reexec_with_malloc_tuning()  # on the CPU; a restart, so first of all
  mode = distributed.initialize_from_environment()  # before anything else touches JAX
  config, workdir = _CONFIG.value, workdir_lib.Workdir(_WORKDIR.value).make()
  logs.log_to_workdir(workdir)
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
  app.run(main, flags_parser=command_line.parse_flags)
