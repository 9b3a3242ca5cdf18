"""ResNet backbones: published parameter counts, shapes, BatchNorm modes, bf16, jitted steps.

Equality of outputs with torchvision and Keras on the same weights is in
tests/models/test_pretrained.py.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxgeo.models import resnet


def _count(model, variable_type) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, variable_type)))


# torchvision's published totals minus the classifier (512*1000+1000 or 2048*1000+1000); Keras'
# `count_params()` of the `include_top=False` models, which counts the BatchNorm moving statistics
# too (ResNet50V2: 23,519,360 trainable + 45,440 non-trainable = 23,564,800).
@pytest.mark.parametrize("name, params, keras_total", [
    ("resnet18", 11_689_512 - 513_000, None),
    ("resnet34", 21_797_672 - 513_000, None),
    ("resnet50", 25_557_032 - 2_049_000, None),
    ("resnet101", 44_549_160 - 2_049_000, None),
    ("resnet152", 60_192_808 - 2_049_000, None),
    ("resnet50_v2", 23_519_360, 23_564_800),
    ("resnet101_v2", 42_528_896, 42_626_560),
    ("resnet152_v2", 58_187_904, 58_331_648),
])
def test_parameter_counts_match_torchvision_and_keras(name, params, keras_total):
  model = nnx.eval_shape(lambda: resnet.RESNETS[name](rngs=nnx.Rngs(0)))
  assert _count(model, nnx.Param) == params
  if keras_total is not None:
    assert _count(model, nnx.Param) + _count(model, nnx.BatchStat) == keras_total
  assert model.num_features == (512 if name in ("resnet18", "resnet34") else 2048)


def test_parameter_names():
  v1 = nnx.eval_shape(lambda: resnet.ResNet50(rngs=nnx.Rngs(0)))
  shapes = jax.tree.map(lambda x: x.shape, nnx.to_pure_dict(nnx.state(v1)))
  assert set(shapes) == {"conv_init", "bn_init", "stages"}
  assert shapes["conv_init"] == {"kernel": (7, 7, 3, 64)}
  assert shapes["bn_init"] == {"scale": (64,), "bias": (64,), "mean": (64,), "var": (64,)}
  # v1.5: the first block of a stage carries the projection and the stride (on its 3x3 conv).
  assert set(shapes["stages"][1][0]) == {"conv1", "bn1", "conv2", "bn2", "conv3", "bn3",
                                         "proj_conv", "proj_bn"}
  assert shapes["stages"][1][0]["conv2"]["kernel"] == (3, 3, 128, 128)
  assert shapes["stages"][1][0]["proj_conv"]["kernel"] == (1, 1, 256, 512)
  assert [len(s) for s in shapes["stages"].values()] == [3, 4, 6, 3]

  v2 = nnx.eval_shape(lambda: resnet.ResNet50V2(rngs=nnx.Rngs(0)))
  shapes = jax.tree.map(lambda x: x.shape, nnx.to_pure_dict(nnx.state(v2)))
  assert set(shapes) == {"conv_init", "stages", "post_bn"}
  assert shapes["conv_init"] == {"kernel": (7, 7, 3, 64), "bias": (64,)}  # Keras' biased stem
  assert set(shapes["stages"][0][0]) == {"preact_bn", "conv1", "bn1", "conv2", "bn2", "conv3",
                                         "proj_conv"}
  assert shapes["stages"][0][0]["preact_bn"]["scale"] == (64,)
  assert shapes["stages"][0][0]["proj_conv"] == {"kernel": (1, 1, 64, 256), "bias": (256,)}
  assert set(shapes["stages"][0][1]) == {"preact_bn", "conv1", "bn1", "conv2", "bn2", "conv3"}
  assert v2.stages[0][2].strides == 2 and v2.stages[3][2].strides == 1  # Keras' stride1


@functools.partial(jax.jit, static_argnums=(0, 3))
def _forward(graphdef, state, images, method="__call__"):
  model = nnx.merge(graphdef, state, copy=True)
  return getattr(model, method)(images)


@pytest.mark.parametrize("factory, features", [(resnet.ResNet50, 2048),
                                               (resnet.ResNet50V2, 2048)])
def test_resnet50_shapes(factory, features):
  model = factory(rngs=nnx.Rngs(0))
  model.eval()
  graphdef, state = nnx.split(model)
  images = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  pooled = _forward(graphdef, state, images)
  assert pooled.shape == (2, features) and pooled.dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(pooled)))


def test_tiny_shapes_and_pooling():
  model = resnet.ResNetTiny(rngs=nnx.Rngs(0))
  model.eval()
  assert model.num_features == 128
  assert _count(model, nnx.Param) < 400_000  # fast enough for CPU tests
  graphdef, state = nnx.split(model)
  images = jax.random.normal(jax.random.key(0), (3, 64, 64, 3))
  feature_map = _forward(graphdef, state, images, "features")
  assert feature_map.shape == (3, 2, 2, 128)
  # __call__ is the global average of the map the landmark head pools with GeM.
  np.testing.assert_allclose(_forward(graphdef, state, images), feature_map.mean((1, 2)),
                             rtol=1e-5, atol=1e-6)
  # Odd sizes round up at every stride-2 layer, as torch and Keras do: 65 -> 33 -> 17 ... -> 3.
  odd = _forward(graphdef, state, jnp.zeros((1, 65, 65, 3)), "features")
  assert odd.shape == (1, 3, 3, 128)


def test_batchnorm_train_updates_statistics_and_eval_does_not():
  model = resnet.ResNetTiny(rngs=nnx.Rngs(0))
  images = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
  conv_out = model.conv_init(images)  # what the stem BatchNorm sees

  # Fresh models are in training mode: batch statistics, running averages move by 1 - 0.9.
  assert model.bn_init.use_running_average is False
  model(images)
  np.testing.assert_allclose(model.bn_init.mean[...], 0.1 * conv_out.mean((0, 1, 2)),
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(model.bn_init.var[...], 0.9 + 0.1 * conv_out.var((0, 1, 2)),
                             rtol=1e-5)
  # ... and an example's features depend on the rest of its batch.
  train_0 = model(images)[0]
  assert not np.allclose(model(images[:2])[0], train_0, atol=1e-4)

  model.eval()
  assert model.bn_init.use_running_average is True
  stats = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))
  eval_0 = model(images)[0]
  np.testing.assert_allclose(model(images[:1])[0], eval_0, rtol=1e-5, atol=1e-6)
  jax.tree.map(np.testing.assert_array_equal, stats,
               nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))

  model.train()
  assert model.stages[3][0].bn1.use_running_average is False


def test_bfloat16_compute_with_float32_parameters():
  model16 = resnet.ResNetTiny(dtype=jnp.bfloat16, zero_init_residual=False, rngs=nnx.Rngs(0))
  model32 = resnet.ResNetTiny(zero_init_residual=False, rngs=nnx.Rngs(0))
  assert {x.dtype for x in jax.tree.leaves(nnx.state(model16))} == {jnp.dtype(jnp.float32)}
  images = jax.random.normal(jax.random.key(2), (4, 64, 64, 3))
  out16 = model16(images)
  assert out16.dtype == jnp.bfloat16
  assert _forward(*nnx.split(model16), images, "features").dtype == jnp.bfloat16
  # Same parameters (same seed), so the outputs agree to bf16 precision.
  out32 = _forward(*nnx.split(model32), images)
  scale = float(jnp.abs(out32).max())
  assert float(jnp.abs(out16.astype(jnp.float32) - out32).max()) < 0.05 * scale
  # Running statistics stay float32 after a bf16 training-mode step.
  assert model16.bn_init.mean[...].dtype == jnp.float32
  assert float(jnp.abs(model16.bn_init.mean[...]).max()) > 0


def test_jitted_functional_train_step_matches_eager():
  """The pattern train.py uses: split params/rest, merge a copy inside jit, return new stats."""
  model = resnet.ResNetTiny(zero_init_residual=False, rngs=nnx.Rngs(0))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  images = jax.random.normal(jax.random.key(3), (4, 32, 32, 3))

  def loss_fn(params, rest, images):
    model = nnx.merge(graphdef, params, rest, copy=True)
    model.train()
    loss = jnp.mean(model(images) ** 2)
    return loss, nnx.state(model, nnx.Not(nnx.Param))

  (loss, new_rest), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
      params, rest, images)
  # Copy semantics: the jitted step left its inputs alone. (nnx.split does not copy: `rest`
  # holds the model's own Variables, so the eager call below would change it.)
  np.testing.assert_array_equal(rest["bn_init"]["mean"][...], 0.0)

  eager_loss = jnp.mean(model(images) ** 2)  # training mode: also updates `model`'s stats
  np.testing.assert_allclose(loss, eager_loss, rtol=1e-5)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               nnx.to_pure_dict(new_rest), nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))
  # Every parameter gets a gradient.
  assert jax.tree.structure(grads) == jax.tree.structure(params)
  assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))
  assert _count(model, nnx.Param) == sum(g.size for g in jax.tree.leaves(grads))


def test_zero_init_residual_starts_blocks_at_identity():
  v1 = resnet.ResNetTiny(rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(v1.stages[0][0].bn2.scale[...], 0.0)
  np.testing.assert_array_equal(v1.stages[0][0].bn1.scale[...], 1.0)
  # v2 has no BN after conv3, so its kernel starts at zero; a one-block stage carries both the
  # projection and the stride.
  v2 = resnet.ResNet(stage_sizes=(1, 1, 1, 1), block_cls=resnet.PreActBottleneckBlock, width=8,
                     rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(v2.stages[0][0].conv3.kernel[...], 0.0)
  assert v2.stages[0][0].projection and v2.stages[0][0].strides == 2
  assert _forward(*nnx.split(v2), jnp.ones((1, 64, 64, 3)), "features").shape == (1, 2, 2, 256)


def test_variants_dict():
  assert set(resnet.RESNETS) >= {"resnet18", "resnet50", "resnet101_v2", "tiny"}
  assert resnet.RESNETS["resnet101_v2"].keywords["stage_sizes"] == (3, 4, 23, 3)
  assert resnet.RESNETS["resnet101_v2"].keywords["bn_epsilon"] == resnet.KERAS_BN_EPSILON
