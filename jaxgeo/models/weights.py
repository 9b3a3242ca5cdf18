"""What every importer of published weights shares: the input scaling weights expect, reading
PyTorch / safetensors files, and strict assignment into a model with a report.

Loading is strict for every family (jaxgeo.models.resnet_pretrained, vit_pretrained, mtcnn):
every parameter of the model must come from the file and every file entry must find its place,
or the load fails listing what is missing, unexpected or shaped otherwise, so that a model never
trains or answers from silently random weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx

Path = tuple[str | int, ...]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """Per-channel `(x - mean) / std` over uint8 RGB pixels (0..255 units) that weights expect."""
  mean: tuple[float, float, float]
  std: tuple[float, float, float]

  def __call__(self, images: Any, dtype: Any = jnp.float32) -> jax.Array:
    """Normalises uint8 NHWC RGB images; meant to run on the device, inside the jitted step."""
    x = jnp.asarray(images).astype(dtype)
    return (x - jnp.asarray(self.mean, dtype)) / jnp.asarray(self.std, dtype)


@dataclasses.dataclass(frozen=True)
class LoadReport:
  """What a load did.

  Attributes:
    source: the file (or "state dict") read.
    loaded: model paths that received values, e.g. "stages/0/0/conv1/kernel".
    skipped: names in the file deliberately not loaded (the ImageNet classifier).
  """
  source: str
  loaded: tuple[str, ...]
  skipped: tuple[str, ...]


class WeightsMismatchError(ValueError):
  """A weights file does not fit the model (missing, unexpected or differently shaped entries)."""


def read_torch_file(path: str) -> Mapping[str, Any]:
  if path.endswith(".safetensors"):
    try:
      from safetensors.numpy import load_file
    except ImportError as e:
      raise ImportError(f"Reading {path} needs safetensors: pip install 'jaxgeo[torch]'") from e
    return load_file(path)
  try:
    import torch
  except ImportError as e:
    raise ImportError(f"Reading {path} needs PyTorch: pip install 'jaxgeo[torch]' (or convert "
                      "the file to .safetensors, which needs only safetensors)") from e
  # weights_only: a .pth is a pickle, and unpickling an untrusted file can run code.
  return torch.load(path, map_location="cpu", weights_only=True)


def to_numpy(value: Any) -> np.ndarray:
  if hasattr(value, "detach"):  # a torch tensor; bf16/fp16 go through float32 (NumPy lacks bf16)
    value = value.detach().cpu()
    if value.is_floating_point():
      value = value.float()
    return value.numpy()
  return np.asarray(value)


def unwrap_state_dict(obj: Mapping[str, Any]) -> dict[str, Any]:
  """The tensors of a state dict saved bare, under a "state_dict"/"model" key, or from DDP."""
  for key in ("state_dict", "model", "model_state_dict"):
    if key in obj and isinstance(obj[key], Mapping):
      obj = obj[key]
      break
  if obj and all(k.startswith("module.") for k in obj):
    obj = {k[len("module."):]: v for k, v in obj.items()}
  return dict(obj)


def _path_str(path: Path) -> str:
  return "/".join(str(p) for p in path)


def _path_order(path: Path) -> list[tuple[bool, str | int]]:
  """Sorts paths with list indices numerically (stages/2/6 before stages/2/10)."""
  return [(isinstance(part, str), part) for part in path]


def _listing(title: str, items: list[str], limit: int = 25) -> str:
  shown = "\n    ".join(items[:limit])
  more = f"\n    ... and {len(items) - limit} more" if len(items) > limit else ""
  return f"  {title} ({len(items)}):\n    {shown}{more}"


def assign(model: nnx.Module, arrays: dict[Path, np.ndarray], origin: dict[Path, str],
           unexpected: list[str], skipped: list[str], source: str, describe: str,
           advice: str) -> LoadReport:
  """Checks that `arrays` covers exactly the model's variables, then writes them in.

  Strict for every importer: the error lists each model entry the file lacks, each file entry
  with no place in the model and each shape mismatch, saying what the model is (`describe`) and
  what to do (`advice`); nothing is written unless everything fits.
  """
  state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))
  targets = dict(nnx.to_flat_state(state))
  missing = [_path_str(p) for p in sorted(targets, key=_path_order) if p not in arrays]
  unexpected = list(unexpected) + sorted(
      f"{origin[p]} (would be {_path_str(p)})" for p in arrays if p not in targets)
  mismatched = sorted(
      f"{origin[p]} -> {_path_str(p)}: file {tuple(arrays[p].shape)}, model "
      f"{tuple(targets[p].shape)}"
      for p in arrays if p in targets and tuple(arrays[p].shape) != tuple(targets[p].shape))
  if missing or unexpected or mismatched:
    problems = [_listing(title, items) for title, items in (
        ("model entries missing from the file", missing),
        ("file entries with no place in the model", unexpected),
        ("shape mismatches", mismatched)) if items]
    raise WeightsMismatchError(f"Cannot load {source} into {describe}:\n" +
                               "\n".join(problems) + f"\n{advice}")

  for path, variable in targets.items():
    old = variable.get_value()
    # Keep the model's dtype and placement: a model born sharded must stay sharded.
    value = np.asarray(arrays[path], dtype=old.dtype)
    sharding = getattr(old, "sharding", None)
    variable.set_value(jax.device_put(value, sharding) if sharding is not None
                       else jnp.asarray(value))
  nnx.update(model, state)

  loaded = tuple(_path_str(p) for p in sorted(targets, key=_path_order))
  if skipped:
    logging.info("Loaded %d arrays from %s; skipped the classifier: %s", len(loaded), source,
                 ", ".join(skipped))
  else:
    logging.info("Loaded %d arrays from %s", len(loaded), source)
  return LoadReport(source=source, loaded=loaded, skipped=tuple(sorted(skipped)))
