"""Metrics to TensorBoard event files and `metrics.jsonl`, and a progress bar on the console.

One writer, used by the main process only, so a pod writes each number once.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping

import jax
import numpy as np
import tqdm
from tensorboardX import SummaryWriter

from jaxgeo.run import workdir as workdir_lib


def tensorboard_tag(name: str) -> str:
  """TensorBoard accepts [A-Za-z0-9_./-] in tags: `acc@25km` -> `acc_at_25km`."""
  name = name.replace("@", "_at_").replace(": ", "_").replace(" ", "_")
  return re.sub(r"[^A-Za-z0-9_./-]", "_", name)


class MetricWriter:
  """Writes scalars to `<workdir>/metrics.jsonl` and TensorBoard (`<workdir>/tensorboard`)."""

  def __init__(self, workdir: workdir_lib.PathLike | workdir_lib.Workdir):
    self.enabled = jax.process_index() == 0
    if self.enabled:
      workdir = workdir_lib.Workdir(workdir)
      self.jsonl = workdir_lib.open_for_append(workdir.metrics)
      # tensorboardX writes to buckets itself (gs:// through google-cloud-storage).
      self.tensorboard = SummaryWriter(str(workdir.tensorboard))


  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    clean = {k: float(v) for k, v in scalars.items()}
    self.jsonl.write(json.dumps({"step": step, **clean}) + "\n")
    self.jsonl.flush()
    for key, value in clean.items():
      if math.isfinite(value):
        self.tensorboard.add_scalar(tensorboard_tag(key), value, step)
    self.tensorboard.flush()

  def close(self) -> None:
    if self.enabled:
      self.jsonl.close()
      self.tensorboard.close()


def progress_bar(total_steps: int, initial_step: int) -> tqdm.tqdm:
  """Steps/s and ETA on the console (main process only)."""
  return tqdm.tqdm(total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True,
                   disable=jax.process_index() != 0)


class StepLog:
  """The training loops' logging: step metrics stay on the device until a logging step.

  Fetching every step's metrics would make each step wait for the last; they are collected and
  fetched every `log_every_steps`, checked (a non-finite loss stops the run naming its step) and
  written as means with the learning rate and the steps/s since the last write.
  """

  def __init__(self, writer: MetricWriter, bar: tqdm.tqdm, schedule: Callable[[int], float],
               prefix: str, what: str = "geolocation"):
    self.writer, self.bar, self.schedule = writer, bar, schedule
    self.prefix, self.what = prefix, what
    self.pending: list[tuple[int, Mapping]] = []
    self.restart_clock()

  def restart_clock(self) -> None:
    """Steps/s counts training only: restart after an evaluation."""
    self.start = time.perf_counter()

  def add(self, step: int, metrics: Mapping) -> None:
    self.pending.append((step, metrics))
    self.bar.update(1)

  def flush(self, step: int) -> None:
    fetched = [(s, jax.device_get(m)) for s, m in self.pending]
    for s, m in fetched:
      if not np.isfinite(m["loss"]):
        raise FloatingPointError(f"Non-finite loss {m['loss']} at step {s} ({self.what}); "
                                 "stopping. The last good checkpoint is in checkpoints/.")
    mean = {k: float(np.mean([m[k] for _, m in fetched])) for k in fetched[-1][1]}
    mean["learning_rate"] = float(self.schedule(step - 1))
    mean["steps_per_second"] = len(fetched) / (time.perf_counter() - self.start)
    self.writer.write(step, {f"{self.prefix}/{k}": v for k, v in mean.items()})
    self.bar.set_postfix(loss=f"{mean['loss']:.3f}")
    self.pending = []
    self.restart_clock()
