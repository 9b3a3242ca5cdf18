r"""DeepLocation-style run: ResNet-101 v2 (Keras layout) and finer partitions, on YFCC100M.

  python -m jaxgeo.main --config configs/deeplocation.py --workdir runs/deeplocation \
      --config.data.dir=/data/tfds \
      --config.model.pretrained=/weights/resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5

What follows the DeepLocation report: a pre-activation ResNet-101 (Keras `ResNet101V2`, ImageNet
weights), partitions with tau_min 5 and tau_max 500/200/100, training photos from the full
YFCC100M (`yfcc100m_geo/yfcc100m`; build it with `face_ratio` to filter portraits). Optimizer
settings are GeoEstimation's (config mp16_resnet50), which this file overrides.
"""

import ml_collections

from configs import mp16_resnet50


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = mp16_resnet50.get_config(arg)
  config.data.train = "yfcc100m_geo/yfcc100m"
  config.partitions.tau_min = 5
  config.partitions.tau_max = (500, 200, 100)
  config.model.backbone = "resnet101_v2"
  # Many more, smaller cells: FSDP splits the large heads over the `fsdp` mesh axis.
  config.mesh.fsdp = 2
  config.evals = ("geo_testsets/im2gps", "geo_testsets/im2gps3k", "geo_testsets/yfcc4k",
                  "yfcc100m_geo/yfcc100m:validation")
  return config
