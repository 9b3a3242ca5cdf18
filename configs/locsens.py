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

`configs/locsens.py:runlocal` is the quickstart's stage 2 on its own, over a finished quickstart
run:
  python -m jaxgeo.main --config configs/locsens.py:runlocal --workdir runs/locsens_runlocal \
      --config.locsens.stage1_workdir=runs/quickstart

Stage 2 only (`stage1 = False`): the base's stage-1 keys are there but nothing reads them, and
`config.evals` is empty; the scorer's tagging and retrieval evaluation on `locsens.test` is stage
2's own. The section's keys and their defaults (the paper's sizes) are the base's `locsens`.
"""

import ml_collections

from configs import common


def locsens_section(**overrides) -> ml_collections.ConfigDict:
  """The `locsens` section at the paper's sizes (the base's), on; quickstart shrinks it."""
  c = common.base().locsens
  c.enabled = True
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
  """`configs/locsens.py` (paper sizes) or `configs/locsens.py:runlocal` (the quickstart's)."""
  arg = common.parse_arg(arg, __file__, runlocal=False)
  config = common.base()
  config.stage1 = False
  config.locsens = toy_section() if arg.runlocal else locsens_section()
  return config
