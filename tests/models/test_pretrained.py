"""Pretrained-weight import: outputs match PyTorch and Keras on the same weights and input.

The torch reference is torchvision's ResNet rebuilt from torch.nn with torchvision's exact module
names (`jaxgeo.testing.torch_resnet`; torchvision itself has no CPU wheel here); its parameter
counts equal torchvision's published ones, which pins the architecture. The Keras reference is
keras.applications.ResNet50V2 itself, run in a subprocess so TensorFlow never loads into the
test process (other tests check that code paths run without it).
"""

import functools
import importlib.util
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxgeo.models import resnet, resnet_pretrained, weights

IMAGE = 64  # px: the smallest size that keeps all stages >= 2x2


# ---------------------------------------------------------------------------------------------
# torchvision's ResNet (jaxgeo.testing.torch_resnet) with random BatchNorm statistics

def _torch_resnet(depth: int):
  torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'jaxgeo[torch]'")
  from jaxgeo.testing import torch_resnet  # pylint: disable=g-import-not-at-top
  nn = torch.nn
  model = torch_resnet.ResNet(depth)
  # Random BatchNorm affine and running statistics: torch's defaults (1, 0, 0, 1) would hide a
  # swapped scale/bias or mean/var.
  generator = torch.Generator().manual_seed(depth)
  with torch.no_grad():
    for module in model.modules():
      if isinstance(module, nn.BatchNorm2d):
        n = module.num_features
        module.weight.uniform_(0.5, 1.5, generator=generator)
        module.bias.normal_(0.0, 0.2, generator=generator)
        module.running_mean.normal_(0.0, 0.2, generator=generator)
        module.running_var.uniform_(0.5, 2.0, generator=generator)
        module.num_batches_tracked.fill_(n)
  return model.eval()


def _torch_features(model, images: np.ndarray) -> np.ndarray:
  import torch
  with torch.no_grad():
    return model.features(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()


def _images(n: int = 2, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=(n, IMAGE, IMAGE, 3)).astype(np.float32)


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, images):
  return nnx.merge(graphdef, state)(images)


def _jax_features(model, images: np.ndarray) -> np.ndarray:
  model.eval()
  graphdef, state = nnx.split(model)
  return np.asarray(_forward(graphdef, state, images))


def _rel_error(actual: np.ndarray, expected: np.ndarray) -> float:
  """Max abs difference relative to the largest reference value."""
  return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def _abstract(factory):
  """A model with shapes only: loading fills every value, so random init would be wasted."""
  return nnx.eval_shape(lambda: factory(rngs=nnx.Rngs(0)))


# ---------------------------------------------------------------------------------------------
# torchvision / timm

@pytest.mark.parametrize("depth, count", [(18, 11_176_512), (50, 23_508_032)])
def test_torch_reference_has_torchvision_parameter_counts(depth, count):
  model = _torch_resnet(depth)
  backbone = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("fc."))
  assert backbone == count
  jax_model = _abstract({18: resnet.ResNet18, 50: resnet.ResNet50}[depth])
  assert sum(x.size for x in jax.tree.leaves(nnx.state(jax_model, nnx.Param))) == count
  # The running statistics line up too (torch buffers minus the num_batches_tracked counters).
  buffers = sum(b.numel() for name, b in model.named_buffers() if "num_batches" not in name)
  assert sum(x.size for x in jax.tree.leaves(nnx.state(jax_model, nnx.BatchStat))) == buffers


def test_resnet50_from_pth_and_safetensors_matches_torch(tmp_path):
  torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'jaxgeo[torch]'")
  safetensors_torch = pytest.importorskip("safetensors.torch",
                                          reason="needs safetensors: pip install 'jaxgeo[torch]'")
  reference = _torch_resnet(50)
  images = _images()
  expected = _torch_features(reference, images)

  pth = tmp_path / "resnet50.pth"
  torch.save(reference.state_dict(), pth)
  st = tmp_path / "model.safetensors"
  safetensors_torch.save_file(
      {k: v.contiguous() for k, v in reference.state_dict().items()}, str(st))

  outputs = []
  for path in (pth, st):
    model = _abstract(resnet.ResNet50)
    report = resnet_pretrained.load_torch_resnet(model, path)
    assert report.skipped == ("fc.bias", "fc.weight")
    assert len(report.loaded) == 53 + 53 * 4  # 53 conv kernels, 53 BNs x (scale, bias, mean, var)
    outputs.append(_jax_features(model, images))
  np.testing.assert_array_equal(outputs[0], outputs[1])
  assert outputs[0].shape == (2, 2048)
  assert _rel_error(outputs[0], expected) < 1e-4


def test_resnet18_from_state_dict_matches_torch_and_keeps_dtype():
  pytest.importorskip("torch", reason="needs PyTorch: pip install 'jaxgeo[torch]'")
  reference = _torch_resnet(18)
  images = _images(seed=1)
  expected = _torch_features(reference, images)
  # DDP checkpoints nest the weights and prefix every name with "module.".
  checkpoint = {"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}
  model = resnet.ResNet18(rngs=nnx.Rngs(0))
  # A model born sharded stays sharded: replicated over the 8 test devices, except the stem
  # kernel's output channels.
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
  nnx.update(model, jax.device_put(nnx.state(model), jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec())))
  sharded = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, None, None, "data"))
  model.conv_init.kernel.set_value(jax.device_put(model.conv_init.kernel[...], sharded))
  report = resnet_pretrained.load_pretrained(model, checkpoint)
  assert report.source == "state dict" and report.skipped == ("fc.bias", "fc.weight")
  assert model.conv_init.kernel[...].sharding == sharded
  assert model.conv_init.kernel[...].dtype == jnp.float32
  np.testing.assert_allclose(model.conv_init.kernel[...],
                             reference.conv1.weight.detach().numpy().transpose(2, 3, 1, 0))
  np.testing.assert_allclose(model.stages[1][0].proj_bn.var[...],
                             reference.layer2[0].downsample[1].running_var.numpy())
  assert _rel_error(_jax_features(model, images), expected) < 1e-4


def test_torch_mismatches_fail_with_the_names():
  pytest.importorskip("torch", reason="needs PyTorch: pip install 'jaxgeo[torch]'")
  state = _torch_resnet(18).state_dict()
  model = _abstract(resnet.ResNet18)

  broken = dict(state)
  del broken["layer3.1.bn2.running_var"]
  broken["layer5.0.conv1.weight"] = state["layer1.0.conv1.weight"]
  broken["layer1.0.conv2.weight"] = state["layer1.0.conv2.weight"][:, :32]
  with pytest.raises(weights.WeightsMismatchError) as error:
    resnet_pretrained.load_torch_resnet(model, broken)
  message = str(error.value)
  assert "missing from the file (1):\n    stages/2/1/bn2/var" in message
  assert "layer5.0.conv1.weight (would be stages/4/0/conv1/kernel)" in message
  assert ("layer1.0.conv2.weight -> stages/0/0/conv2/kernel: file (3, 3, 32, 64), "
          "model (3, 3, 64, 64)") in message

  # A ResNet-18 file for a ResNet-34: the extra blocks are missing, nothing loads half-way.
  deeper = resnet.ResNet34(rngs=nnx.Rngs(0))
  before = np.asarray(deeper.conv_init.kernel[...])
  with pytest.raises(weights.WeightsMismatchError, match=r"stages/1/2/conv1/kernel"):
    resnet_pretrained.load_torch_resnet(deeper, state)
  np.testing.assert_array_equal(deeper.conv_init.kernel[...], before)

  with pytest.raises(ValueError, match="load_keras_resnet_v2"):
    resnet_pretrained.load_torch_resnet(_abstract(resnet.ResNet50V2), state)


# ---------------------------------------------------------------------------------------------
# Keras ResNet50V2

# Builds keras.applications.ResNet50V2 with random weights (including BatchNorm statistics) and
# writes it in every layout users have, plus its reference outputs.
_KERAS_SCRIPT = textwrap.dedent("""\
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import h5py, keras, numpy as np

    out, size = sys.argv[1], int(sys.argv[2])
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50V2(weights=None, include_top=False, pooling="avg",
                                          input_shape=(size, size, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:
      values = layer.get_weights()
      if isinstance(layer, keras.layers.BatchNormalization):
        n = values[0].shape
        values = [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                  rng.uniform(0.5, 2.0, n)]
      elif len(values) == 2:  # conv biases start at zero; make them count
        values = [values[0], rng.normal(0, 0.1, values[1].shape)]
      layer.set_weights([v.astype("float32") for v in values])
    images = rng.normal(size=(2, size, size, 3)).astype("float32")
    expected = model.predict(images, verbose=0)
    np.save(f"{out}/images.npy", images)
    np.save(f"{out}/expected.npy", expected)
    np.save(f"{out}/count.npy", model.count_params())

    model.save_weights(f"{out}/keras3.weights.h5")
    model.save(f"{out}/model.keras")
    model.save(f"{out}/full_model.h5")  # legacy whole-model h5: weights under model_weights/

    # The layout of the Keras-applications downloads (written by Keras 2): one group per layer,
    # attrs layer_names / weight_names, datasets named '<layer>/<var>:0'.
    with h5py.File(f"{out}/download_style_notop.h5", "w") as f:
      f.attrs["layer_names"] = np.array([l.name.encode() for l in model.layers])
      f.attrs["backend"] = b"tensorflow"
      f.attrs["keras_version"] = b"2.2.4"
      for layer in model.layers:
        group = f.create_group(layer.name)
        names = [f"{layer.name}/{w.path.split('/')[-1]}:0" for w in layer.weights]
        group.attrs["weight_names"] = np.array([n.encode() for n in names])
        for name, value in zip(names, layer.get_weights()):
          group.create_dataset(name, data=value)
    # Keras itself must read that file back to the same outputs, or the layout is not genuine.
    check = keras.applications.ResNet50V2(weights=None, include_top=False, pooling="avg",
                                          input_shape=(size, size, 3))
    check.load_weights(f"{out}/download_style_notop.h5")
    np.testing.assert_allclose(check.predict(images, verbose=0), expected, rtol=0, atol=0)
    """)


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
  pytest.importorskip("h5py", reason="needs h5py: pip install 'jaxgeo[torch]'")
  # find_spec, not import: TensorFlow must stay out of this process.
  if importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None:
    pytest.skip("needs TensorFlow and Keras for the reference: pip install 'jaxgeo[build]'")
  out = tmp_path_factory.mktemp("keras")
  result = subprocess.run([sys.executable, "-c", _KERAS_SCRIPT, str(out), str(IMAGE)],
                          check=False, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
  assert result.returncode == 0, result.stderr[-3000:]
  return out


@pytest.mark.parametrize("filename", ["download_style_notop.h5", "keras3.weights.h5",
                                      "model.keras", "full_model.h5"])
def test_resnet50v2_from_keras_files_matches_keras(keras_files, filename):
  model = _abstract(resnet.ResNet50V2)
  report = resnet_pretrained.load_keras_resnet_v2(model, keras_files / filename)
  assert report.skipped == ()
  # Keras' own count includes the BatchNorm moving statistics.
  state = nnx.state(model, nnx.Param, nnx.BatchStat)
  assert sum(x.size for x in jax.tree.leaves(state)) == int(np.load(keras_files / "count.npy"))
  expected = np.load(keras_files / "expected.npy")
  actual = _jax_features(model, np.load(keras_files / "images.npy"))
  assert actual.shape == expected.shape == (2, 2048)
  assert _rel_error(actual, expected) < 1e-4


def test_keras_mismatches_fail_with_the_names(keras_files, tmp_path):
  h5py = pytest.importorskip("h5py")
  path = tmp_path / "broken_top.h5"
  with h5py.File(keras_files / "download_style_notop.h5", "r") as src, \
       h5py.File(path, "w") as dst:
    for key, value in src.attrs.items():
      dst.attrs[key] = value
    names = [n for n in src.attrs["layer_names"] if n != b"post_bn"] + [b"predictions"]
    dst.attrs["layer_names"] = np.array(names)
    for name in names[:-1]:
      src.copy(src[name], dst, name.decode())
    top = dst.create_group("predictions")
    top.attrs["weight_names"] = np.array([b"predictions/kernel:0", b"predictions/bias:0"])
    top.create_dataset("predictions/kernel:0", data=np.zeros((2048, 1000), np.float32))
    top.create_dataset("predictions/bias:0", data=np.zeros((1000,), np.float32))
  with pytest.raises(weights.WeightsMismatchError) as error:
    resnet_pretrained.load_keras_resnet_v2(_abstract(resnet.ResNet50V2), path)
  message = str(error.value)
  assert "missing from the file (4):\n    post_bn/bias\n    post_bn/mean" in message
  assert "predictions" not in message  # the classifier is skipped, not an error

  # ResNet50V2 weights for a ResNet101V2: blocks 6-22 of stage 2 (17 x 16 arrays) are missing.
  with pytest.raises(weights.WeightsMismatchError,
                     match=r"missing from the file \(272\):\n    stages/2/6/bn1/bias"):
    resnet_pretrained.load_keras_resnet_v2(_abstract(resnet.ResNet101V2),
                                           keras_files / "model.keras")
  with pytest.raises(ValueError, match="load_torch_resnet"):
    resnet_pretrained.load_keras_resnet_v2(_abstract(resnet.ResNet50), keras_files / "model.keras")


# ---------------------------------------------------------------------------------------------

def test_preprocessing_matches_each_framework():
  preprocessing = resnet_pretrained.PREPROCESSING
  assert resnet_pretrained.preprocessing_for(_abstract(resnet.ResNet101V2)) is preprocessing[
      "keras_v2"]
  assert resnet_pretrained.preprocessing_for(_abstract(resnet.ResNet50)) is preprocessing[
      "torchvision"]
  pixels = np.array([[[[0, 128, 255]]]], np.uint8)
  np.testing.assert_allclose(resnet_pretrained.PREPROCESSING["keras_v2"](pixels),
                             pixels / 127.5 - 1.0, rtol=1e-6)  # keras resnet_v2.preprocess_input
  mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
  np.testing.assert_allclose(resnet_pretrained.PREPROCESSING["torchvision"](pixels),
                             (pixels / 255.0 - mean) / std, rtol=1e-5)  # torchvision Normalize
