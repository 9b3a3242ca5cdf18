r"""Landmark recognition on Google Landmarks v2 (GLDv2-clean): ResNet-50, GeM pooling, softmax.

  tfds build tfds_builders/gldv2 --config train_clean --manual_dir /data/gldv2 \
      --data_dir /data/tfds --file_format array_record
  tfds build tfds_builders/gldv2 --config test --manual_dir /data/gldv2 --data_dir /data/tfds \
      --file_format array_record
  tfds build tfds_builders/gldv2 --config index --manual_dir /data/gldv2 --data_dir /data/tfds \
      --file_format array_record
  python -m jaxgeo.main --config configs/gldv2_landmarks.py --workdir runs/gldv2 \
      --config.data.dir=/data/tfds --config.model.pretrained=/weights/resnet50.pth

The landmark head (GeM pooling, dropout, softmax over the 81,313 GLDv2-clean landmarks) on an
ImageNet ResNet-50; no partitions. Its evals are `landmarks` ones: `test`, recognition GAP on the
v2.1 test solution, where most test images show no landmark, so confident guesses on them cost,
and retrieval mAP@100 of the test queries over the index split (its 762k descriptors are computed
at each evaluation; `--config.evals.test.index=` turns that off); `validation`, recognition on
the train_clean validation split. `configs/gldv2_landmarks.py:runlocal` runs the same
on the toy world in seconds (used by the tests).
"""

import ml_collections

from configs import common, mp16_resnet50, quickstart


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`configs/gldv2_landmarks.py`, or `:runlocal` on the toy world (seconds, for the tests)."""
  arg = common.parse_arg(arg, __file__, runlocal=False)
  config = mp16_resnet50.get_config()
  config.data.train = "gldv2/train_clean"
  config.partitions = None
  config.model.landmark_head = True
  config.model.landmark_dropout = 0.1
  config.loss.update(geo=0.0, tag=0.0, landmark=1.0)
  config.optim.schedule = "cosine"
  config.optim.warmup_steps = 1000
  config.train_epochs = 10
  config.evals = ml_collections.ConfigDict({
      "test": common.make_eval("landmarks", "gldv2/test", index="gldv2/index:index"),
      "validation": common.make_eval("landmarks", "gldv2/train_clean:validation")})
  if arg.runlocal:
    toy = quickstart.get_config("runlocal")
    config.toy_world = toy.toy_world
    config.model.backbone = "tiny"
    config.model.landmark_dropout = 0.0
    config.image_size, config.batch_size, config.eval_batch_size = 32, 32, 32
    config.train_epochs = None
    config.train_steps = 40
    config.optim.learning_rate = 0.05
    config.optim.warmup_steps = 5
    config.log_every_steps = 10
    config.checkpoint_every_steps = 40
    config.eval_every_steps = None
    config.data_workers = 0
  return config
