"""TFDS's standard builder test over dummy_data/ (needs TensorFlow, as tfds.testing does)."""

import pytest

pytest.importorskip("tensorflow",
                    reason="tfds.testing needs TensorFlow: pip install 'jaxgeo[build]'")

import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

from tfds_builders.yfcc100m_geo import yfcc100m_geo_dataset_builder  # pylint: disable=g-import-not-at-top


class Yfcc100mTest(tfds.testing.DatasetBuilderTestCase):
  """12 good photos + a CMYK and a PNG photo; bad rows and a duplicate are skipped."""
  DATASET_CLASS = yfcc100m_geo_dataset_builder.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = [yfcc100m_geo_dataset_builder.BuilderConfig(
      name="yfcc100m_test", source="yfcc100m", validation_fraction=0.3)]
  SPLITS = {"train": 10, "validation": 4}
  SKIP_CHECKSUMS = True


class Mp16Test(tfds.testing.DatasetBuilderTestCase):
  """12 MP-16 photos in a msgpack shard, joined with the meta CSV (one bad row, one orphan)."""
  DATASET_CLASS = yfcc100m_geo_dataset_builder.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = [yfcc100m_geo_dataset_builder.BuilderConfig(
      name="mp16_test", source="mp16", validation_fraction=0.3)]
  SPLITS = {"train": 8, "validation": 4}
  SKIP_CHECKSUMS = True


if __name__ == "__main__":
  tfds.testing.test_main()
