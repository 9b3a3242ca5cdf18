"""Import of pretrained ImageNet ResNet weights that users bring as files (nothing is downloaded).

Two sources, each with its own architecture in `jaxgeo.models.resnet`:

* `load_torch_resnet`: torchvision / timm state dicts (`.pth`, `.pt`, `.bin` via `torch.load`, or
  `.safetensors` read with NumPy alone) into the v1.5 models (`ResNet18` ... `ResNet152`).
  E.g. torchvision's `resnet50-11ad3fa6.pth` (IMAGENET1K_V2) or timm's `resnet50.a1_in1k`
  `model.safetensors`; the names are the same (`conv1`, `bn1`, `layer1.0.conv1`, ...).
* `load_keras_resnet_v2`: Keras `ResNet50V2/101V2/152V2` weights into the v2 models. Reads the
  legacy HDF5 layout of the Keras-applications downloads
  (`resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5`: one group per layer holding
  `<layer>/<var>:0` datasets, optionally under `model_weights/` when saved with `model.save`),
  Keras 3's `*.weights.h5` (`layers/<auto name>/vars/<i>`, the Keras layer name in the `name`
  attribute of `vars`) and Keras 3's `.keras` archives (a zip holding `model.weights.h5`).

Loading is strict (jaxgeo.models.weights.assign): every parameter and BatchNorm statistic of
the model must come from the file and every file entry must find its place, except the ImageNet
classifier (`fc.*`, Keras' `predictions`), which is skipped and reported, and torch's
`num_batches_tracked` counters.
Anything else fails with the list of missing, unexpected and shape-mismatched names, so a model
never trains from silently random weights.

`load_pretrained` picks the importer from the model's family. The weights expect different input
scaling (`PREPROCESSING`, `preprocessing_for(model)`): normalise images the same way in training.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxgeo.models import weights
from jaxgeo.models.resnet import ResNet

# ImageNet statistics in 0..255 units, which torchvision and timm weights expect.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


# torchvision and timm ResNets: ImageNet mean/std on RGB. Keras' resnet_v2.preprocess_input
# ("tf" mode): x / 127.5 - 1, RGB, i.e. [-1, 1]. Feeding the wrong one costs several points of
# accuracy.
PREPROCESSING = {
    "torchvision": weights.Preprocessing(IMAGENET_MEAN, IMAGENET_STD),
    "keras_v2": weights.Preprocessing((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
}


def preprocessing_for(model: ResNet) -> weights.Preprocessing:
  """The input scaling of the weights a model of this family loads (v2: Keras, v1.5: torch)."""
  return PREPROCESSING["keras_v2" if model.preact else "torchvision"]


# ----------------------------------------------------------------------------------------------
# torchvision / timm

_TORCH_BN_LEAVES = {"weight": "scale", "bias": "bias", "running_mean": "mean",
                    "running_var": "var"}
_TORCH_BLOCK = re.compile(r"layer(\d+)\.(\d+)\.(conv[123]|bn[123]|downsample\.[01])\.(\w+)")
_TORCH_MODULES = {"downsample.0": "proj_conv", "downsample.1": "proj_bn"}


def _torch_target(key: str) -> weights.Path | None:
  """Model path of a torchvision state-dict key, or None if it has no place in the model."""
  if key == "conv1.weight":
    return ("conv_init", "kernel")
  if key.startswith("bn1.") and key[4:] in _TORCH_BN_LEAVES:
    return ("bn_init", _TORCH_BN_LEAVES[key[4:]])
  match = _TORCH_BLOCK.fullmatch(key)
  if not match:
    return None
  stage, block, module, leaf = match.groups()
  module = _TORCH_MODULES.get(module, module)
  if module.startswith("conv") or module == "proj_conv":
    if leaf != "weight":
      return None
    leaf = "kernel"
  elif leaf in _TORCH_BN_LEAVES:
    leaf = _TORCH_BN_LEAVES[leaf]
  else:
    return None
  # torchvision counts stages from layer1; jaxgeo from 0.
  return ("stages", int(stage) - 1, int(block), module, leaf)


def load_torch_resnet(model: ResNet, path_or_state_dict: str | os.PathLike | Mapping[str, Any]
                      ) -> weights.LoadReport:
  """Loads a torchvision/timm ResNet state dict into a v1.5 `ResNet`, in place.

  Conv kernels go from torch's OIHW to HWIO; BatchNorm weight/bias/running_mean/running_var go
  to scale/bias/mean/var. Values are cast to the model's parameter dtype and keep the model's
  shardings, so a model born sharded stays sharded.

  Args:
    model: a v1.5 ResNet of the same depth as the checkpoint (e.g. `ResNet50` for resnet50).
    path_or_state_dict: a `.pth`/`.pt`/`.bin` file (read with `torch.load(weights_only=True)`), a
      `.safetensors` file (read without torch), or an already loaded state dict of torch tensors
      or arrays. A dict nested under "state_dict"/"model" or with DDP's "module." prefix works.

  Returns:
    A `weights.LoadReport`; `skipped` lists the classifier (`fc.bias`, `fc.weight`) if present.

  Raises:
    weights.WeightsMismatchError: the file lacks model entries, has entries the model lacks (e.g. a
      ResNet-50-D deep stem or a ResNet-101 file for a ResNet-50), or shapes differ.
    ValueError: the model is a pre-activation (v2) ResNet.
  """
  if model.preact:
    raise ValueError("load_torch_resnet needs a v1.5 model (ResNet18...ResNet152); this one is "
                     "pre-activation v2, whose weights come from Keras (load_keras_resnet_v2).")
  if isinstance(path_or_state_dict, Mapping):
    source, raw = "state dict", path_or_state_dict
  else:
    source = os.fspath(path_or_state_dict)
    raw = weights.read_torch_file(source)
  state_dict = weights.unwrap_state_dict(raw)

  arrays: dict[weights.Path, np.ndarray] = {}
  origin: dict[weights.Path, str] = {}
  unexpected, skipped = [], []
  for key, value in state_dict.items():
    if key.endswith("num_batches_tracked"):
      continue  # torch's BN step counter; only used when momentum=None.
    if key.startswith("fc."):
      skipped.append(key)
      continue
    target = _torch_target(key)
    if target is None:
      unexpected.append(key)
      continue
    array = weights.to_numpy(value)
    if array.ndim == 4:
      array = array.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    arrays[target], origin[target] = array, key
  return weights.assign(model, arrays, origin, unexpected, skipped, source,
                        *_describe_resnet(model))


# ----------------------------------------------------------------------------------------------
# Keras ResNet*V2

_KERAS_VARS = {"kernel": "kernel", "bias": "bias", "gamma": "scale", "beta": "bias",
               "moving_mean": "mean", "moving_variance": "var"}
# Keras 3 stores variables by position; these are the orders of Conv2D and BatchNormalization.
_KERAS3_ORDER = {"conv": ("kernel", "bias"),
                 "bn": ("gamma", "beta", "moving_mean", "moving_variance")}
_KERAS_BLOCK = re.compile(r"conv(\d+)_block(\d+)_(preact_bn|[0-3]_conv|[12]_bn)")
_KERAS_CLASSIFIER = ("predictions",)


def _keras_target(layer: str, var: str) -> weights.Path | None:
  """Model path of a Keras ResNet*V2 layer variable, or None if it has no place in the model."""
  leaf = _KERAS_VARS.get(var)
  if leaf is None:
    return None
  if layer == "conv1_conv":
    return ("conv_init", leaf)
  if layer == "post_bn":
    return ("post_bn", leaf)
  match = _KERAS_BLOCK.fullmatch(layer)
  if not match:
    return None
  stage, block, module = match.groups()
  if module != "preact_bn":
    index, kind = module.split("_")
    module = "proj_conv" if module == "0_conv" else f"{kind}{index}"
  # Keras names stages conv2..conv5 and blocks from 1; jaxgeo counts both from 0.
  return ("stages", int(stage) - 2, int(block) - 1, module, leaf)


def _read_legacy_h5(root: Any) -> dict[tuple[str, str], np.ndarray]:
  """(layer, variable) -> array from Keras 2's layout: groups listed in attrs["layer_names"]."""
  out = {}
  for layer_name in root.attrs["layer_names"]:
    group = root[_decode(layer_name)]
    for weight_name in group.attrs.get("weight_names", []):
      weight_name = _decode(weight_name)
      # "conv1_conv/kernel:0", or "resnet101v2/conv1_conv/kernel:0" for a nested model.
      parts = weight_name.split("/")
      out[(parts[-2], parts[-1].split(":")[0])] = np.asarray(group[weight_name])
  return out


def _read_keras3_h5(root: Any, source: str) -> dict[tuple[str, str], np.ndarray]:
  """(layer, variable) -> array from Keras 3's `layers/<auto name>/vars/<i>` layout."""
  out = {}

  def visit(name: str, node: Any) -> None:
    if not name.endswith("vars") or not hasattr(node, "keys") or not len(node):
      return
    layer = node.attrs.get("name")
    if layer is None:
      raise weights.WeightsMismatchError(
          f"{source}: {name} has no 'name' attribute, so its Keras layer is unknown (Keras 3 "
          "versions before the name attribute). Re-save with a newer Keras or in the legacy "
          "h5 format, e.g. keras.src.legacy.saving.legacy_h5_format.save_weights_to_hdf5_group.")
    layer = _decode(layer)
    kind = "bn" if layer.endswith("_bn") else "conv" if layer.endswith("_conv") else None
    order = _KERAS3_ORDER.get(kind, ("kernel", "bias"))
    for i in range(len(node)):
      var = order[i] if i < len(order) else f"var{i}"
      out[(layer, var)] = np.asarray(node[str(i)])

  root.visititems(visit)
  return out


def _decode(value: Any) -> str:
  return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _read_keras_file(path: str) -> dict[tuple[str, str], np.ndarray]:
  try:
    import h5py
  except ImportError as e:
    raise ImportError(f"Reading {path} needs h5py: pip install 'jaxgeo[torch]'") from e
  if zipfile.is_zipfile(path):  # a .keras archive: the weights are its model.weights.h5
    with zipfile.ZipFile(path) as archive:
      data = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(data, "r") as f:
      return _read_keras3_h5(f, path)
  with h5py.File(path, "r") as f:
    if "layer_names" in f.attrs:
      return _read_legacy_h5(f)
    if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
      return _read_legacy_h5(f["model_weights"])
    if "layers" in f:
      return _read_keras3_h5(f, path)
  raise weights.WeightsMismatchError(f"{path} is neither a legacy Keras h5 weights file (no "
                             "'layer_names' attribute) nor a Keras 3 .weights.h5 (no 'layers').")


def load_keras_resnet_v2(model: ResNet, path: str | os.PathLike) -> weights.LoadReport:
  """Loads Keras `ResNet50V2/101V2/152V2` weights into a pre-activation `ResNet`, in place.

  Keras kernels are already HWIO; gamma/beta/moving_mean/moving_variance go to
  scale/bias/mean/var. Values are cast to the model's parameter dtype and keep its shardings.

  Args:
    model: a v2 ResNet of the same depth (`ResNet101V2` for `resnet101v2_..._notop.h5`).
    path: legacy Keras `.h5` (the Keras-applications downloads, with or without top), a Keras 3
      `.weights.h5`, or a `.keras` archive.

  Returns:
    A `weights.LoadReport`; `skipped` lists the classifier (`predictions/kernel`,
    `predictions/bias`) for files with top.

  Raises:
    weights.WeightsMismatchError: missing, unexpected or differently shaped entries.
    ValueError: the model is a v1.5 ResNet.
  """
  if not model.preact:
    raise ValueError("load_keras_resnet_v2 needs a pre-activation model (ResNet50V2, "
                     "ResNet101V2, ResNet152V2); this one is v1.5, whose weights come from "
                     "torchvision/timm (load_torch_resnet).")
  source = os.fspath(path)
  arrays: dict[weights.Path, np.ndarray] = {}
  origin: dict[weights.Path, str] = {}
  unexpected, skipped = [], []
  for (layer, var), array in sorted(_read_keras_file(source).items()):
    name = f"{layer}/{var}"
    if layer in _KERAS_CLASSIFIER:
      skipped.append(name)
      continue
    target = _keras_target(layer, var)
    if target is None:
      unexpected.append(name)
      continue
    arrays[target], origin[target] = array, name
  return weights.assign(model, arrays, origin, unexpected, skipped, source,
                        *_describe_resnet(model))


def load_pretrained(model: ResNet, path: str | os.PathLike) -> weights.LoadReport:
  """Loads `path` with the importer of the model's family: Keras for v2, torch for v1.5."""
  if model.preact:
    return load_keras_resnet_v2(model, path)
  return load_torch_resnet(model, path)


def _describe_resnet(model: ResNet) -> tuple[str, str]:
  kind = "pre-activation v2" if model.preact else "v1.5"
  return (f"a {kind} ResNet with stages {model.stage_sizes} and {model.num_features} features",
          "Use the jaxgeo model of the checkpoint's depth and family (e.g. ResNet50 for a "
          "torchvision resnet50, ResNet101V2 for Keras ResNet101V2 weights).")
