r"""The base config: every key a run reads, each with its one default.

The configs of `configs/` are variants of `base()` (through configs/common.py): they start from
it and override. The code reads `config.x` and never supplies a default of its own, so a key's
default is written once, here. It lives in jaxgeo rather than in `configs/` because jaxgeo reads
back the `config.json` of existing workdirs (jaxgeo.run.restore, the LocSens scorer), written by
older versions that may lack keys added since: `fill_defaults` completes them from `base()`, and
`configs/` is not installed with the package.

Where the code had a default for a key (before this module), the base keeps that value, so a
config that never set the key trains as before; the keys the code always read from the config
take GeoEstimation's data, partitions, model and sizes (configs/mp16_resnet50.py), with a
constant learning rate. A default of None is a typed `placeholder`, so that it can still be set
from the command line (`--config.train_steps=100`).

Evals name what the trainer and `python -m jaxgeo.evaluate` score, each explicitly:
`config.evals.<name> = make_eval(type, data, **options)`, a dict with `type` (a key of
EVAL_OPTIONS; jaxgeo.evaluate.EVALUATORS has the function of each), `data` (a built data set,
`name[:split]`, which also keys its results) and the options of its type.

Imports no JAX: the config files import this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import ml_collections
from absl import logging
from ml_collections.config_dict import placeholder

# Photos per shard of extracted embeddings (jaxgeo.run.embeddings): the unit of resumed
# extraction, for a frozen backbone's training, the retrieval gallery and LocSens alike.
EMBEDDING_SHARD_SIZE = 65536

# Each eval type's options and their defaults: what `make_eval` accepts.
EVAL_OPTIONS: dict[str, dict[str, Any]] = {
    # Km accuracy of the partitions' heads and their hierarchy, per-image CSV. `five_crop`: vote
    # over five crops (GeoEstimation's evaluation) instead of the centre crop.
    "geolocation": {"five_crop": False},
    # Landmark recognition GAP and top-1 (a GLDv2 split). `index`: a built index split
    # (`name:split`) over which the split's retrieval queries score mAP@100; "" = none.
    "landmarks": {"index": ""},
}

# The paper's LocSens scorer MLP (Gomez et al. 2020); also jaxgeo.locsens.scorer's default.
PAPER_HIDDEN_SIZES = (2048, 2048, 2048, 1024, 512)


def make_eval(eval_type: str, data: str, **options) -> ml_collections.ConfigDict:
  """One entry of `config.evals`: its type's options at their defaults, but for `options`.

  Raises ValueError for an unknown type or an option the type does not have, so a misspelt
  option is an error rather than a setting nobody reads.
  """
  if eval_type not in EVAL_OPTIONS:
    raise ValueError(f"Unknown eval type {eval_type!r} (for {data}); known: "
                     f"{', '.join(EVAL_OPTIONS)}.")
  unknown = sorted(set(options) - set(EVAL_OPTIONS[eval_type]))
  if unknown:
    raise ValueError(f"A {eval_type} eval has no option(s) {unknown} (for {data}); its options: "
                     f"{', '.join(EVAL_OPTIONS[eval_type]) or 'none'}.")
  return ml_collections.ConfigDict(
      {"type": eval_type, "data": data, **EVAL_OPTIONS[eval_type], **options})


def eval_type_of(data: str) -> str:
  """The eval type of a data set no config names: the one rule, by its builder.

  GLDv2 splits (builder `gldv2`) are scored by the landmark head, every other data set by
  geolocation. Used for `python -m jaxgeo.evaluate --dataset` and for the evals of workdirs
  written before evals carried their type.
  """
  return "landmarks" if data.split("/", 1)[0] == "gldv2" else "geolocation"


def _optim(**values) -> ml_collections.ConfigDict:
  """An optimizer section (jaxgeo.run.optim): SGD unless `values` say otherwise."""
  c = ml_collections.ConfigDict()
  c.optimizer = "sgd"  # or "adamw"
  c.learning_rate = 0.01
  c.momentum = 0.9  # SGD
  c.nesterov = False  # SGD
  c.weight_decay = 0.0  # L2 added to the gradients (SGD); decoupled (AdamW)
  c.grad_clip_norm = placeholder(float)  # None: no clipping
  c.schedule = "constant"  # or "step" (decays at boundaries), "cosine"
  # Linear warm-up first, in steps or epochs (at most one of them); None: none.
  c.warmup_steps = placeholder(int)
  c.warmup_epochs = placeholder(float)
  # "step": the rate times decay_factor at each boundary, in steps or else epochs.
  c.decay_steps = placeholder(tuple)
  c.decay_epochs = ()
  c.decay_factor = 0.5
  c.min_learning_rate = 0.0  # "cosine": where it ends
  c.update(values)
  return c


def _locsens() -> ml_collections.ConfigDict:
  """The `locsens` section (stage 2) at the paper's sizes, off."""
  c = ml_collections.ConfigDict()
  c.enabled = False
  c.stage1_workdir = ""  # a trained geolocation workdir; "" = the workdir of this run
  c.seed = 0
  c.train = "yfcc100m_geo/yfcc100m:train"  # embeddings to train on
  c.test = "yfcc100m_geo/yfcc100m:validation"  # embeddings to evaluate on
  c.extract_batch_size = 256
  c.shard_size = EMBEDDING_SHARD_SIZE  # photos per embedding shard
  # The scorer.
  c.projection_size = 300
  c.hidden_sizes = PAPER_HIDDEN_SIZES
  c.num_groups = 32
  # Triplets and loss.
  c.mode = "tagging"  # negatives replace the image or the tag; "retrieval": the image only
  c.num_negatives = 6
  # Replacement tags: "uniform" over the vocabulary, "frequency" (drawn like the positives'
  # tags) or "mixed" (half each).
  c.negative_tags = "uniform"
  c.margin = 0.1
  c.batch_size = 1024
  # Location balancing: "dropout" (progressive fusion), "sampling" or "none". The paper made
  # them for retrieval, where the location must not drown the tag; tagging trains without.
  c.location_balancing = "none"
  c.no_location_fraction = 0.3  # dropout: share of steps before the location is fused
  c.location_dropout = 0.5
  c.sampling_km = 5000.0  # sampling: spread at the start, annealed to 0
  c.sampling_anneal_fraction = 0.8
  c.train_epochs = 10
  c.train_steps = placeholder(int)  # or a number of steps instead of epochs
  c.optim = _optim(optimizer="adamw", learning_rate=1e-3, weight_decay=1e-4, schedule="cosine",
                   warmup_steps=500)
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "fsdp_min_size": 2**18})
  c.log_every_steps = 100
  c.checkpoint_every_steps = 2000
  c.keep = 2  # checkpoints kept
  # Evaluation: tagging (A@1/A@10) and retrieval (P@10 within each distance) on `test`.
  c.two_stage_candidates = 500  # tag head's top-N re-ranked in two-stage tagging
  c.eval_max_photos = 20000  # full-vocabulary tagging is 100k MLP passes a photo; 0 = all
  c.max_queries = 5000
  return c


def base() -> ml_collections.ConfigDict:
  """Every key of a run config with its default (see the module docstring)."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Stage 1: prepare the data, train and evaluate the geolocation model. False: stage 2 only
  # (`locsens`, over locsens.stage1_workdir).
  config.stage1 = True

  # The toy world: generated into `dir` (default <workdir>/toy_world) unless it is already there
  # with the same settings. The other fields are those of jaxgeo.toy_world's ToyWorldConfig,
  # at its defaults.
  config.toy_world = ml_collections.ConfigDict()
  config.toy_world.enabled = False
  config.toy_world.dir = ""
  config.toy_world.num_train_photos = 20_000
  config.toy_world.num_test_photos = 600
  config.toy_world.num_yfcc4k_photos = 300
  config.toy_world.image_size = 96
  config.toy_world.num_landmarks = 30

  # Built TFDS data sets (`name[:split]`).
  config.data = ml_collections.ConfigDict()
  config.data.dir = ""  # where `tfds build` wrote them; "" = <workdir>/tfds
  config.data.train = "yfcc100m_geo/mp16"
  # With model.landmark_head, GLDv2 photos mixed into the stream at this share (e.g.
  # `--config.model.landmark_head=True --config.data.landmarks=gldv2/train_clean`); "" = none,
  # the landmark head then learns the classes of data.train.
  config.data.landmarks = ""
  config.data.landmark_share = 0.25

  # S2 partitionings: one geo head each. None: no partitions (a landmarks-only run).
  config.partitions = ml_collections.ConfigDict()
  config.partitions.input_csv = ""  # an MP-16-style meta CSV; "" = data.train's train split
  # Which of input_csv's columns holds latitudes: "auto" decides from the values (headers of
  # circulating files are wrong), "as_named" or "swapped" force it (jaxgeo.geo.coordinate_csv).
  config.partitions.coordinate_columns = "auto"
  config.partitions.tau_min = 50
  config.partitions.tau_max = (5000, 2000, 1000)
  config.partitions.min_level = 2

  config.model = ml_collections.ConfigDict()
  config.model.backbone = "resnet50"
  config.model.dtype = "float32"  # or "bfloat16" (computation; parameters stay float32)
  # Weights of the backbone: ResNets' ImageNet files (torchvision/timm or Keras), ViTs' CLIP or
  # SigLIP image towers (jaxgeo.models.vit_pretrained).
  config.model.pretrained = ""
  # Train the heads only, on the backbone's embeddings extracted once (GeoCLIP's and PIGEON's
  # recipe with a CLIP tower): fast, and the backbone keeps its pretrained weights.
  config.model.freeze_backbone = False
  config.model.tag_head = False
  config.model.vocabulary_size = 0  # tags of the tag head (the most frequent of data.train)
  config.model.tag_embedding_size = 300
  config.model.landmark_head = False
  config.model.landmark_dropout = 0.1

  # Devices as (data, fsdp); `data: -1` takes what `fsdp` leaves. Arrays of at least
  # fsdp_min_size elements are split over `fsdp`.
  config.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "fsdp_min_size": 2**18})
  config.image_size = 224
  config.batch_size = 128
  config.eval_batch_size = 256
  # Training length: epochs or steps (one of them; the other None).
  config.train_epochs = 15
  config.train_steps = placeholder(int)
  config.data_workers = 0  # grain worker processes; 0 = in the main process

  config.optim = _optim()
  config.loss = ml_collections.ConfigDict({"geo": 1.0, "tag": 1.0, "landmark": 1.0})
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  config.keep = 2  # checkpoints kept
  # What to evaluate (`name: make_eval(...)`), during training every eval_every_steps (None:
  # at the end only) and at the end; in the order of their data.
  config.evals = ml_collections.ConfigDict()
  config.eval_every_steps = placeholder(int)

  # Retrieval over a geotagged gallery (jaxgeo.retrieval): with a gallery, the final evaluation,
  # `python -m jaxgeo.evaluate` and the Predictor answer by retrieval and hybrid too.
  config.retrieval = ml_collections.ConfigDict()
  config.retrieval.gallery = ""  # a built split, `name[:split]` (default split train); "" = none
  config.retrieval.dtype = "bfloat16"  # of the gallery on the devices, or "float32"
  # How neighbours vote (jaxgeo.retrieval.geolocate; chosen on the toy world's validation split,
  # docs/retrieval.md).
  config.retrieval.num_neighbours = 30  # retrieval: the nearest photos that vote
  config.retrieval.hybrid_neighbours = 100  # hybrid: nearest photos looked for in the top cells
  config.retrieval.hybrid_cells = 5  # hybrid: the hierarchy's best cells that keep neighbours
  config.retrieval.cell_power = 0.5  # hybrid: weight x (p(cell) / p(top cell)) ** cell_power
  config.retrieval.radius_km = 25.0  # the group: neighbours this close vote for each other
  config.retrieval.refine_radius_km = 1.0  # the spot inside the group
  config.retrieval.temperature = 0.05  # of the similarity weights (geolocate.similarity_weights)
  # Leakage report: a test photo whose nearest gallery photo is at least this similar (cosine)
  # counts as a near-duplicate. None: calibrated on the gallery (jaxgeo.retrieval.near_copies).
  config.retrieval.near_duplicate_cosine = placeholder(float)
  config.retrieval.shard_size = EMBEDDING_SHARD_SIZE  # photos per embedding shard
  config.retrieval.chunk = 16384  # gallery rows a device scores at once

  # Stage 2, LocSens (configs/locsens.py), over the tag head of stage 1.
  config.locsens = _locsens()
  return config


def parse_arg(arg: str | None, config_file: str, **spec) -> ml_collections.ConfigDict:
  """A config's one string argument (`--config path:arg`) as the ConfigDict of its arguments.

  big_vision's shape: `spec` names each argument the config accepts with its default, and `arg`
  is comma-separated `name=value` items (the value parsed as the default's type) or, for a bool,
  the bare `name` (True): `parse_arg("runlocal,steps=10", __file__, runlocal=False, steps=0)`.

  Raises:
    ValueError: naming the config file and its arguments, for an argument it does not accept or
      a value that does not parse.
  """
  args = ml_collections.ConfigDict(spec)
  allowed = ", ".join(f"{k} (default {v!r})" for k, v in spec.items()) or "none"
  where = os.path.relpath(config_file) if os.path.isabs(config_file) else config_file
  for item in filter(None, (s.strip() for s in (arg or "").split(","))):
    name, has_value, value = (s.strip() for s in item.partition("="))
    if name not in spec:
      raise ValueError(f"{where} has no config argument {name!r} (in {arg!r}); its arguments: "
                       f"{allowed}.")
    default = spec[name]
    try:
      if isinstance(default, bool):
        if has_value and value.lower() not in ("true", "false", "1", "0"):
          raise ValueError(value)
        args[name] = not has_value or value.lower() in ("true", "1")
      elif has_value:
        args[name] = type(default)(value)
      else:
        raise ValueError("no value")
    except ValueError:
      raise ValueError(f"{where}: config argument {item!r} is not `{name}=<"
                       f"{type(default).__name__}>`; its arguments: {allowed}.") from None
  return args


def _upgrade_evals(loaded: dict[str, Any], source: str) -> None:
  """Evals written as a list of data specs, before they carried their type: typed by
  `eval_type_of`, with the then run-wide `five_crop` and `landmark_index` as their options."""
  five_crop = loaded.pop("five_crop", EVAL_OPTIONS["geolocation"]["five_crop"])
  index = loaded.pop("landmark_index", EVAL_OPTIONS["landmarks"]["index"])
  options = {"geolocation": {"five_crop": five_crop}, "landmarks": {"index": index}}
  evals = {}
  for data in loaded["evals"]:
    eval_type = eval_type_of(data)
    name = data.replace("/", "_").replace(":", "_").replace(".", "_")  # a config key
    evals[name] = make_eval(eval_type, data, **options[eval_type]).to_dict()
  loaded["evals"] = evals
  logging.info("%s lists its evals as data sets: typed by their builder (config_base."
               "eval_type_of), with its five_crop and landmark_index as their options.", source)


def _merge(defaults: Mapping[str, Any], loaded: Mapping[str, Any], prefix: str,
           filled: list[str]) -> dict[str, Any]:
  out = dict(loaded)
  for key, default in defaults.items():
    path = f"{prefix}{key}"
    if key not in loaded:
      out[key] = default
      filled.append(path)
    elif isinstance(default, Mapping) and isinstance(loaded[key], Mapping):
      out[key] = _merge(default, loaded[key], f"{path}.", filled)
  return out


def fill_defaults(loaded: Mapping[str, Any], defaults: ml_collections.ConfigDict,
                  source: str) -> ml_collections.ConfigDict:
  """A config read back from `source` (a config.json), with what it lacks from `defaults`.

  `defaults` is `base()` for a run's config, `base().locsens` for a LocSens scorer's. Keys the
  file has are kept as written (also those the defaults lack); evals written as a plain list of
  data sets are given their types. Logs what was filled or converted.
  """
  loaded, filled = dict(loaded), []
  has_evals = "evals" in defaults
  if has_evals and "evals" in loaded and isinstance(loaded["evals"], (list, tuple)):
    _upgrade_evals(loaded, source)
  merged = _merge(defaults.to_dict(), loaded, "", filled)
  for name, ev in (merged["evals"].items() if has_evals else ()):  # options, by eval type
    if "type" in ev and ev["type"] in EVAL_OPTIONS:  # else jaxgeo.evaluate.check_evals says
      merged["evals"][name] = _merge(EVAL_OPTIONS[ev["type"]], ev, f"evals.{name}.", filled)
  if filled:
    logging.info("%s lacks %s: filled with the defaults of jaxgeo.run.config_base.", source,
                 ", ".join(filled))
  return ml_collections.ConfigDict(merged)
