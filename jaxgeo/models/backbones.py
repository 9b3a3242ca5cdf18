"""The image backbones a config chooses from, each with its input scaling and weight importer.

`config.model.backbone` names one of `BACKBONES`: the ResNets (jaxgeo.models.resnet) or the
Vision Transformers (jaxgeo.models.vit: plain, CLIP and SigLIP). Every backbone has
`encode(images) -> (feature map, pooled embedding)`, `num_features` (the pooled width) and
`map_features` (the map's channels), so the geolocation heads sit on any of them.
"""

from __future__ import annotations

import os

from flax import nnx

from jaxgeo.models import resnet, resnet_pretrained, vit, vit_pretrained, weights

BACKBONES = {**resnet.RESNETS, **vit.VITS}

Backbone = resnet.ResNet | vit.ViT


def make_backbone(name: str, *, image_size: int, dtype, rngs: nnx.Rngs) -> Backbone:
  """The backbone `name`; a ViT's position table is made for `image_size`."""
  if name not in BACKBONES:
    raise ValueError(f"Unknown backbone {name!r}; choose one of {sorted(BACKBONES)}.")
  if name in vit.VITS:
    return vit.VITS[name](image_size=image_size, dtype=dtype, rngs=rngs)
  return resnet.RESNETS[name](dtype=dtype, rngs=rngs)


def preprocessing_for(backbone: Backbone) -> weights.Preprocessing:
  """The input scaling of the weights this backbone's family loads."""
  if isinstance(backbone, vit.ViT):
    return vit_pretrained.PREPROCESSING[backbone.family]
  return resnet_pretrained.preprocessing_for(backbone)


def load_weights(backbone: Backbone, path: str | os.PathLike) -> weights.LoadReport:
  """Loads a weights file with the importer of the backbone's family, strictly."""
  if isinstance(backbone, vit.ViT):
    return vit_pretrained.load_vit(backbone, path)
  return resnet_pretrained.load_pretrained(backbone, path)
