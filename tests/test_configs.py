"""Every config loads, and its model builds with the sizes of the real data (shapes only)."""

import jax
import ml_collections
import pytest
from flax import nnx

from configs import deeplocation, gldv2_landmarks, mp16_resnet50, quickstart
from jaxgeo.models import geolocator
from jaxgeo.run import optim

MP16_CELLS = {"cells_50_5000": 3298, "cells_50_2000": 7202, "cells_50_1000": 12893}


def _num_params(config, num_classes, vocabulary_size=0, kinds=nnx.Param, num_landmarks=0):
  model = nnx.eval_shape(lambda: geolocator.make_model(config.model, num_classes,
                                                       vocabulary_size, num_landmarks, 0))
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, kinds)))


def test_mp16_resnet50_is_geoestimation():
  config = mp16_resnet50.get_config()
  assert config.partitions.tau_max == (5000, 2000, 1000) and config.partitions.tau_min == 50
  # ResNet-50 without its classifier (23,508,032) + 3 heads on 2048 features.
  heads = sum(2048 * n + n for n in MP16_CELLS.values())
  assert _num_params(config, MP16_CELLS) == 23_508_032 + heads
  schedule = optim.make_learning_rate_schedule(config.optim, steps_per_epoch=100,
                                               total_steps=1500)
  assert [float(schedule(s)) for s in (399, 400, 800, 1200, 1300, 1400)] == pytest.approx(
      [0.01, 0.005, 0.0025, 0.00125, 0.000625, 0.0003125])


def test_deeplocation_overrides_the_base():
  config = deeplocation.get_config()
  assert config.model.backbone == "resnet101_v2" and config.partitions.tau_min == 5
  assert config.partitions.tau_max == (500, 200, 100)
  assert config.optim.learning_rate == mp16_resnet50.get_config().optim.learning_rate
  # Keras' ResNet101V2 without top counts 42,626,560 with its BatchNorm statistics; + the head.
  assert _num_params(config, {"c": 10}, kinds=(nnx.Param, nnx.BatchStat)) == (
      42_626_560 + 2048 * 10 + 10)


@pytest.mark.parametrize("arg", [None, "runlocal"])
def test_quickstart(arg):
  config = quickstart.get_config(arg)
  assert isinstance(config, ml_collections.ConfigDict)
  assert _num_params(config, {"a": 5}, vocabulary_size=7) > 0


def test_gldv2_landmarks_has_only_the_landmark_head():
  config = gldv2_landmarks.get_config()
  assert config.partitions is None and config.data.train == "gldv2/train_clean"
  # ResNet-50 + GeM's exponent + a softmax over GLDv2-clean's 81,313 landmarks.
  assert _num_params(config, {}, num_landmarks=81_313) == 23_508_032 + 1 + 2048 * 81_313 + 81_313
  assert gldv2_landmarks.get_config("toy").model.backbone == "tiny"
