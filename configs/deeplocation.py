r"""DeepLocation-style run: ResNet-101 v2 (Keras layout) and finer partitions, on YFCC100M.

  python -m jaxgeo.main --config configs/deeplocation.py --workdir runs/deeplocation \
      --config.data.dir=/data/tfds \
      --config.model.pretrained=/weights/resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5

What follows the DeepLocation report: a pre-activation ResNet-101 (Keras `ResNet101V2`, ImageNet
weights), partitions with tau_min 5 and tau_max 500/200/100, training photos from the full
YFCC100M (`yfcc100m_geo/yfcc100m`; build it with `face_ratio` to filter portraits). Optimizer
settings and evals are GeoEstimation's (config mp16_resnet50, which this file overrides), the
validation eval on YFCC100M's validation split.
"""

import ml_collections

from configs import common, mp16_resnet50


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """mp16_resnet50's recipe, overridden; it takes no argument (`configs/deeplocation.py`)."""
  common.parse_arg(arg, __file__)
  config = mp16_resnet50.get_config()
  config.data.train = "yfcc100m_geo/yfcc100m"
  config.partitions.tau_min = 5
  config.partitions.tau_max = (500, 200, 100)
  config.model.backbone = "resnet101_v2"
  # Many more, smaller cells: FSDP splits the large heads over the `fsdp` mesh axis.
  config.mesh.fsdp = 2
  # mp16_resnet50's evals (five crops), but the validation split of the training set.
  config.evals.validation.data = "yfcc100m_geo/yfcc100m:validation"
  return config
