"""The geolocation model: a ResNet backbone and its heads, built from the `model` config."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxgeo.models import heads, pretrained, resnet


class Geolocator(nnx.Module):
  """Images (uint8 NHWC) in; per-partition logits, tag logits/embedding, landmark logits out.

  Each head is optional: tags when `vocabulary_size > 0`, landmarks when `num_landmarks > 0`.
  """

  def __init__(self, backbone: str, num_classes: Mapping[str, int], *,
               vocabulary_size: int = 0, num_landmarks: int = 0, tag_embedding_size: int = 300,
               landmark_dropout: float = 0.1, dtype=jnp.float32, rngs: nnx.Rngs):
    if backbone not in resnet.RESNETS:
      raise ValueError(f"Unknown backbone {backbone!r}; choose one of {sorted(resnet.RESNETS)}.")
    self.backbone = resnet.RESNETS[backbone](dtype=dtype, rngs=rngs)
    width = self.backbone.num_features
    self.geo = heads.GeoHeads(width, num_classes, dtype=dtype, rngs=rngs)
    self.tag_head = (heads.TagHead(width, vocabulary_size, tag_embedding_size, dtype=dtype,
                                   rngs=rngs) if vocabulary_size else None)
    self.landmark_head = (heads.LandmarkHead(width, num_landmarks, landmark_dropout,
                                             dtype=dtype, rngs=rngs) if num_landmarks else None)
    self.dtype = dtype
    # Input scaling of the weights this backbone family loads (torch: ImageNet mean/std; Keras
    # v2: [-1, 1]), so pretrained weights see what they were trained on.
    self.preprocess = pretrained.preprocessing_for(self.backbone)

  def __call__(self, images: jax.Array,
               dropout_key: jax.Array | None = None) -> dict[str, jax.Array]:
    """Logits in float32 (softmax and losses want the precision), keyed by head.

    `dropout_key` is needed in train mode when the landmark head is on.
    """
    feature_map = self.backbone.features(self.preprocess(images, self.dtype))
    pooled = jnp.mean(feature_map, axis=(1, 2), dtype=jnp.float32).astype(self.dtype)
    out = {f"geo/{k}": v.astype(jnp.float32) for k, v in self.geo(pooled).items()}
    if self.tag_head is not None:
      logits, embedding = self.tag_head(pooled)
      out["tag"], out["tag_embedding"] = logits.astype(jnp.float32), embedding
    if self.landmark_head is not None:
      out["landmark"] = self.landmark_head(feature_map, dropout_key).astype(jnp.float32)
    return out


def make_model(config: ml_collections.ConfigDict, num_classes: Mapping[str, int],
               vocabulary_size: int, num_landmarks: int, seed: int) -> Geolocator:
  """The model of `config.model` (backbone, dtype, which heads)."""
  dtype = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[config.get("dtype", "float32")]
  return Geolocator(
      config.backbone, num_classes,
      vocabulary_size=vocabulary_size if config.get("tag_head", True) else 0,
      num_landmarks=num_landmarks if config.get("landmark_head", True) else 0,
      tag_embedding_size=config.get("tag_embedding_size", 300),
      landmark_dropout=config.get("landmark_dropout", 0.1), dtype=dtype,
      rngs=nnx.Rngs(params=seed))
