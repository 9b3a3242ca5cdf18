r"""The embedded default: the generated toy world, end to end on a laptop CPU.

  python -m jaxgeo.main --config configs/quickstart.py --workdir runs/quickstart

Generates the toy world (about 20k photos written in the raw YFCC100M / MP-16 / GLDv2 / Im2GPS3k
formats, ~30 s on 2 cores), builds its TFDS data sets with the builders of tfds_builders/ (~30 s),
then its S2 partitionings from the training coordinates.
`--config configs/quickstart.py:runlocal` shrinks everything to a few seconds (used by the tests).
Evaluated on the toy Im2GPS3k and YFCC4k (geolocation) and the toy GLDv2 test split (landmark
recognition, and retrieval over the toy index split); then LocSens (stage 2) over the tag head.
"""

import ml_collections

from configs import common, locsens


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`configs/quickstart.py`, or `configs/quickstart.py:runlocal` (seconds, for the tests)."""
  arg = common.parse_arg(arg, __file__, runlocal=False)
  config = common.base()

  # The toy world: generated into `dir` (default <workdir>/toy_world) unless it is already there
  # with the same settings, at the base's sizes (jaxgeo.toy_world.config.ToyWorldConfig's).
  config.toy_world.enabled = True

  # TFDS data sets (ArrayRecord), built from the toy world by the builders in tfds_builders/
  # into data.dir (default: <workdir>/tfds).
  config.data.train = "yfcc100m_geo/yfcc100m"
  # GLDv2 landmark photos mixed into the training stream for the landmark head.
  config.data.landmarks = "gldv2/train_clean"
  config.data.landmark_share = 0.1

  # Partitionings from the training coordinates. With ~20k photos around ~60 cities, these
  # thresholds give a coarse/middle/fine set of cells, as tau_max 5000/2000/1000 with tau_min 50
  # do for MP-16's 4.7M photos.
  config.partitions.tau_min = 10
  config.partitions.tau_max = (1000, 400, 150)

  # Model: a small ResNet trained from scratch (no pretrained weights in the toy world), with the
  # tag head and the landmark head (dropout at the base's 0.1).
  config.model.backbone = "tiny"
  config.model.tag_head = True
  config.model.vocabulary_size = 1000
  config.model.landmark_head = True

  config.image_size = 64
  config.batch_size = 64
  config.eval_batch_size = 128
  # 9 epochs keep `make quickstart` within 9 minutes on 2 cores; 12 (3 minutes more) lift the
  # toy Im2GPS3k hierarchy from 8.0/39.6/48.6/53.8/71.0 to 8.7/41.6/51.6/56.4/72.8 (README).
  config.train_epochs = 9
  config.optim.update(optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-4,
                      schedule="cosine", warmup_steps=100)
  # The landmark loss weighs 0.2: at 1.0 its gradients (from 10% of the batch) held the geo heads
  # back (coarsest-partition train loss 3.31 vs 2.47 at step 1000); at 0.2 they train as without
  # landmarks (2.55) and the landmark head learns faster too (train top-1 70% vs 41%).
  config.loss.update(geo=1.0, tag=0.5, landmark=0.2)
  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.evals.im2gps3k = common.make_eval("geolocation", "geo_testsets/im2gps3k")
  config.evals.yfcc4k = common.make_eval("geolocation", "geo_testsets/yfcc4k")
  # Also retrieval (mAP@100) over the built index split's GeM descriptors.
  config.evals.gldv2_test = common.make_eval("landmarks", "gldv2/test", index="gldv2/index:index")
  config.eval_every_steps = 1000
  # Retrieval over the training photos: the final evaluation answers by the hierarchy, by the
  # nearest gallery photos and by both (jaxgeo.retrieval), with a leakage report.
  config.retrieval.gallery = "yfcc100m_geo/yfcc100m:train"
  # 20k x 128 floats: exact similarities cost nothing here (bfloat16 rounds them by ~0.004,
  # as much as the near-duplicate threshold's margin).
  config.retrieval.dtype = "float32"

  # LocSens stage 2 (configs/locsens.py has the paper's sizes) over this run's tag head: the
  # embeddings of the train and validation photos, then a small triplet scorer, into
  # <workdir>/locsens; tagging and retrieval are reported next to the tag head.
  config.locsens = locsens.toy_section()

  if arg.runlocal:
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
  return config
