"""Import of pretrained CLIP and SigLIP image towers that users bring as files (no download).

Layouts read, all into `jaxgeo.models.vit.ViT` (the image tower only; text towers are skipped
and reported):

* Hugging Face transformers: `model.safetensors` / `pytorch_model.bin` of `CLIPModel`,
  `CLIPVisionModel(WithProjection)`, `SiglipModel` or `SiglipVisionModel` (keys with or without
  `vision_model.`; `visual_projection` is CLIP's projection).
* OpenAI CLIP and open_clip state dicts (`.pt`, `.bin`, `.safetensors`; `visual.*` keys, fused
  `in_proj` attention weights, `visual.proj`); OpenAI's TorchScript `.pt` files too.
* big_vision `.npz` checkpoints (SigLIP's): the `img/` subtree (`params/img/...`), Flax
  layouts with per-head attention kernels, blocks either numbered (`encoderblock_0`, ...) or
  stacked along a leading axis (`encoderblock`, from a scanned model).

Loading is strict, as for the ResNets (jaxgeo.models.weights.assign): every parameter of the
model must come from the file and every image-tower entry must find its place. Position
embeddings of another image size are resampled (bilinear over the patch grid, as big_vision
does), so a 224-px checkpoint trains at 336. The family's input scaling is in `PREPROCESSING`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from absl import logging

from jaxgeo.models import weights
from jaxgeo.models.vit import ViT

Path = weights.Path

# OpenAI CLIP's image statistics (0..255 units); SigLIP and big_vision's ViTs scale to [-1, 1].
PREPROCESSING = {
    "clip": weights.Preprocessing((0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255),
                                     (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)),
    "siglip": weights.Preprocessing((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
    "vit": weights.Preprocessing((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
}

# Hugging Face entries that are not the image tower (skipped and reported).
_TEXT_TOWER = re.compile(r"(text_model\..*|text_projection\..*|logit_scale|logit_bias)")


def _linear(weight: np.ndarray) -> np.ndarray:
  """A torch Linear weight (out, in) as a Flax kernel (in, out)."""
  return weight.T


def _hf_targets(key: str, value: np.ndarray, put: Callable[[Path, np.ndarray], None]) -> bool:
  """Places one Hugging Face vision-tower entry; False if it has no place."""
  leaf = {"weight": "kernel", "bias": "bias"}
  norm_leaf = {"weight": "scale", "bias": "bias"}
  if key == "embeddings.class_embedding":
    put(("class_token",), value)
  elif key == "embeddings.patch_embedding.weight":
    put(("patch_embed", "kernel"), value.transpose(2, 3, 1, 0))
  elif key == "embeddings.patch_embedding.bias":
    put(("patch_embed", "bias"), value)
  elif key == "embeddings.position_embedding.weight":
    put(("position_embedding",), value)
  elif m := re.fullmatch(r"(pre_layrnorm|post_layernorm)\.(weight|bias)", key):
    put(("norm_pre" if m[1] == "pre_layrnorm" else "norm", norm_leaf[m[2]]), value)
  elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)",
                         key):
    put(("blocks", int(m[1]), "attention", m[2], leaf[m[3]]),
        _linear(value) if m[3] == "weight" else value)
  elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.layer_norm([12])\.(weight|bias)", key):
    put(("blocks", int(m[1]), f"norm{m[2]}", norm_leaf[m[3]]), value)
  elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.mlp\.(fc[12])\.(weight|bias)", key):
    put(("blocks", int(m[1]), "mlp", m[2], leaf[m[3]]),
        _linear(value) if m[3] == "weight" else value)
  elif key == "head.probe":
    put(("map_head", "probe"), value)
  elif m := re.fullmatch(r"head\.attention\.in_proj_(weight|bias)", key):
    _put_fused_qkv(("map_head", "attention"), m[1], value, put)
  elif m := re.fullmatch(r"head\.attention\.out_proj\.(weight|bias)", key):
    put(("map_head", "attention", "out", leaf[m[1]]),
        _linear(value) if m[1] == "weight" else value)
  elif m := re.fullmatch(r"head\.layernorm\.(weight|bias)", key):
    put(("map_head", "norm", norm_leaf[m[1]]), value)
  elif m := re.fullmatch(r"head\.mlp\.(fc[12])\.(weight|bias)", key):
    put(("map_head", "mlp", m[1], leaf[m[2]]), _linear(value) if m[2] == "weight" else value)
  else:
    return False
  return True


def _put_fused_qkv(prefix: Path, kind: str, value: np.ndarray,
                   put: Callable[[Path, np.ndarray], None]) -> None:
  """torch's fused `in_proj_weight` (3 width, width) / `in_proj_bias` as q, k, v."""
  for name, part in zip(("q", "k", "v"), np.split(value, 3, axis=0)):
    put((*prefix, name, "kernel" if kind == "weight" else "bias"),
        _linear(part) if kind == "weight" else part)


def _openai_targets(key: str, value: np.ndarray, put: Callable[[Path, np.ndarray], None]) -> bool:
  """Places one OpenAI CLIP / open_clip `visual.*` entry (prefix removed); False if none."""
  norm_leaf = {"weight": "scale", "bias": "bias"}
  leaf = {"weight": "kernel", "bias": "bias"}
  if key == "class_embedding":
    put(("class_token",), value)
  elif key == "positional_embedding":
    put(("position_embedding",), value)
  elif key == "conv1.weight":
    put(("patch_embed", "kernel"), value.transpose(2, 3, 1, 0))
  elif key == "proj":  # (width, projection): already a Flax kernel
    put(("projection", "kernel"), value)
  elif m := re.fullmatch(r"(ln_pre|ln_post)\.(weight|bias)", key):
    put(("norm_pre" if m[1] == "ln_pre" else "norm", norm_leaf[m[2]]), value)
  elif m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)", key):
    _put_fused_qkv(("blocks", int(m[1]), "attention"), m[2], value, put)
  elif m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.attn\.out_proj\.(weight|bias)", key):
    put(("blocks", int(m[1]), "attention", "out", leaf[m[2]]),
        _linear(value) if m[2] == "weight" else value)
  elif m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.ln_([12])\.(weight|bias)", key):
    put(("blocks", int(m[1]), f"norm{m[2]}", norm_leaf[m[3]]), value)
  elif m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.mlp\.(c_fc|c_proj)\.(weight|bias)",
                         key):
    put(("blocks", int(m[1]), "mlp", "fc1" if m[2] == "c_fc" else "fc2", leaf[m[3]]),
        _linear(value) if m[3] == "weight" else value)
  else:
    return False
  return True


_BV_ATTENTION = {"query": "q", "key": "k", "value": "v", "out": "out"}
_BV_NORMS = {"LayerNorm_0": "norm1", "LayerNorm_1": "norm2"}


def _big_vision_block(prefix: Path, key: str, value: np.ndarray,
                      put: Callable[[Path, np.ndarray], None], norms: Mapping[str, str]) -> bool:
  """One entry of a big_vision encoder block or MAP head (`LayerNorm_*`, `MlpBlock_0`,
  `MultiHeadDotProductAttention_0`), relative to it; attention kernels are per head there."""
  leaf = {"kernel": "kernel", "bias": "bias", "scale": "scale"}
  if m := re.fullmatch(r"(LayerNorm_\d)/(scale|bias)", key):
    if m[1] not in norms:
      return False
    put((*prefix, norms[m[1]], m[2]), value)
  elif m := re.fullmatch(r"MlpBlock_0/Dense_([01])/(kernel|bias)", key):
    put((*prefix, "mlp", f"fc{int(m[1]) + 1}", m[2]), value)
  elif m := re.fullmatch(r"MultiHeadDotProductAttention_0/(query|key|value|out)/(kernel|bias)",
                         key):
    if m[1] == "out":  # kernel (heads, head_dim, width)
      value = value.reshape(-1, value.shape[-1]) if m[2] == "kernel" else value
    else:  # kernel (width, heads, head_dim), bias (heads, head_dim)
      value = value.reshape(value.shape[0], -1) if m[2] == "kernel" else value.reshape(-1)
    put((*prefix, "attention", _BV_ATTENTION[m[1]], leaf[m[2]]), value)
  else:
    return False
  return True


def _big_vision_targets(key: str, value: np.ndarray,
                        put: Callable[[Path, np.ndarray], None]) -> bool:
  """Places one entry of a big_vision image tower (`img/` removed); False if it has none."""
  if key == "embedding/kernel":  # (patch, patch, 3, width): already a Flax conv kernel
    put(("patch_embed", "kernel"), value)
  elif key == "embedding/bias":
    put(("patch_embed", "bias"), value)
  elif key == "pos_embedding":  # (1, tokens, width)
    put(("position_embedding",), value.reshape(-1, value.shape[-1]))
  elif key == "cls":
    put(("class_token",), value.reshape(-1))
  elif m := re.fullmatch(r"Transformer/encoder_norm/(scale|bias)", key):
    put(("norm", m[1]), value)
  elif m := re.fullmatch(r"Transformer/encoderblock_(\d+)/(.+)", key):
    return _big_vision_block(("blocks", int(m[1])), m[2], value, put, _BV_NORMS)
  elif m := re.fullmatch(r"Transformer/encoderblock/(.+)", key):  # scanned: one row per block
    return all(_big_vision_block(("blocks", i), m[1], row, put, _BV_NORMS)
               for i, row in enumerate(value))
  elif key == "MAPHead_0/probe":
    put(("map_head", "probe"), value)
  elif m := re.fullmatch(r"MAPHead_0/(.+)", key):
    return _big_vision_block(("map_head",), m[1], value, put, {"LayerNorm_0": "norm"})
  else:
    return False
  return True


def resample_position_embedding(table: np.ndarray, class_token: bool,
                                grid: int) -> np.ndarray:
  """A (tokens, width) position table for a `grid` x `grid` patch grid (bilinear over the
  checkpoint's grid; the class token's row is kept as it is)."""
  head, patches = (table[:1], table[1:]) if class_token else (table[:0], table)
  old = int(round(np.sqrt(len(patches))))
  if old * old != len(patches):
    raise ValueError(f"The position table's {len(patches)} patch rows are not a square grid.")
  if old == grid:
    return table
  resized = jax.image.resize(patches.reshape(old, old, -1).astype(np.float32),
                             (grid, grid, patches.shape[-1]), method="bilinear")
  logging.info("Position embeddings resampled from a %dx%d to a %dx%d patch grid.", old, old,
               grid, grid)
  return np.concatenate([head, np.asarray(resized).reshape(grid * grid, -1)], axis=0)


def _read(path: str) -> dict[str, Any]:
  """A state dict from a torch/safetensors file (OpenAI's TorchScript archives too), or the
  flattened arrays of a big_vision `.npz` (`params/img/...`)."""
  if path.endswith(".npz"):
    with np.load(path) as archive:
      return {key: archive[key] for key in archive.files}
  try:
    raw = weights.read_torch_file(path)
  except RuntimeError as e:
    if "TorchScript" not in str(e) and "jit" not in str(e).lower():
      raise
    import torch  # pylint: disable=g-import-not-at-top  (present: read_torch_file used it)
    raw = torch.jit.load(path, map_location="cpu").state_dict()
  return weights.unwrap_state_dict(raw)


def load_vit(model: ViT, path_or_state_dict: str | os.PathLike | Mapping[str, Any]
             ) -> weights.LoadReport:
  """Loads a CLIP or SigLIP image tower (any layout of the module docstring) into `model`.

  The layout is recognised from the keys: `visual.*` is OpenAI/open_clip's, anything else
  Hugging Face's. Values are cast to the model's parameter dtype and keep its shardings.

  Raises:
    WeightsMismatchError: listing every missing, unexpected and mis-shaped entry.
  """
  if isinstance(path_or_state_dict, Mapping):
    state, source = dict(path_or_state_dict), "state dict"
  else:
    source = os.fspath(path_or_state_dict)
    state = _read(source)
  arrays: dict[Path, np.ndarray] = {}
  origin: dict[Path, str] = {}
  unexpected: list[str] = []
  skipped: list[str] = []
  openai = any(k.startswith("visual.") for k in state)
  big_vision = any(re.match(r"(params/)?img/", k) for k in state)
  for key, tensor in state.items():
    name = key
    if big_vision:
      m = re.match(r"(params/)?img/(.+)", key)
      if not m:
        skipped.append(key)  # the text tower, the temperature and bias
        continue
      key, place = m[2], _big_vision_targets
    elif openai:
      if not key.startswith("visual."):
        skipped.append(key)  # the text tower, logit_scale
        continue
      key, place = key[len("visual."):], _openai_targets
    else:
      key = key.split("vision_model.", 1)[1] if "vision_model." in key else key
      if key == "visual_projection.weight":  # CLIP's projection, outside the vision model
        arrays[("projection", "kernel")] = _linear(weights.to_numpy(tensor))
        origin[("projection", "kernel")] = name
        continue
      if key == "embeddings.position_ids" or _TEXT_TOWER.fullmatch(key):
        skipped.append(name)
        continue
      place = _hf_targets

    def put(target: Path, value: np.ndarray, name=name) -> None:
      arrays[target], origin[target] = value, name

    if not place(key, weights.to_numpy(tensor), put):
      unexpected.append(name)
  table = arrays.get(("position_embedding",))
  if table is not None and table.ndim == 2:
    rows = table.shape[0] - int(model.spec.class_token)
    square = int(round(np.sqrt(max(rows, 0)))) ** 2 == rows
    # Another image size's grid is resampled; any other difference is a mismatch to report.
    if square and table.shape != (model.grid ** 2 + int(model.spec.class_token), model.width):
      arrays[("position_embedding",)] = resample_position_embedding(
          table, model.spec.class_token, model.grid)
  describe = (f"a {model.family} ViT of width {model.width}, {len(model.blocks)} blocks, "
              f"{model.patch_size}-px patches" +
              (f", projection to {model.num_features}" if model.has_projection else ""))
  advice = ("Use the backbone of the checkpoint's family and size (e.g. clip_vit_l14 for "
            "openai/clip-vit-large-patch14, siglip_so400m14 for siglip-so400m-patch14-*).")
  return weights.assign(model, arrays, origin, unexpected, skipped, source, describe, advice)
