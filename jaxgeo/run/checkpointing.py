"""The one place that talks to orbax: train state + data iterator + metadata, saved together.

Saving the grain iterator with the model means a resumed run sees exactly the examples it would
have seen. orbax's API moves quickly; keeping every call here keeps that churn in one file.
"""

from __future__ import annotations

import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath


class Checkpointer:
  """Saves every `save_every_steps` (and when forced), keeps the last `keep` checkpoints."""

  def __init__(self, directory: str | os.PathLike, save_every_steps: int, keep: int = 2,
               async_save: bool = True):
    options = ocp.CheckpointManagerOptions(save_interval_steps=save_every_steps,
                                           max_to_keep=keep,
                                           enable_async_checkpointing=async_save)
    directory = epath.Path(directory)
    self.manager = ocp.CheckpointManager(
        directory if "://" in str(directory) else directory.absolute(), options=options,
        item_names=("state", "data_iter", "meta"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_iter: grain.DataLoaderIterator | None,
           meta: dict[str, Any], force: bool = False) -> bool:
    items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
    if data_iter is not None:
      items["data_iter"] = grain.checkpoint.CheckpointSave(data_iter)
    return self.manager.save(step, args=ocp.args.Composite(**items), force=force)

  def restore(self, step: int, abstract_state: Any,
              data_iter: grain.DataLoaderIterator | None) -> tuple[Any, dict[str, Any]]:
    """State (with the shardings of `abstract_state`), the iterator (in place) and metadata."""
    items = {"state": ocp.args.StandardRestore(abstract_state),
             "meta": ocp.args.JsonRestore()}
    if data_iter is not None:
      items["data_iter"] = grain.checkpoint.CheckpointRestore(data_iter)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    return restored["state"], restored["meta"]

  def resume(self, state: Any, data_iter: grain.DataLoaderIterator | None,
             what: str = "") -> tuple[Any, int]:
    """The latest checkpoint's state (shaped and sharded like `state`; the iterator moved along
    in place) and its step; `state` itself and 0 when there is none yet."""
    step = self.latest_step()
    if step is None:
      return state, 0
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
    restored, meta = self.restore(step, abstract, data_iter)
    first_step = int(restored["step"])
    logging.info("%s from step %d (%s).", f"{what}: resumed" if what else "Resumed", first_step,
                 meta)
    return restored, first_step

  def restore_model(self, step: int, abstract_model: Any) -> Any:
    """Only the parts of the state in `abstract_model` (e.g. parameters and statistics, not the
    optimizer's): the rest is never read."""
    restore_args = ocp.checkpoint_utils.construct_restore_args(abstract_model)
    restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
        abstract_model, restore_args=restore_args, partial_restore=True)))
    return restored["state"]

  def wait(self) -> None:
    """Blocks until async saves are on disk (before exiting or reading them)."""
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()
