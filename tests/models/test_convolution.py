"""jaxgeo's convolutions compute what lax computes, values and gradients, on every path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.models import convolution

NHWC = ("NHWC", "HWIO", "NHWC")


def _values_and_grads(conv, x, kernel, strides, padding, **kwargs):
  def loss(x, kernel):
    y = conv(x, kernel, strides, padding, dimension_numbers=NHWC, **kwargs)
    return jnp.sum(jnp.sin(y.astype(jnp.float32))), y

  (_, y), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(x, kernel)
  return y, grads


def _inputs(n, size, c_in, c_out, k, dtype=jnp.float32, seed=0):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=(n, size, size, c_in)), dtype)
  kernel = jnp.asarray(rng.normal(size=(k, k, c_in, c_out)) / k, dtype)
  return x, kernel


@pytest.mark.parametrize("size, c_in, c_out, k, strides, padding", [
    (9, 4, 6, 3, (1, 1), ((1, 1), (1, 1))),   # ResNet 3x3
    (9, 4, 6, 3, (2, 2), ((1, 1), (1, 1))),   # its strided first block
    (12, 3, 5, 7, (2, 2), ((3, 3), (3, 3))),  # the stem
    (8, 3, 4, 3, (1, 2), ((0, 2), (1, 0))),   # uneven strides and padding
    (8, 3, 4, 3, (1, 1), "SAME"),
    (8, 3, 4, 3, (2, 2), "VALID"),
    (8, 5, 7, 1, (1, 1), "VALID"),            # 1x1 as a dot
    (8, 5, 7, 1, (2, 2), ((0, 0), (0, 0))),   # strided 1x1 (projection shortcut)
])
@pytest.mark.parametrize("rows", [False, True])
def test_matches_lax(monkeypatch, size, c_in, c_out, k, strides, padding, rows):
  # rows=True sends every k x k weight gradient through the row-wise matmuls (on the CPU).
  monkeypatch.setattr(convolution, "ROWS_MIN_POSITIONS", 0 if rows else 10**9)
  monkeypatch.setattr(convolution, "ROWS_MIN_CHANNELS", 0 if rows else 10**9)
  x, kernel = _inputs(2, size, c_in, c_out, k)
  y, (dx, dk) = _values_and_grads(convolution.conv_general_dilated, x, kernel, strides, padding)
  y_ref, (dx_ref, dk_ref) = _values_and_grads(jax.lax.conv_general_dilated, x, kernel, strides,
                                              padding)
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dk, dk_ref, rtol=1e-5, atol=1e-4)


def test_row_wise_weight_gradient_is_used_on_large_maps_only():
  """At ResNet-50's 56x56 maps the rows replace XLA's gradient convolution; at 7x7 they do not."""
  def weight_grad_hlo(size, channels):
    x, kernel = _inputs(1, size, channels, channels, 3)
    f = jax.grad(lambda k: jnp.sum(convolution.conv_general_dilated(
        x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=NHWC)))
    return jax.jit(f).lower(kernel).as_text()

  assert "dot_general" in weight_grad_hlo(56, 32)
  assert "dot_general" not in weight_grad_hlo(7, 32)
  assert "dot_general" not in weight_grad_hlo(56, 8)  # narrow: XLA's was faster


def test_bfloat16_gradients_keep_the_kernel_dtype(monkeypatch):
  monkeypatch.setattr(convolution, "ROWS_MIN_POSITIONS", 0)
  monkeypatch.setattr(convolution, "ROWS_MIN_CHANNELS", 0)
  x, kernel = _inputs(2, 8, 4, 4, 3, dtype=jnp.bfloat16)
  _, (dx, dk) = _values_and_grads(convolution.conv_general_dilated, x, kernel, (1, 1),
                                  ((1, 1), (1, 1)))
  _, (_, dk_ref) = _values_and_grads(jax.lax.conv_general_dilated, x, kernel, (1, 1),
                                     ((1, 1), (1, 1)))
  assert dx.dtype == dk.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(dk, np.float32), np.asarray(dk_ref, np.float32),
                             rtol=0.05, atol=0.1)


def test_other_layouts_and_groups_go_to_lax():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 4, 8, 8)), jnp.float32)  # NCHW
  kernel = jnp.asarray(rng.normal(size=(6, 2, 3, 3)), jnp.float32)  # OIHW, 2 groups
  args = ((1, 1), ((1, 1), (1, 1)))
  kwargs = {"dimension_numbers": ("NCHW", "OIHW", "NCHW"), "feature_group_count": 2}
  np.testing.assert_array_equal(
      convolution.conv_general_dilated(x, kernel, *args, **kwargs),
      jax.lax.conv_general_dilated(x, kernel, *args, **kwargs))


def test_a_requested_output_sharding_goes_to_lax(monkeypatch):
  """The fast paths would drop `out_sharding` (nnx.Conv's call argument); lax honours it."""
  calls = []
  lax_conv = jax.lax.conv_general_dilated
  monkeypatch.setattr(jax.lax, "conv_general_dilated",
                      lambda *a, **k: calls.append(k.get("out_sharding")) or lax_conv(*a, **k))
  x = jnp.ones((1, 4, 4, 8), jnp.float32)
  kernel = jnp.ones((1, 1, 8, 4), jnp.float32)
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  y = convolution.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                       out_sharding=sharding)
  assert calls == [sharding]
  np.testing.assert_allclose(y, np.full((1, 4, 4, 4), 8.0))
