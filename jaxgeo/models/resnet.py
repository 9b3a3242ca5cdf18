"""ResNet backbones in Flax NNX: v1.5 (torchvision layout) and pre-activation v2 (Keras layout).

Two families, one `ResNet` class:

* **v1.5** (`ResNet18/34/50/101/152`): torchvision's ResNet. Post-activation blocks, the stride of
  a bottleneck on its 3x3 conv (the "v1.5" change), no conv biases, BatchNorm epsilon 1e-5. The
  projection shortcut (1x1 conv + BN) sits on the first block of each stage.
* **v2** (`ResNet50V2/101V2/152V2`): pre-activation blocks (He et al. 2016, "Identity Mappings in
  Deep Residual Networks") exactly as `keras.applications.ResNet50V2` builds them, which is what
  DeepLocation trained from (ResNet101V2). Matched against keras/src/applications/resnet.py:
  - stem: 7x7/2 conv *with* bias and no BatchNorm/ReLU (the first block's pre-activation does
    that), then a 3x3/2 max-pool over *zero* padding (Keras pads with ZeroPadding2D before the
    pool; the stem output can be negative here, so -inf padding would give different numbers);
  - block: BN+ReLU pre-activation; a 1x1 conv (no bias) -> BN+ReLU -> 3x3 conv (no bias, carries
    the stride) -> BN+ReLU -> 1x1 conv *with* bias; the shortcut is a 1x1 conv *with* bias on the
    pre-activation in the first block of a stage, and otherwise the raw input (subsampled by a
    1x1/2 max-pool, i.e. `x[:, ::2, ::2]`, where the block strides);
  - the stride sits on the *last* block of stages 0-2 (Keras' `stride1` argument), not on the
    first block of stages 1-3 as in v1.5: stage outputs are at /8, /16, /32, /32 of the input
    instead of /4, /8, /16, /32, and the final map is /32 in both;
  - a final `post_bn` BN+ReLU before pooling; BatchNorm epsilon 1.001e-5.

Both use explicit symmetric padding (torch's `padding=k // 2`, Keras' ZeroPadding2D), never
XLA's "SAME", which pads strided convs asymmetrically and would shift pretrained features.

Parameter names (the paths `nnx.state(model)` shows; `jaxgeo.models.resnet_pretrained` maps
checkpoints onto them):
```
conv_init/{kernel,bias?}         stem conv (bias only in v2)
bn_init/{scale,bias,mean,var}    stem BatchNorm (v1.5 only)
stages/<i>/<j>/...               block j of stage i, both from 0:
    v1.5: conv1 bn1 conv2 bn2 [conv3 bn3] [proj_conv proj_bn]
    v2:   preact_bn conv1 bn1 conv2 bn2 conv3 [proj_conv]
post_bn/...                      final BN+ReLU (v2 only)
```
BatchNorm running statistics are `nnx.BatchStat` (`mean`, `var`), everything else `nnx.Param`.

Train/eval mode is the NNX one: BatchNorm layers start in training mode (batch statistics, running
averages updated); `model.eval()` switches them to the running averages and `model.train()` back.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from flax.typing import Dtype

from jaxgeo.models import convolution

# He-normal over fan_out: torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu").
_KERNEL_INIT = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")

TORCH_BN_EPSILON = 1e-5
KERAS_BN_EPSILON = 1.001e-5


def _pad(k: int) -> tuple[tuple[int, int], tuple[int, int]]:
  """Symmetric padding of a k x k conv, as torch (padding=k//2) and Keras (ZeroPadding2D) do."""
  return ((k // 2, k // 2), (k // 2, k // 2))


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  """3x3/2 max-pool over zero padding (Keras' ZeroPadding2D + MaxPooling2D).

  Equal to torch's -inf padded pool after a ReLU (v1.5), and the only correct choice for the v2
  stem whose input to the pool can be negative.
  """
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return nnx.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class BasicBlock(nnx.Module):
  """Two 3x3 convs (ResNet-18/34), torchvision `BasicBlock`."""
  expansion = 1
  preact = False

  def __init__(self, in_features: int, filters: int, strides: int, projection: bool, *,
               conv: Any, norm: Any, zero_init_residual: bool):
    self.conv1 = conv(in_features, filters, (3, 3), strides, padding=_pad(3))
    self.bn1 = norm(filters)
    self.conv2 = conv(filters, filters, (3, 3), padding=_pad(3))
    # Zero-initialised last BN scale: each block starts as the identity (Goyal et al. 2017).
    self.bn2 = norm(filters, scale_init=_residual_scale_init(zero_init_residual))
    if projection:
      self.proj_conv = conv(in_features, filters, (1, 1), strides, padding="VALID")
      self.proj_bn = norm(filters)
    self.projection = projection

  def __call__(self, x: jax.Array) -> jax.Array:
    y = nnx.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    shortcut = self.proj_bn(self.proj_conv(x)) if self.projection else x
    return nnx.relu(shortcut + y)


class BottleneckBlock(nnx.Module):
  """1x1 -> 3x3 (strided, v1.5) -> 1x1 x4, torchvision `Bottleneck`."""
  expansion = 4
  preact = False

  def __init__(self, in_features: int, filters: int, strides: int, projection: bool, *,
               conv: Any, norm: Any, zero_init_residual: bool):
    out = filters * self.expansion
    self.conv1 = conv(in_features, filters, (1, 1), padding="VALID")
    self.bn1 = norm(filters)
    self.conv2 = conv(filters, filters, (3, 3), strides, padding=_pad(3))
    self.bn2 = norm(filters)
    self.conv3 = conv(filters, out, (1, 1), padding="VALID")
    self.bn3 = norm(out, scale_init=_residual_scale_init(zero_init_residual))
    if projection:
      self.proj_conv = conv(in_features, out, (1, 1), strides, padding="VALID")
      self.proj_bn = norm(out)
    self.projection = projection

  def __call__(self, x: jax.Array) -> jax.Array:
    y = nnx.relu(self.bn1(self.conv1(x)))
    y = nnx.relu(self.bn2(self.conv2(y)))
    y = self.bn3(self.conv3(y))
    shortcut = self.proj_bn(self.proj_conv(x)) if self.projection else x
    return nnx.relu(shortcut + y)


class PreActBottleneckBlock(nnx.Module):
  """Pre-activation bottleneck, Keras `residual_block_v2` (see the module docstring)."""
  expansion = 4
  preact = True

  def __init__(self, in_features: int, filters: int, strides: int, projection: bool, *,
               conv: Any, norm: Any, zero_init_residual: bool):
    out = filters * self.expansion
    self.preact_bn = norm(in_features)
    self.conv1 = conv(in_features, filters, (1, 1), padding="VALID")
    self.bn1 = norm(filters)
    self.conv2 = conv(filters, filters, (3, 3), strides, padding=_pad(3))
    self.bn2 = norm(filters)
    # No BN follows conv3 in v2, so the residual branch starts at zero through its kernel.
    self.conv3 = conv(filters, out, (1, 1), padding="VALID", use_bias=True,
                      kernel_init=nnx.initializers.zeros_init() if zero_init_residual
                      else _KERNEL_INIT)
    if projection:
      self.proj_conv = conv(in_features, out, (1, 1), strides, padding="VALID", use_bias=True)
    self.projection = projection
    self.strides = strides

  def __call__(self, x: jax.Array) -> jax.Array:
    preact = nnx.relu(self.preact_bn(x))
    if self.projection:
      shortcut = self.proj_conv(preact)
    else:
      # Keras: MaxPooling2D(1, strides) on the raw input, i.e. plain subsampling.
      shortcut = x[:, ::self.strides, ::self.strides] if self.strides > 1 else x
    y = nnx.relu(self.bn1(self.conv1(preact)))
    y = nnx.relu(self.bn2(self.conv2(y)))
    return shortcut + self.conv3(y)


def _residual_scale_init(zero: bool):
  """BatchNorm scale init of a residual branch's last norm: zeros start the block as identity."""
  return nnx.initializers.zeros_init() if zero else nnx.initializers.ones_init()


class ResNet(nnx.Module):
  """A ResNet backbone without classifier: images in, pooled features (or the feature map) out.

  Attributes:
    num_features: channels of the feature map and of the pooled features (512 for ResNet-18/34,
      2048 for the bottleneck ResNets, `8 * width * expansion` in general).
    preact: True for the pre-activation (v2, Keras) layout, False for v1.5 (torchvision).
    stage_sizes: blocks per stage.
  """

  def __init__(self, stage_sizes: Sequence[int], block_cls: type[nnx.Module], *,
               width: int = 64, in_channels: int = 3, zero_init_residual: bool = True,
               bn_momentum: float = 0.9, bn_epsilon: float = TORCH_BN_EPSILON,
               dtype: Dtype = jnp.float32, param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    """Builds the network.

    Args:
      stage_sizes: number of blocks in each stage, e.g. (3, 4, 6, 3) for ResNet-50.
      block_cls: `BasicBlock`, `BottleneckBlock` (v1.5) or `PreActBottleneckBlock` (v2).
      width: channels of the stem and of the first stage's bottleneck (64 in every published
        ResNet; the tiny test model uses 16). Stage i uses `width * 2**i`.
      in_channels: channels of the input images.
      zero_init_residual: start each residual branch at zero (last BN scale of v1.5 blocks, last
        conv kernel of v2 blocks), which helps training from scratch; pretrained weights replace
        these values anyway. torchvision's default is False.
      bn_momentum: decay of the BatchNorm running averages (0.9 = torch's momentum 0.1).
      bn_epsilon: BatchNorm epsilon; 1e-5 for torchvision weights, 1.001e-5 for Keras v2 weights.
      dtype: computation dtype (e.g. jnp.bfloat16); outputs come out in this dtype.
      param_dtype: storage dtype of parameters and running statistics.
      rngs: NNX random streams for the initialisers (uses `rngs.params`).
    """
    self.stage_sizes = tuple(stage_sizes)
    self.preact = block_cls.preact
    self.dtype = dtype
    conv = functools.partial(nnx.Conv, use_bias=False, kernel_init=_KERNEL_INIT, dtype=dtype,
                             param_dtype=param_dtype, rngs=rngs,
                             conv_general_dilated=convolution.conv_general_dilated)
    norm = functools.partial(nnx.BatchNorm, momentum=bn_momentum, epsilon=bn_epsilon,
                             dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    # Keras' v2 stem conv has a bias and leaves normalisation to the first pre-activation.
    self.conv_init = conv(in_channels, width, (7, 7), 2, padding=_pad(7), use_bias=self.preact)
    if not self.preact:
      self.bn_init = norm(width)

    stages = []
    features = width
    last_stage = len(self.stage_sizes) - 1
    for i, size in enumerate(self.stage_sizes):
      blocks = []
      filters = width * 2**i
      for j in range(size):
        if self.preact:
          # Keras v2 downsamples at the end of stages 0..n-2 (its `stride1` on the last block).
          strides = 2 if (i < last_stage and j == size - 1) else 1
        else:
          strides = 2 if (i > 0 and j == 0) else 1
        out = filters * block_cls.expansion
        projection = j == 0 and (strides != 1 or features != out)
        blocks.append(block_cls(features, filters, strides, projection, conv=conv, norm=norm,
                                zero_init_residual=zero_init_residual))
        features = out
      stages.append(nnx.List(blocks))
    self.stages = nnx.List(stages)
    if self.preact:
      self.post_bn = norm(features)
    self.num_features = features
    self.map_features = features  # channels of the feature map (= the pooled width)

  def features(self, x: jax.Array) -> jax.Array:
    """The last stage's feature map, before pooling.

    Args:
      x: (N, H, W, C) float images, already normalised the way the weights expect (see
        `jaxgeo.models.resnet_pretrained.PREPROCESSING`).

    Returns:
      (N, ceil(H/32), ceil(W/32), num_features) in the compute dtype, e.g. 7x7 for 224 px.
    """
    x = jnp.asarray(x, self.dtype)
    x = self.conv_init(x)
    if not self.preact:
      x = nnx.relu(self.bn_init(x))
    x = _max_pool_3x3_s2(x)
    for stage in self.stages:
      for block in stage:
        x = block(x)
    if self.preact:
      x = nnx.relu(self.post_bn(x))
    return x

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(the feature map, its global average): what the geolocation heads read."""
    feature_map = self.features(x)
    # Accumulate the mean in float32: a bf16 sum over thousands of positions loses digits.
    pooled = jnp.mean(feature_map, axis=(1, 2), dtype=jnp.float32).astype(self.dtype)
    return feature_map, pooled

  def __call__(self, x: jax.Array) -> jax.Array:
    """Globally average-pooled features, (N, num_features), in the compute dtype."""
    return self.encode(x)[1]


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block_cls=BasicBlock)
ResNet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=BasicBlock)
ResNet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=BottleneckBlock)
ResNet101 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block_cls=BottleneckBlock)
ResNet152 = functools.partial(ResNet, stage_sizes=(3, 8, 36, 3), block_cls=BottleneckBlock)
ResNet50V2 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=PreActBottleneckBlock,
                               bn_epsilon=KERAS_BN_EPSILON)
ResNet101V2 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3),
                                block_cls=PreActBottleneckBlock, bn_epsilon=KERAS_BN_EPSILON)
ResNet152V2 = functools.partial(ResNet, stage_sizes=(3, 8, 36, 3),
                                block_cls=PreActBottleneckBlock, bn_epsilon=KERAS_BN_EPSILON)
# For tests and the CPU quickstart: one basic block per stage, 16 -> 128 channels.
ResNetTiny = functools.partial(ResNet, stage_sizes=(1, 1, 1, 1), block_cls=BasicBlock, width=16)

# What configs choose from (`config.model.backbone = "resnet50"`).
RESNETS = {
    "resnet18": ResNet18,
    "resnet34": ResNet34,
    "resnet50": ResNet50,
    "resnet101": ResNet101,
    "resnet152": ResNet152,
    "resnet50_v2": ResNet50V2,
    "resnet101_v2": ResNet101V2,
    "resnet152_v2": ResNet152V2,
    "tiny": ResNetTiny,
}
