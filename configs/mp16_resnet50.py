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
steps of ResNet-50 at 224 px.
"""

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.toy_world = ml_collections.ConfigDict({"enabled": False, "dir": ""})

  config.data = ml_collections.ConfigDict()
  config.data.dir = ""  # where `tfds build` wrote the data sets
  config.data.train = "yfcc100m_geo/mp16"
  # With model.landmark_head, GLDv2 photos mixed into the stream at this share (e.g.
  # `--config.model.landmark_head=True --config.data.landmarks=gldv2/train_clean`).
  config.data.landmarks = ""
  config.data.landmark_share = 0.25

  config.partitions = ml_collections.ConfigDict()
  config.partitions.input_csv = ""  # MP-16's meta CSV is faster than a pass over the shards
  # "auto": LAT/LON order decided from the values; "as_named"/"swapped" force it.
  config.partitions.coordinate_columns = "auto"
  config.partitions.tau_min = 50
  config.partitions.tau_max = (5000, 2000, 1000)
  config.partitions.min_level = 2

  config.model = ml_collections.ConfigDict()
  config.model.backbone = "resnet50"
  config.model.dtype = "float32"
  config.model.pretrained = ""  # path to ImageNet weights (torchvision/timm state dict)
  config.model.tag_head = False
  config.model.vocabulary_size = 0
  config.model.landmark_head = False

  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "fsdp_min_size": 2**18})
  config.image_size = 224
  config.batch_size = 128
  config.eval_batch_size = 256
  config.train_epochs = 15
  config.data_workers = 8

  config.optim = ml_collections.ConfigDict()
  config.optim.optimizer = "sgd"
  config.optim.learning_rate = 0.01
  config.optim.momentum = 0.9
  config.optim.weight_decay = 1e-4
  config.optim.schedule = "step"
  config.optim.decay_epochs = (4, 8, 12, 13, 14)
  config.optim.decay_factor = 0.5

  config.loss = ml_collections.ConfigDict({"geo": 1.0, "tag": 0.0, "landmark": 0.0})
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  config.keep = 3
  config.evals = ("geo_testsets/im2gps", "geo_testsets/im2gps3k", "geo_testsets/yfcc4k",
                  "yfcc100m_geo/mp16:validation")
  # A built GLDv2 index split (`name:split`): gldv2/test evals then also score retrieval
  # (mAP@100 of the test queries over the index's GeM descriptors). "" = recognition only.
  config.landmark_index = ""
  config.eval_every_steps = 5000
  config.five_crop = True
  return config
