"""MTCNN's three face networks (Zhang et al., IEEE SPL 2016) in Flax NNX, with released weights.

The demo and the batch CLI must not give a fine answer for a photo of a person, so they need a
face detector that finds small and turned faces (jaxgeo/predict/faces.py runs the cascade). The
weights are the original MTCNN ones as the `mtcnn` package (MIT, 1.0.0) ships them inside its
wheel (`mtcnn/assets/weights/{p,r,o}net.lz4`, Keras `get_weights()` lists): nothing is
downloaded, and the package's own code (TensorFlow) is never imported, only its files read.

- P-Net: fully convolutional over an image pyramid; every 2 px a 12 px window's face score and
  box correction.
- R-Net: 24 px crops of P-Net's candidates; score and box correction.
- O-Net: 48 px crops; score, box correction and five landmarks.
The dense layers read the conv map flattened in (width, height, channel) order, as the weights
were trained on transposed images: `_flatten_transposed` keeps that order.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxgeo.models import weights

WEIGHTS_PACKAGE = "mtcnn"
INSTALL_HINT = "pip install 'jaxgeo[demo]' (the mtcnn package ships the detector's weights)"


class PReLU(nnx.Module):
  """max(0, x) + alpha * min(0, x) with one alpha per channel (Caffe's PReLU)."""

  def __init__(self, channels: int):
    self.alpha = nnx.Param(jnp.full((channels,), 0.25, jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.where(x >= 0, x, self.alpha[...] * x)


def _conv(cin: int, cout: int, k: int) -> nnx.Conv:
  return nnx.Conv(cin, cout, (k, k), padding="VALID", rngs=nnx.Rngs(0))


def _max_pool(x: jax.Array, size: int, padding: str) -> jax.Array:
  return nnx.max_pool(x, (size, size), strides=(2, 2), padding=padding)


def _flatten_transposed(x: jax.Array) -> jax.Array:
  return jnp.transpose(x, (0, 2, 1, 3)).reshape(x.shape[0], -1)


class PNet(nnx.Module):
  """Proposal network: (N, H, W, 3) in [-1, 1] -> box corrections (N, h, w, 4), P(face)."""
  # In the order of the released weight list.
  LAYERS = ("conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "box", "face")

  def __init__(self):
    self.conv1, self.prelu1 = _conv(3, 10, 3), PReLU(10)
    self.conv2, self.prelu2 = _conv(10, 16, 3), PReLU(16)
    self.conv3, self.prelu3 = _conv(16, 32, 3), PReLU(32)
    self.box, self.face = _conv(32, 4, 1), _conv(32, 2, 1)

  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = _max_pool(self.prelu1(self.conv1(x)), 2, "SAME")
    x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
    return self.box(x), jax.nn.softmax(self.face(x))[..., 1]


class RNet(nnx.Module):
  """Refinement network: (N, 24, 24, 3) -> box corrections (N, 4), P(face) (N,)."""
  LAYERS = ("conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "fc4", "prelu4", "box",
            "face")

  def __init__(self):
    self.conv1, self.prelu1 = _conv(3, 28, 3), PReLU(28)
    self.conv2, self.prelu2 = _conv(28, 48, 3), PReLU(48)
    self.conv3, self.prelu3 = _conv(48, 64, 2), PReLU(64)
    self.fc4, self.prelu4 = nnx.Linear(576, 128, rngs=nnx.Rngs(0)), PReLU(128)
    self.box, self.face = nnx.Linear(128, 4, rngs=nnx.Rngs(0)), nnx.Linear(128, 2, rngs=nnx.Rngs(0))

  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = _max_pool(self.prelu1(self.conv1(x)), 3, "SAME")
    x = _max_pool(self.prelu2(self.conv2(x)), 3, "VALID")
    x = self.prelu4(self.fc4(_flatten_transposed(self.prelu3(self.conv3(x)))))
    return self.box(x), jax.nn.softmax(self.face(x))[..., 1]


class ONet(nnx.Module):
  """Output network: (N, 48, 48, 3) -> box corrections (N, 4), landmarks (N, 10), P(face) (N,)."""
  LAYERS = ("conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "conv4", "prelu4", "fc5",
            "prelu5", "box", "landmarks", "face")

  def __init__(self):
    self.conv1, self.prelu1 = _conv(3, 32, 3), PReLU(32)
    self.conv2, self.prelu2 = _conv(32, 64, 3), PReLU(64)
    self.conv3, self.prelu3 = _conv(64, 64, 3), PReLU(64)
    self.conv4, self.prelu4 = _conv(64, 128, 2), PReLU(128)
    self.fc5, self.prelu5 = nnx.Linear(1152, 256, rngs=nnx.Rngs(0)), PReLU(256)
    self.box = nnx.Linear(256, 4, rngs=nnx.Rngs(0))
    self.landmarks = nnx.Linear(256, 10, rngs=nnx.Rngs(0))
    self.face = nnx.Linear(256, 2, rngs=nnx.Rngs(0))

  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    x = _max_pool(self.prelu1(self.conv1(x)), 3, "SAME")
    x = _max_pool(self.prelu2(self.conv2(x)), 3, "VALID")
    x = _max_pool(self.prelu3(self.conv3(x)), 2, "SAME")
    x = self.prelu5(self.fc5(_flatten_transposed(self.prelu4(self.conv4(x)))))
    return self.box(x), self.landmarks(x), jax.nn.softmax(self.face(x))[..., 1]


def set_weights(net: nnx.Module, arrays: list[np.ndarray]) -> None:
  """Fills `net` (abstract or not) from a Keras `get_weights()` list, refusing other shapes."""
  expected = []
  for layer in (getattr(net, name) for name in net.LAYERS):
    params = [layer.alpha] if isinstance(layer, PReLU) else [layer.kernel, layer.bias]
    expected.extend(params)
  if len(arrays) != len(expected):
    raise weights.WeightsMismatchError(f"{type(net).__name__}: expected {len(expected)} weight "
                                       f"arrays, found {len(arrays)}.")
  for param, value in zip(expected, arrays):
    value, shape = np.asarray(value, np.float32), param.get_value().shape
    if value.size != np.prod(shape):
      raise weights.WeightsMismatchError(
          f"{type(net).__name__}: a weight of shape {value.shape} where {shape} was expected.")
    param.set_value(jnp.asarray(value.reshape(shape)))


def weights_dir() -> str:
  """Where the installed `mtcnn` wheel keeps its weights, found without importing it."""
  spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise ImportError(f"The face detector's weights are missing: {INSTALL_HINT}.")
  return os.path.join(spec.submodule_search_locations[0], "assets", "weights")


@functools.cache
def load() -> tuple[PNet, RNet, ONet]:
  """The three networks with MTCNN's released weights (read once per process)."""
  import joblib  # pylint: disable=g-import-not-at-top  (comes with the mtcnn package)
  # Built abstractly (no random initialisation to compile and run), then filled.
  nets = tuple(nnx.eval_shape(cls) for cls in (PNet, RNet, ONet))
  for net, name in zip(nets, ("pnet", "rnet", "onet")):
    path = os.path.join(weights_dir(), f"{name}.lz4")
    try:
      arrays = joblib.load(path)
    except (OSError, ValueError, EOFError) as e:
      raise ImportError(f"Could not read the face detector's weights {path} ({e}); reinstall: "
                        f"{INSTALL_HINT}.") from e
    set_weights(net, arrays)
  return nets
