"""MTCNN's networks in NNX (jaxgeo.models.mtcnn) against the mtcnn package's own Keras ones."""

from __future__ import annotations

import jax
import joblib
import numpy as np
import pytest
from flax import nnx

pytest.importorskip("mtcnn", reason="the face detector's weights: pip install 'jaxgeo[faces]'")

from jaxgeo.models import mtcnn  # noqa: E402


def _count(net) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(net, nnx.Param)))


def test_parameter_counts_of_the_released_networks():
  pnet, rnet, onet = mtcnn.load()
  assert (_count(pnet), _count(rnet), _count(onet)) == (6_632, 100_178, 389_040)


def test_the_networks_equal_the_keras_reference():
  """The package's own TensorFlow networks, with the same weight files, on random inputs: the
  flattening order of R-Net's and O-Net's dense layers is where a port goes wrong."""
  pytest.importorskip("tensorflow", reason="the Keras reference: pip install 'jaxgeo[build]'")
  from mtcnn.network import onet, pnet, rnet  # pylint: disable=g-import-not-at-top
  from mtcnn.utils.tensorflow import load_weights  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  ours = mtcnn.load()
  for net, keras_class, name, shape in ((ours[0], pnet.PNet, "pnet", (2, 37, 53, 3)),
                                        (ours[1], rnet.RNet, "rnet", (5, 24, 24, 3)),
                                        (ours[2], onet.ONet, "onet", (5, 48, 48, 3))):
    reference = keras_class()
    reference.build()
    reference.set_weights(load_weights(f"{name}.lz4"))
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    expected = [np.asarray(t) for t in reference(x)]
    expected[-1] = expected[-1][..., 1]  # P(face) of the softmax pair
    got = [np.asarray(t) for t in net(x)]
    assert [g.shape for g in got] == [e.shape for e in expected], name
    for g, e in zip(got, expected):
      np.testing.assert_allclose(g, e, atol=2e-6, err_msg=name)


def test_weights_of_another_shape_are_refused():
  weights = [np.zeros((3, 3, 3, 10)), np.zeros(10), np.zeros((1, 1, 10))]
  with pytest.raises(ValueError, match="PNet: expected 13 weight arrays, found 3"):
    mtcnn.set_weights(nnx.eval_shape(mtcnn.PNet), weights)
  good = list(joblib.load(f"{mtcnn.weights_dir()}/pnet.lz4"))
  good[0] = np.zeros((3, 3, 3, 12))
  with pytest.raises(ValueError, match=r"PNet: a weight of shape \(3, 3, 3, 12\) where "
                                       r"\(3, 3, 3, 10\) was expected"):
    mtcnn.set_weights(nnx.eval_shape(mtcnn.PNet), good)
