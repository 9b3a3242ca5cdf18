r"""GeoEstimation's recipe (Müller-Budack et al., ECCV 2018) on MP-16: ResNet-50, 3 partitions.

  tfds build tfds_builders/yfcc100m_geo --config mp16 --manual_dir /data/mp16 \
      --data_dir /data/tfds --file_format array_record
  tfds build tfds_builders/geo_testsets --manual_dir /data/testsets --data_dir /data/tfds \
      --file_format array_record
  python -m jaxgeo.main --config configs/mp16_resnet50.py --workdir runs/mp16_resnet50 \
      --config.data.dir=/data/tfds --config.model.pretrained=/weights/resnet50.pth \
      --config.partitions.input_csv=/data/mp16/mp16_places365.csv

Partitions: tau_min 50, tau_max 5000/2000/1000 (3,298 / 7,202 / 12,893 cells on MP-16). SGD
0.01, momentum 0.9, weight decay 1e-4, batch 128, 15 epochs, the rate halved at epochs
4/8/12/13/14; ImageNet-pretrained torchvision ResNet-50 weights (any `.pth`/`.safetensors`
state dict). What to expect: GeoEstimation's PyTorch ResNet-50 base(M, f*), the model this
recipe configures, reached 14.8 / 37.6 / 48.9 / 68.4 / 78.9 % at 1 / 25 / 200 / 750 / 2500 km on
Im2GPS and 10.1 / 28.0 / 36.9 / 51.1 / 67.0 % on Im2GPS3k (the paper's 16.9 / 43.0 / 51.9 / 66.7 /
80.2 % on Im2GPS are its ISN (M, f*, S3) model's, with scene classes). Needs GPUs or TPUs: ~37k
steps of ResNet-50 at 224 px. Evaluated (`config.evals`) on Im2GPS, Im2GPS3k, YFCC4k and MP-16's
validation split, voting over five crops (`--config.evals.im2gps.five_crop=False` for the centre
crop), every 5000 steps and at the end.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """GeoEstimation's recipe; it takes no argument (`configs/mp16_resnet50.py`)."""
  common.parse_arg(arg, __file__)
  config = common.base()
  config.data.train = "yfcc100m_geo/mp16"
  # MP-16's meta CSV (--config.partitions.input_csv) is faster than a pass over the shards.
  config.partitions.tau_min = 50
  config.partitions.tau_max = (5000, 2000, 1000)

  config.model.backbone = "resnet50"
  config.image_size = 224
  config.batch_size = 128
  config.eval_batch_size = 256
  config.train_epochs = 15
  config.data_workers = 8

  config.optim.update(optimizer="sgd", learning_rate=0.01, momentum=0.9, weight_decay=1e-4,
                      schedule="step", decay_epochs=(4, 8, 12, 13, 14), decay_factor=0.5)
  config.loss.update(geo=1.0, tag=0.0, landmark=0.0)
  config.keep = 3
  # Voting over five crops, as GeoEstimation evaluated.
  config.evals.im2gps = common.make_eval("geolocation", "geo_testsets/im2gps", five_crop=True)
  config.evals.im2gps3k = common.make_eval("geolocation", "geo_testsets/im2gps3k",
                                           five_crop=True)
  config.evals.yfcc4k = common.make_eval("geolocation", "geo_testsets/yfcc4k", five_crop=True)
  config.evals.validation = common.make_eval("geolocation", "yfcc100m_geo/mp16:validation",
                                             five_crop=True)
  config.eval_every_steps = 5000
  return config
