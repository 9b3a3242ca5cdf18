r"""LocSens stage 2 (Gomez et al. 2020) on YFCC100M, over a trained geolocation run.

  python -m jaxgeo.main --config configs/locsens.py --workdir runs/locsens \
      --config.locsens.stage1_workdir=runs/deeplocation

Needs a stage-1 workdir with a tag head (model.tag_head, a 100k-tag vocabulary: e.g.
configs/deeplocation.py with `--config.model.vocabulary_size=100000`) and its built
`yfcc100m_geo/yfcc100m` data set. Extracts the 300-d image embeddings of the train and
validation splits once (resumable shards under <workdir>/locsens/embeddings), then trains the
paper's scorer: FC 300 per modality, FC 2048-2048-2048-1024-512 with GroupNorm(32), margin
ranking loss 0.1, 6 negatives per positive, batch 1024, tagging mode (negatives replace the image
or the tag). For a retrieval model add `--config.locsens.mode=retrieval
--config.locsens.location_balancing=dropout` (progressive fusion; or `sampling`). Results
(tagging A@1/A@10 next to the location-agnostic tag head and the tag frequency baseline;
retrieval P@10 within 2500/750/200/25/1 km) go to <workdir>/locsens/results.json and
<workdir>/summary.json. The paper reports tagging A@1/A@10 of 28.10/68.21 for LocSens against
20.32/47.64 for the location-agnostic model; expect the same ordering (not yet run here on the
real data: no GPU and no YFCC100M on the development machine). Extraction is bound by JPEG
decoding (about 1.5k photos/s per 2 CPU cores).

`configs/locsens.py:toy` is the quickstart's stage 2 on its own, over a finished quickstart run:
  python -m jaxgeo.main --config configs/locsens.py:toy --workdir runs/locsens_toy \
      --config.locsens.stage1_workdir=runs/quickstart
"""

import ml_collections

# The paper's scorer MLP (also jaxgeo.locsens.scorer.PAPER_HIDDEN_SIZES; configs import no JAX).
PAPER_HIDDEN_SIZES = (2048, 2048, 2048, 1024, 512)


def locsens_section(**overrides) -> ml_collections.ConfigDict:
  """The `locsens` section at the paper's sizes; quickstart shrinks it."""
  c = ml_collections.ConfigDict()
  c.enabled = True
  c.stage1_workdir = ""  # a trained geolocation workdir; "" = the workdir of this run
  c.seed = 0
  c.train = "yfcc100m_geo/yfcc100m:train"  # embeddings to train on
  c.test = "yfcc100m_geo/yfcc100m:validation"  # embeddings to evaluate on
  c.extract_batch_size = 256
  c.shard_size = 65536  # photos per embedding shard: the unit of resumed extraction
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
  c.train_steps = None  # or a number of steps instead of epochs
  c.optim = ml_collections.ConfigDict()
  c.optim.optimizer = "adamw"
  c.optim.learning_rate = 1e-3
  c.optim.weight_decay = 1e-4
  c.optim.schedule = "cosine"
  c.optim.warmup_steps = 500
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})
  c.log_every_steps = 100
  c.checkpoint_every_steps = 2000
  # Evaluation.
  c.two_stage_candidates = 500  # tag head's top-N re-ranked in two-stage tagging
  c.eval_max_photos = 20000  # full-vocabulary tagging is 100k MLP passes a photo
  c.max_queries = 5000
  c.update(overrides)
  return c


def toy_section() -> ml_collections.ConfigDict:
  """The quickstart's stage 2: a small scorer that trains in about a minute on 2 CPU cores."""
  c = locsens_section(
      shard_size=8192, hidden_sizes=(256, 256, 128), batch_size=256, train_epochs=None,
      train_steps=1200, two_stage_candidates=50, eval_max_photos=0, max_queries=2000,
      log_every_steps=100, checkpoint_every_steps=300)
  c.optim.learning_rate = 1e-2
  c.optim.warmup_steps = 50
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`configs/locsens.py` (paper sizes) or `configs/locsens.py:toy` (the quickstart's section)."""
  if arg not in (None, "toy"):
    raise ValueError(f"Unknown config argument {arg!r}; use configs/locsens.py or "
                     "configs/locsens.py:toy.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.locsens = toy_section() if arg == "toy" else locsens_section()
  return config
