"""What a model knows (jaxgeo.predict.model_card): from a workdir's config, results and data."""

from __future__ import annotations

import json
import os

import pytest
import tensorflow_datasets as tfds

from jaxgeo.predict import model_card
from jaxgeo.run import config_base
from tfds_builders.yfcc100m_geo import yfcc100m_geo_dataset_builder as yfcc_builder

DUMMY = os.path.join(os.path.dirname(yfcc_builder.__file__), "dummy_data")
TRAIN = "yfcc100m_geo/mp16_card"  # the 12 MP-16 photos of the builder's dummy data, all train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
  """A real built training set, so the card reads its size as it would a user's."""
  out = tmp_path_factory.mktemp("tfds")
  builder = yfcc_builder.Builder(
      config=yfcc_builder.BuilderConfig(name="mp16_card", source="mp16", validation_fraction=0),
      data_dir=os.fspath(out), file_format="array_record")
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=DUMMY))
  return os.fspath(out)


def _workdir(tmp_path, toy: bool):
  (tmp_path / "results.json").write_text(json.dumps({
      "geo_testsets/im2gps3k": {
          "hierarchy": {"acc@1km": 0.1, "acc@25km": 0.28, "acc@200km": 0.369, "acc@750km": 0.511,
                        "acc@2500km": 0.67, "num_examples": 2997.0},
          "cells_50_5000": {"acc@25km": 0.1, "num_examples": 2997.0}},
      "gldv2/test": {"landmark": {"gap": 0.2512, "top1": 0.5}}}))
  config = config_base.base()
  config.toy_world.enabled = toy
  config.data.train = TRAIN
  return config


def test_card_of_a_real_data_run(tmp_path, data_dir):
  config = _workdir(tmp_path, toy=False)
  card = model_card.load_model_card(str(tmp_path), config, data_dir, 37500)
  assert card.num_train_photos == 12 and not card.toy_world and card.warning == ""
  assert card.describe() == (
      "Trained on yfcc100m_geo/mp16_card (12 photos), checkpoint of step 37,500. "
      "Tested: geo_testsets/im2gps3k (2,997 photos): 28.0 / 36.9 / 51.1 % within "
      "25 / 200 / 750 km. Landmarks: GAP 0.251 on gldv2/test.")
  assert card.to_dict()["tests"] == [{"dataset": "geo_testsets/im2gps3k", "num_photos": 2997,
                                      "acc@25km": 0.28, "acc@200km": 0.369, "acc@750km": 0.511}]


def test_toy_world_card_warns(tmp_path, data_dir):
  config = _workdir(tmp_path, toy=True)
  card = model_card.load_model_card(str(tmp_path), config, data_dir, 30)
  assert card.warning == model_card.TOY_WORLD_WARNING
  assert "generated toy world" in card.describe()
  assert "Tested on the toy world's own test sets:" in card.describe()


def test_card_without_results_or_data(tmp_path):
  config = config_base.base()
  config.data.train = "gldv2/train_clean"
  card = model_card.load_model_card(str(tmp_path), config, str(tmp_path / "none"), 5)
  assert card.num_train_photos is None and card.tests == () and card.warning == ""
  assert card.describe() == ("Trained on gldv2/train_clean (size unknown), checkpoint of step 5."
                             " No test results in the workdir (results.json).")
