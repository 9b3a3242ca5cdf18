"""Metrics to TensorBoard event files and `metrics.jsonl`, and a progress bar on the console.

One writer, used by the main process only, so a pod writes each number once.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping

import jax
import tqdm
from tensorboardX import SummaryWriter


def tensorboard_tag(name: str) -> str:
  """TensorBoard accepts [A-Za-z0-9_./-] in tags: `acc@25km` -> `acc_at_25km`."""
  name = name.replace("@", "_at_").replace(": ", "_").replace(" ", "_")
  return re.sub(r"[^A-Za-z0-9_./-]", "_", name)


class MetricWriter:
  """Writes scalars to `<workdir>/metrics.jsonl` and TensorBoard (`<workdir>/tensorboard`)."""

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    if self.enabled:
      self.jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
      self.tensorboard = SummaryWriter(os.path.join(workdir, "tensorboard"))

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
