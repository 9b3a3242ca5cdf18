"""The ResNet's convolutions: `lax.conv_general_dilated` with faster CPU gradients.

`conv_general_dilated` is what `nnx.Conv` calls (its `conv_general_dilated` argument). It
computes exactly what lax computes; only the way XLA:CPU is asked for it changes, because two
parts of a ResNet's backward pass are slow there (measured with `benchmarks/train_step.py` on the
2-core development machine, batch 8, 224 px):

* 1x1 convolutions run as one 2-D matmul. XLA computes the weight gradient of a 1x1 conv as a
  convolution whose "kernel" is the whole output gradient (~5-7 GFLOP/s); as a dot it is a
  (C_in x N*H*W) @ (N*H*W x C_out) matmul. This made the train step 1.75x faster.
* The weight gradient of a k x k convolution over a large map is computed as k matmuls, one per
  kernel row: the row's k shifted views of the padded input side by side, (N*Ho*Wo x k*C_in),
  against the output gradient (N*Ho*Wo x C_out). XLA's own weight-gradient convolution reaches
  ~40-70 GFLOP/s on the 56x56 and 28x28 maps of ResNet-50 (its forward conv: 165-300); the rows
  reach 100-170 (`_weight_grad_by_rows`). Maps smaller than `ROWS_MIN_POSITIONS` per image keep
  XLA's gradient, which is as fast there. Only on the CPU backend: GPUs and TPUs have their own
  kernels for this.

Results equal lax's up to float summation order (tests/models/test_convolution.py).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

_NHWC = ("NHWC", "HWIO", "NHWC")
# Where the row-wise weight gradient is used: maps of at least 28x28 output positions per image
# (stages 1 and 2 of ResNet-50 at 224 px; at 14x14 XLA's own gradient was as fast) and at least
# 32 input and output channels (narrower matmuls were slower than XLA: the 3-channel stem, the
# tiny test ResNet's 16-channel stage).
ROWS_MIN_POSITIONS = 28 * 28
ROWS_MIN_CHANNELS = 32


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides, padding,
                         lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
                         feature_group_count: int = 1, precision=None, **kwargs) -> jax.Array:
  """`jax.lax.conv_general_dilated` with the fast paths described in the module docstring."""
  plain = (lhs.ndim == 4 and feature_group_count == 1
           and jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
           == jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
           and all(d == 1 for d in (lhs_dilation or (1, 1)) + (rhs_dilation or (1, 1)))
           and not kwargs.get("preferred_element_type") and kwargs.get("out_sharding") is None)
  if plain:
    kh, kw = rhs.shape[:2]
    pads = tuple(tuple(p) for p in (jax.lax.padtype_to_pads(
        lhs.shape[1:3], (kh, kw), window_strides, padding) if isinstance(padding, str)
        else padding))
    if (kh, kw) == (1, 1) and pads == ((0, 0), (0, 0)):
      return _conv_1x1(lhs, rhs, tuple(window_strides), precision)
    return _conv(lhs, rhs, tuple(window_strides), pads, precision)
  return jax.lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
      feature_group_count, precision=precision, **kwargs)


def _conv_1x1(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
              precision) -> jax.Array:
  """A 1x1 NHWC convolution as one (N*H*W x C_in) @ (C_in x C_out) matmul."""
  sh, sw = strides
  x = x[:, ::sh, ::sw, :] if (sh, sw) != (1, 1) else x
  n, h, w, c = x.shape
  y = jnp.dot(x.reshape(n * h * w, c), kernel.reshape(c, kernel.shape[-1]), precision=precision)
  return y.reshape(n, h, w, kernel.shape[-1])


def _lax_conv(x, kernel, strides, pads, precision):
  return jax.lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=_NHWC,
                                      precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, kernel, strides, pads, precision):
  return _lax_conv(x, kernel, strides, pads, precision)


def _conv_forward(x, kernel, strides, pads, precision):
  return _lax_conv(x, kernel, strides, pads, precision), (x, kernel)


def _conv_backward(strides, pads, precision, residuals, dy):
  x, kernel = residuals
  positions = dy.shape[1] * dy.shape[2]
  if (jax.default_backend() == "cpu" and positions >= ROWS_MIN_POSITIONS
      and min(kernel.shape[2:]) >= ROWS_MIN_CHANNELS):
    _, input_grad = jax.vjp(lambda x: _lax_conv(x, kernel, strides, pads, precision), x)
    return input_grad(dy)[0], _weight_grad_by_rows(x, dy, kernel, strides, pads, precision)
  _, grads = jax.vjp(lambda x, k: _lax_conv(x, k, strides, pads, precision), x, kernel)
  return grads(dy)


_conv.defvjp(_conv_forward, _conv_backward)


def _weight_grad_by_rows(x: jax.Array, dy: jax.Array, kernel: jax.Array,
                         strides: tuple[int, int], pads, precision) -> jax.Array:
  """d(loss)/d(kernel) of an NHWC/HWIO convolution as one matmul per kernel row.

  kernel[i, j] multiplies the padded input shifted by (i, j); for row i, the kw shifted views
  side by side, (N*Ho*Wo, kw*C_in), contract with dy, (N*Ho*Wo, C_out), over all positions.
  """
  kh, kw, c_in, c_out = kernel.shape
  sh, sw = strides
  _, ho, wo, _ = dy.shape
  padded = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
  dy_2d = dy.reshape(-1, c_out)
  rows = []
  for i in range(kh):
    views = [padded[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
             for j in range(kw)]
    patches = jnp.concatenate(views, axis=-1).reshape(dy_2d.shape[0], kw * c_in)
    # (C_out, kw*C_in): dy on the left was faster than the other order on the CPU.
    rows.append(jax.lax.dot_general(dy_2d, patches, (((0,), (0,)), ((), ())),
                                    precision=precision))
  grad = jnp.stack(rows).reshape(kh, c_out, kw, c_in).transpose(0, 2, 3, 1)
  return grad.astype(kernel.dtype)
