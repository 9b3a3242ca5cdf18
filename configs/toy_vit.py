r"""The toy world with a tiny Vision Transformer instead of the tiny ResNet.

  python -m jaxgeo.main --config configs/toy_vit.py --workdir runs/toy_vit
  python -m jaxgeo.main --config configs/toy_vit.py:frozen --workdir runs/toy_vit_frozen

Everything else is the quickstart's (configs/quickstart.py: the toy world, its data sets,
partitions, heads, evaluations and LocSens stage 2). `vit_tiny` is 4 pre-norm blocks of width 96
on 8-px patches (64 tokens at 64 px, 0.54M parameters in the tower), pooled by the mean of its
tokens; a ViT from scratch wants AdamW with warm-up and clipping rather than the ResNet's SGD.

`:frozen` trains the heads only, on the backbone's embeddings extracted once
(`model.freeze_backbone`; the recipe for a pretrained CLIP or SigLIP tower, which the toy world
has none of: here the tower keeps its random initial weights). The landmark head, which reads
the backbone's feature map, and its GLDv2 evaluation are left out.
`:runlocal` (also `:runlocal,frozen`) shrinks it as the quickstart's runlocal does (the tests).
"""

import ml_collections

from configs import common, quickstart


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`configs/toy_vit.py[:runlocal][,frozen]`."""
  arg = common.parse_arg(arg, __file__, runlocal=False, frozen=False)
  config = quickstart.get_config("runlocal" if arg.runlocal else None)
  config.model.backbone = "vit_tiny"
  config.optim.update(optimizer="adamw", learning_rate=1e-3, weight_decay=0.05,
                      schedule="cosine", grad_clip_norm=1.0)
  if not arg.runlocal:
    config.train_epochs = 12  # the length its figures in docs/training.md were measured at
  if arg.frozen:
    config.model.freeze_backbone = True
    config.model.landmark_head = False
    config.data.landmarks = ""
    del config.evals["gldv2_test"]
  return config
