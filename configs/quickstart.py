r"""The embedded default: the generated toy world, end to end on a laptop CPU.

  python -m jaxgeo.main --config configs/quickstart.py --workdir runs/quickstart

Generates the toy world (about 20k photos written in the raw YFCC100M / MP-16 / GLDv2 / Im2GPS3k
formats, ~30 s on 2 cores), builds its TFDS data sets with the builders of tfds_builders/ (~30 s),
then its S2 partitionings from the training coordinates.
`--config configs/quickstart.py:runlocal` shrinks everything to a few seconds (used by the tests).
"""

import ml_collections

from configs import locsens


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  # The toy world: generated into `dir` (default <workdir>/toy_world) unless it is already there
  # with the same settings. The fields are those of jaxgeo.toy_world.generator.ToyWorldConfig.
  config.toy_world = ml_collections.ConfigDict()
  config.toy_world.enabled = True
  config.toy_world.dir = ""
  config.toy_world.num_train_photos = 20_000
  config.toy_world.num_test_photos = 600
  config.toy_world.num_yfcc4k_photos = 300
  config.toy_world.image_size = 96
  config.toy_world.num_landmarks = 30

  # TFDS data sets (ArrayRecord), built from the toy world by the builders in tfds_builders/.
  config.data = ml_collections.ConfigDict()
  config.data.dir = ""  # Default: <workdir>/tfds.
  config.data.train = "yfcc100m_geo/yfcc100m"
  # GLDv2 landmark photos mixed into the training stream for the landmark head.
  config.data.landmarks = "gldv2/train_clean"
  config.data.landmark_share = 0.1

  # Partitionings from the training coordinates. With ~20k photos around ~60 cities, these
  # thresholds give a coarse/middle/fine set of cells, as tau_max 5000/2000/1000 with tau_min 50
  # do for MP-16's 4.7M photos.
  config.partitions = ml_collections.ConfigDict()
  config.partitions.input_csv = ""  # An MP-16-style meta CSV; default: data.train's train split.
  # Which of input_csv's columns holds latitudes: "auto" decides from the values (headers of
  # circulating files are wrong), "as_named" or "swapped" force it (jaxgeo.geo.coordinate_csv).
  config.partitions.coordinate_columns = "auto"
  config.partitions.tau_min = 10
  config.partitions.tau_max = (1000, 400, 150)
  config.partitions.min_level = 2

  # Model: a small ResNet trained from scratch (no pretrained weights in the toy world).
  config.model = ml_collections.ConfigDict()
  config.model.backbone = "tiny"
  config.model.dtype = "float32"
  config.model.tag_head = True
  config.model.vocabulary_size = 1000
  config.model.landmark_head = True
  config.model.landmark_dropout = 0.1

  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})
  config.image_size = 64
  config.batch_size = 64
  config.eval_batch_size = 128
  config.train_epochs = 12
  config.optim = ml_collections.ConfigDict()
  config.optim.optimizer = "sgd"
  config.optim.learning_rate = 0.1
  config.optim.momentum = 0.9
  config.optim.weight_decay = 1e-4
  config.optim.schedule = "cosine"
  config.optim.warmup_steps = 100
  # The landmark loss weighs 0.2: at 1.0 its gradients (from 10% of the batch) held the geo heads
  # back (coarsest-partition train loss 3.31 vs 2.47 at step 1000); at 0.2 they train as without
  # landmarks (2.55) and the landmark head learns faster too (train top-1 70% vs 41%).
  config.loss = ml_collections.ConfigDict({"geo": 1.0, "tag": 0.5, "landmark": 0.2})
  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.evals = ("geo_testsets/im2gps3k", "geo_testsets/yfcc4k", "gldv2/test")
  # gldv2/test also scores retrieval (mAP@100) over this built index split's GeM descriptors.
  config.landmark_index = "gldv2/index:index"
  config.eval_every_steps = 1000
  config.five_crop = False

  # LocSens stage 2 (configs/locsens.py has the paper's sizes) over this run's tag head: the
  # embeddings of the train and validation photos, then a small triplet scorer, into
  # <workdir>/locsens; tagging and retrieval are reported next to the tag head.
  config.locsens = locsens.toy_section()

  if arg == "runlocal":
    config.toy_world.num_train_photos = 1_500
    config.toy_world.num_test_photos = 60
    config.toy_world.num_yfcc4k_photos = 30
    config.toy_world.image_size = 64
    config.toy_world.num_landmarks = 8
    config.partitions.tau_min = 5
    config.partitions.tau_max = (200, 80, 30)
    config.model.vocabulary_size = 100
    config.image_size = 32
    config.batch_size = 32
    config.eval_batch_size = 32
    config.train_epochs = None
    config.train_steps = 30
    config.optim.warmup_steps = 5
    config.log_every_steps = 10
    config.checkpoint_every_steps = 20
    config.eval_every_steps = 20
    config.locsens.update(projection_size=32, hidden_sizes=(64, 32), num_groups=8,
                          batch_size=32, train_steps=20, log_every_steps=10,
                          checkpoint_every_steps=10, two_stage_candidates=20)
    config.locsens.optim.warmup_steps = 5
  elif arg:
    raise ValueError(f"Unknown config argument {arg!r}; use configs/quickstart.py or "
                     "configs/quickstart.py:runlocal.")
  return config
