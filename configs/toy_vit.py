r"""The toy world with a tiny Vision Transformer from scratch instead of the tiny ResNet.

  python -m jaxgeo.main --config configs/toy_vit.py --workdir runs/toy_vit

Everything else is the quickstart's (configs/quickstart.py: the toy world, its data sets,
partitions, heads, evaluations and LocSens stage 2). `vit_tiny` is 4 pre-norm blocks of width 96
on 8-px patches (64 tokens at 64 px, 0.54M parameters in the tower), pooled by the mean of its
tokens; a ViT from scratch wants AdamW with warm-up and clipping rather than the ResNet's SGD.
`configs/toy_vit.py:runlocal` shrinks it as the quickstart's runlocal does (used by the tests).
"""

import ml_collections

from configs import common, quickstart


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`configs/toy_vit.py`, or `configs/toy_vit.py:runlocal` (seconds, for the tests)."""
  arg = common.parse_arg(arg, __file__, runlocal=False)
  config = quickstart.get_config("runlocal" if arg.runlocal else None)
  config.model.backbone = "vit_tiny"
  config.optim.update(optimizer="adamw", learning_rate=1e-3, weight_decay=0.05,
                      schedule="cosine", grad_clip_norm=1.0)
  return config
