"""TFDS's standard builder checks of gldv2 on dummy_data/, one test case per config.

These need TensorFlow (tfds.testing reads the data back with tf.data). The value checks, which
run without TensorFlow, are in gldv2_build_test.py.
"""

import pytest

tf = pytest.importorskip(
    "tensorflow", reason="tfds.testing needs TensorFlow: pip install 'jaxgeo[build]'")

import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top,wrong-import-position

from tfds_builders.gldv2 import gldv2_dataset_builder  # pylint: disable=g-import-not-at-top

# The dummy data has ~20 train images: 2% would leave the validation split empty.
_VALIDATION_FRACTION = 0.3


class TrainFullTest(tfds.testing.DatasetBuilderTestCase):
  """train_full: 20 good train images (+ bad records) split train/validation by id hash."""
  DATASET_CLASS = gldv2_dataset_builder.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = [gldv2_dataset_builder.BuilderConfig(
      name="train_full_test", subset="train_full", validation_fraction=_VALIDATION_FRACTION)]
  SPLITS = {"train": 15, "validation": 5}
  SKIP_CHECKSUMS = True


class TrainCleanTest(tfds.testing.DatasetBuilderTestCase):
  """train_clean: the 14 readable GLDv2-clean images."""
  DATASET_CLASS = gldv2_dataset_builder.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = [gldv2_dataset_builder.BuilderConfig(
      name="train_clean_test", subset="train_clean", validation_fraction=_VALIDATION_FRACTION)]
  SPLITS = {"train": 11, "validation": 3}
  SKIP_CHECKSUMS = True


class IndexTest(tfds.testing.DatasetBuilderTestCase):
  """index: 10 toy index images + 1 without a landmark mapping."""
  DATASET_CLASS = gldv2_dataset_builder.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["index"]
  SPLITS = {"index": 11}
  SKIP_CHECKSUMS = True


class TestSetTest(tfds.testing.DatasetBuilderTestCase):
  """test: 8 toy test images + 1 ignored in scoring."""
  DATASET_CLASS = gldv2_dataset_builder.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["test"]
  SPLITS = {"test": 9}
  SKIP_CHECKSUMS = True


if __name__ == "__main__":
  tfds.testing.test_main()
