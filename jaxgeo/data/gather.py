"""Gathering a jitted step's outputs over a padded, sharded stream of batches, on every host.

Evaluation, embedding extraction (a frozen backbone's training batches, LocSens' inputs, the
retrieval gallery) and prediction of a split all run one step over `pipeline`'s padded batches
and need its outputs, with the examples' ids, in record order on every process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxgeo.data.pipeline import INDEX_KEY, MASK_KEY

_TEXT_BYTES = 64  # text fields (ids, photographers) cross processes as fixed-width byte rows
_TEXT_KEYS = ("id", "user")


def collect_outputs(batches: Iterable[dict], step: Callable[[dict], dict[str, jax.Array]]
                    ) -> dict[str, np.ndarray]:
  """Runs `step` over padded batches; gathers its outputs (and the batch's `id` and `user`
  texts) of real examples.

  Outputs come back from every process (`process_allgather`), so each host sees all results,
  in the source's record order (batches' `_index`) whatever the number of processes.
  """
  chunks: dict[str, list[np.ndarray]] = {}
  for batch in batches:
    outputs = dict(step(batch))
    for key in _TEXT_KEYS:
      if key in batch:
        text = np.asarray(batch[key]).astype(f"S{_TEXT_BYTES}")
        outputs[key] = np.frombuffer(text.tobytes(), np.uint8).reshape(len(text), _TEXT_BYTES)
    if INDEX_KEY in batch:
      outputs[INDEX_KEY] = batch[INDEX_KEY]
    outputs[MASK_KEY] = batch[MASK_KEY]
    gathered = {k: np.asarray(multihost_utils.process_allgather(v, tiled=True))
                for k, v in outputs.items()}
    mask = gathered.pop(MASK_KEY).astype(bool)
    for name, value in gathered.items():
      chunks.setdefault(name, []).append(value[mask])
  out = {name: np.concatenate(parts) for name, parts in chunks.items()}
  if INDEX_KEY in out:  # processes' batches arrive interleaved
    order = np.argsort(out.pop(INDEX_KEY), kind="stable")
    out = {name: value[order] for name, value in out.items()}
  for key in _TEXT_KEYS:
    if key in out:
      out[key] = np.array([bytes(row).rstrip(b"\0").decode("utf-8", "replace")
                           for row in out[key]])
  return out
