"""Every config loads as a variant of the base, and its model builds with the sizes of the real
data (shapes only); the base's defaults, config arguments, evals and old config.json files."""

import json
import logging

import jax
import ml_collections
import pytest
from flax import nnx

from configs import common, deeplocation, gldv2_landmarks, locsens, mp16_clip_vitl14
from configs import mp16_resnet50, quickstart, toy_vit
from jaxgeo import evaluate, prepare
from jaxgeo.evaluators import geolocation, landmarks
from jaxgeo.models import geolocator
from jaxgeo.run import config_base, optim, restore

MP16_CELLS = {"cells_50_5000": 3298, "cells_50_2000": 7202, "cells_50_1000": 12893}


def _num_params(config, num_classes, vocabulary_size=0, kinds=nnx.Param, num_landmarks=0,
                image_size=224):
  model = nnx.eval_shape(lambda: geolocator.make_model(config.model, num_classes,
                                                       vocabulary_size, num_landmarks, 0,
                                                       image_size))
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, kinds)))


def test_mp16_resnet50_is_geoestimation():
  config = mp16_resnet50.get_config()
  assert config.partitions.tau_max == (5000, 2000, 1000) and config.partitions.tau_min == 50
  # ResNet-50 without its classifier (23,508,032) + 3 heads on 2048 features.
  heads = sum(2048 * n + n for n in MP16_CELLS.values())
  assert _num_params(config, MP16_CELLS) == 23_508_032 + heads
  schedule = optim.make_learning_rate_schedule(config.optim, steps_per_epoch=100,
                                               total_steps=1500)
  assert [float(schedule(s)) for s in (399, 400, 800, 1200, 1300, 1400)] == pytest.approx(
      [0.01, 0.005, 0.0025, 0.00125, 0.000625, 0.0003125])


def test_deeplocation_overrides_the_base():
  config = deeplocation.get_config()
  assert config.model.backbone == "resnet101_v2" and config.partitions.tau_min == 5
  assert config.partitions.tau_max == (500, 200, 100)
  assert config.optim.learning_rate == mp16_resnet50.get_config().optim.learning_rate
  # Keras' ResNet101V2 without top counts 42,626,560 with its BatchNorm statistics; + the head.
  assert _num_params(config, {"c": 10}, kinds=(nnx.Param, nnx.BatchStat)) == (
      42_626_560 + 2048 * 10 + 10)


@pytest.mark.parametrize("arg", [None, "runlocal"])
def test_quickstart(arg):
  config = quickstart.get_config(arg)
  assert isinstance(config, ml_collections.ConfigDict)
  assert _num_params(config, {"a": 5}, vocabulary_size=7) > 0


def test_gldv2_landmarks_has_only_the_landmark_head():
  config = gldv2_landmarks.get_config()
  assert config.partitions is None and config.data.train == "gldv2/train_clean"
  # ResNet-50 + GeM's exponent + a softmax over GLDv2-clean's 81,313 landmarks.
  assert _num_params(config, {}, num_landmarks=81_313) == 23_508_032 + 1 + 2048 * 81_313 + 81_313
  assert gldv2_landmarks.get_config("runlocal").model.backbone == "tiny"


CONFIGS = [(common, None), (quickstart, None), (quickstart, "runlocal"), (mp16_resnet50, None),
           (deeplocation, None), (gldv2_landmarks, None), (gldv2_landmarks, "runlocal"),
           (locsens, None), (locsens, "runlocal"), (mp16_clip_vitl14, None), (toy_vit, None),
           (toy_vit, "runlocal,frozen")]


def _paths(tree, prefix=""):
  """Every key path of a nested dict (a None section: its path alone)."""
  out = set()
  for key, value in tree.items():
    out.add(prefix + key)
    if isinstance(value, dict):
      out |= _paths(value, f"{prefix}{key}.")
  return out


@pytest.mark.parametrize("module, arg", CONFIGS)
def test_every_config_has_exactly_the_base_keys(module, arg):
  config = module.get_config(arg).to_dict()
  base = config_base.base().to_dict()
  evals = config.pop("evals")
  assert base.pop("evals") == {}
  if config["partitions"] is None:  # an optional section: None or all of the base's keys
    config.pop("partitions"), base.pop("partitions")
  assert _paths(config) == _paths(base)
  for name, ev in evals.items():  # each eval: exactly its type's keys
    assert set(ev) == {"type", "data", *config_base.EVAL_OPTIONS[ev["type"]]}, name
  evaluate.check_evals(module.get_config(arg).evals, module.get_config(arg))


def test_base_defaults_are_the_ones_the_code_had():
  config = config_base.base()
  assert config.model.landmark_head is False and config.model.tag_head is False
  assert (config.model.dtype, config.model.tag_embedding_size, config.model.landmark_dropout) == (
      "float32", 300, 0.1)
  assert (config.data_workers, config.keep, config.mesh.fsdp_min_size) == (0, 2, 2**18)
  assert config.eval_every_steps is None and config.train_steps is None and not config.evals
  assert dict(config.loss) == {"geo": 1.0, "tag": 1.0, "landmark": 1.0}
  assert (config.optim.momentum, config.optim.nesterov, config.optim.weight_decay,
          config.optim.decay_factor, config.optim.min_learning_rate) == (0.9, False, 0.0, 0.5, 0.0)
  assert config.optim.grad_clip_norm is None and config.optim.warmup_steps is None
  assert config.locsens.enabled is False and config.stage1 is True
  assert config_base.EVAL_OPTIONS == {"geolocation": {"five_crop": False},
                                      "landmarks": {"index": ""}}
  # The toy world's sizes in the base are the generator's own defaults.
  world = prepare.toy_world_config(config)
  assert world == type(world)()


def test_none_defaults_are_typed_placeholders():
  config = config_base.base()  # so `--config.train_steps=7` parses, as an int
  config.train_steps = 7
  with pytest.raises(TypeError):
    config.train_steps = "seven"


def test_parse_arg():
  args = config_base.parse_arg("runlocal,x=1", "configs/x.py", runlocal=False, x=0, name="a")
  assert args.runlocal is True and args.x == 1 and args.name == "a"
  assert config_base.parse_arg(None, "configs/x.py", runlocal=False).runlocal is False
  assert config_base.parse_arg("runlocal=false", "configs/x.py", runlocal=True).runlocal is False
  with pytest.raises(ValueError, match=r"configs/x.py has no config argument 'fast'.*"
                                       r"its arguments: runlocal \(default False\)"):
    config_base.parse_arg("runlocal,fast", "configs/x.py", runlocal=False)
  with pytest.raises(ValueError, match=r"'x=one' is not `x=<int>`"):
    config_base.parse_arg("x=one", "configs/x.py", x=0)


@pytest.mark.parametrize("module", [quickstart, gldv2_landmarks, locsens, mp16_resnet50,
                                    deeplocation, common])
def test_unknown_config_argument_names_the_file_and_the_arguments(module):
  with pytest.raises(ValueError, match=rf"configs/{module.__name__.split('.')[-1]}\.py has no "
                                       r"config argument 'toy'"):
    module.get_config("toy")


def test_runlocal_everywhere_it_is_offered():
  for module in (quickstart, gldv2_landmarks, locsens):
    assert module.get_config("runlocal") != module.get_config(None)
  assert locsens.get_config("runlocal").locsens.train_steps == 1200
  assert locsens.get_config().stage1 is False and quickstart.get_config().stage1 is True


def test_make_eval():
  ev = config_base.make_eval("geolocation", "geo_testsets/im2gps", five_crop=True)
  assert ev.to_dict() == {"type": "geolocation", "data": "geo_testsets/im2gps", "five_crop": True}
  assert config_base.make_eval("landmarks", "gldv2/test").index == ""
  with pytest.raises(ValueError, match=r"no option\(s\) \['five_crop'\]"):
    config_base.make_eval("landmarks", "gldv2/test", five_crop=True)
  with pytest.raises(ValueError, match="Unknown eval type 'tagging'"):
    config_base.make_eval("tagging", "yfcc100m_geo/yfcc100m:validation")


def test_evaluators_route_each_type(monkeypatch):
  assert set(evaluate.EVALUATORS) == set(config_base.EVAL_OPTIONS)
  assert evaluate.EVALUATORS["geolocation"] is geolocation.geolocation_eval
  assert evaluate.EVALUATORS["landmarks"] is landmarks.landmarks_eval
  calls = []
  for eval_type in evaluate.EVALUATORS:
    monkeypatch.setitem(evaluate.EVALUATORS, eval_type,
                        lambda context, ev, source, t=eval_type: calls.append((t, ev.data,
                                                                               source)) or {t: {}})
  monkeypatch.setattr(evaluate.pipeline, "open_split", lambda name, split, data_dir: (name, split))
  config = quickstart.get_config("runlocal")
  results = evaluate.evaluate_datasets({}, None, None, config, "d", config.evals, None)
  # In the order of the data, each by its type's evaluator, keyed by the data spec.
  assert calls == [("geolocation", "geo_testsets/im2gps3k", ("geo_testsets/im2gps3k", "test")),
                   ("geolocation", "geo_testsets/yfcc4k", ("geo_testsets/yfcc4k", "test")),
                   ("landmarks", "gldv2/test", ("gldv2/test", "test"))]
  assert list(results) == ["geo_testsets/im2gps3k", "geo_testsets/yfcc4k", "gldv2/test"]


def test_bad_evals_are_config_errors():
  config = quickstart.get_config()
  config.evals.again = config_base.make_eval("geolocation", "geo_testsets/im2gps3k:test")
  with pytest.raises(ValueError, match="evals.again and evals.im2gps3k both evaluate "
                                       "geo_testsets/im2gps3k:test"):
    evaluate.check_evals(config.evals, config)
  config = gldv2_landmarks.get_config()
  config.evals.test.type = "geolocation"
  with pytest.raises(ValueError, match=r"evals.test has the keys \['data', 'index', 'type'\]"):
    evaluate.check_evals(config.evals, config)
  config = gldv2_landmarks.get_config()
  config.evals.im2gps = config_base.make_eval("geolocation", "geo_testsets/im2gps")
  with pytest.raises(ValueError, match="needs partitions"):
    evaluate.check_evals(config.evals, config)
  config = mp16_resnet50.get_config()
  config.evals.gldv2 = config_base.make_eval("landmarks", "gldv2/test")
  with pytest.raises(ValueError, match="enable model.landmark_head"):
    evaluate.check_evals(config.evals, config)


def test_a_dataset_flag_takes_its_type_from_the_config_or_the_builder():
  config = mp16_resnet50.get_config()
  config.model.landmark_head = True
  evals = evaluate.chosen_evals(config, None, ["geo_testsets/im2gps:test", "gldv2/test",
                                               "yfcc100m_geo/yfcc100m:validation"])
  by_data = {ev.data: ev.to_dict() for ev in evals.values()}
  assert by_data == {  # the config's eval (as spelt), a GLDv2 split, another: five crops as all
      "geo_testsets/im2gps:test": {"type": "geolocation", "data": "geo_testsets/im2gps:test",
                                   "five_crop": True},
      "gldv2/test": {"type": "landmarks", "data": "gldv2/test", "index": ""},
      "yfcc100m_geo/yfcc100m:validation": {"type": "geolocation", "five_crop": True,
                                           "data": "yfcc100m_geo/yfcc100m:validation"}}
  assert evaluate.chosen_evals(config, None, None) is config.evals
  assert list(evaluate.chosen_evals(config, ["yfcc4k"], None).values()) == [config.evals.yfcc4k]
  assert evaluate.chosen_evals(quickstart.get_config(), None, ["gldv2/index:index"]).dataset0 == (
      config_base.make_eval("landmarks", "gldv2/index:index", index="gldv2/index:index"))


def _old_quickstart_config() -> dict:
  """A config.json as the versions before config_base wrote it: no `stage1`, `keep`,
  `data_workers`, `model.tag_embedding_size`, ...; evals a list; five_crop/landmark_index."""
  config = quickstart.get_config("runlocal").to_dict()
  for key in ("stage1", "keep", "data_workers", "evals"):
    del config[key]
  del config["model"]["tag_embedding_size"], config["mesh"]["fsdp_min_size"]
  del config["optim"]["nesterov"], config["locsens"]["keep"]
  config.update(evals=["geo_testsets/im2gps3k", "geo_testsets/yfcc4k", "gldv2/test"],
                five_crop=False, landmark_index="gldv2/index:index")
  return json.loads(json.dumps(config))  # as read back: tuples are lists


def test_an_old_config_json_loads_with_the_defaults_filled(tmp_path, caplog):
  (tmp_path / "config.json").write_text(json.dumps(_old_quickstart_config()))
  with caplog.at_level(logging.INFO):
    config = restore.load_config(str(tmp_path))
  assert ("config.json lacks data_workers, keep, locsens.keep, mesh.fsdp_min_size, "
          "model.tag_embedding_size, optim.nesterov, stage1: filled with the defaults") in (
              caplog.text)
  assert "lists its evals as data sets" in caplog.text
  assert config.stage1 is True and config.keep == 2 and config.data_workers == 0
  assert config.model.tag_embedding_size == 300 and config.mesh.fsdp_min_size == 2**18
  assert config.optim.nesterov is False and config.locsens.keep == 2
  assert config.train_steps == 30  # what the file has stays
  assert "five_crop" not in config and "landmark_index" not in config
  new = quickstart.get_config("runlocal")
  assert sorted((ev.to_dict() for ev in config.evals.values()), key=lambda ev: ev["data"]) == (
      sorted((ev.to_dict() for ev in new.evals.values()), key=lambda ev: ev["data"]))
  evaluate.check_evals(config.evals, config)
  # Everything else reads back as the config that wrote it.
  config.evals, new.evals = {}, {}
  assert json.loads(config.to_json()) == json.loads(new.to_json())


def test_an_old_locsens_scorer_config_gets_the_section_defaults():
  old = quickstart.get_config("runlocal").locsens.to_dict()
  del old["keep"], old["mesh"]["fsdp_min_size"], old["optim"]["grad_clip_norm"]
  config = config_base.fill_defaults(json.loads(json.dumps(old)), config_base.base().locsens,
                                     "locsens/config.json")
  assert config.keep == 2 and config.mesh.fsdp_min_size == 2**18
  assert config.optim.grad_clip_norm is None and config.hidden_sizes == [64, 32]


def test_old_evals_of_a_landmarks_only_run():
  old = gldv2_landmarks.get_config().to_dict()
  old.update(evals=["gldv2/test", "gldv2/train_clean:validation"], five_crop=False,
             landmark_index="gldv2/index:index")
  config = config_base.fill_defaults(json.loads(json.dumps(old)), config_base.base(), "x")
  assert config.partitions is None
  assert {ev.data: (ev.type, ev.index) for ev in config.evals.values()} == {
      "gldv2/test": ("landmarks", "gldv2/index:index"),
      "gldv2/train_clean:validation": ("landmarks", "gldv2/index:index")}


def test_mp16_clip_vitl14_is_a_frozen_clip_tower_at_336_px():
  config = mp16_clip_vitl14.get_config()
  assert config.model.freeze_backbone and not config.model.landmark_head
  assert config.image_size == 336 and config.model.dtype == "bfloat16"
  assert config.partitions.tau_max == (5000, 2000, 1000)
  # CLIP ViT-L/14's image tower with its projection (303,966,208 at 224 px), 577 - 257 more
  # position rows at 336 px, and three heads on the 768-d projected embedding.
  heads = sum(768 * n + n for n in MP16_CELLS.values())
  assert _num_params(config, MP16_CELLS, image_size=336) == (
      303_966_208 + (577 - 257) * 1024 + heads)


def test_toy_vit_variants():
  frozen = toy_vit.get_config("runlocal,frozen")
  assert frozen.model.backbone == "vit_tiny" and frozen.model.freeze_backbone
  assert sorted(frozen.evals.keys()) == ["im2gps3k", "yfcc4k"] and not frozen.model.landmark_head
  assert toy_vit.get_config().optim.optimizer == "adamw"
  assert not toy_vit.get_config("runlocal").model.freeze_backbone
