"""The geolocation model: a ResNet backbone and its heads, built from the `model` config."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxgeo.models import backbones, heads


class Geolocator(nnx.Module):
  """Images (uint8 NHWC) in; per-partition, tag and landmark answers out.

  Calling it gives training's logits; `predict` gives what evaluation, embedding extraction and
  the Predictor all use. Each head is optional: tags when `vocabulary_size > 0`, landmarks when
  `num_landmarks > 0`.
  """

  def __init__(self, backbone: str, num_classes: Mapping[str, int], *, image_size: int = 224,
               vocabulary_size: int = 0, num_landmarks: int = 0, tag_embedding_size: int = 300,
               landmark_dropout: float = 0.1, dtype=jnp.float32, rngs: nnx.Rngs):
    self.backbone = backbones.make_backbone(backbone, image_size=image_size, dtype=dtype,
                                            rngs=rngs)
    width = self.backbone.num_features
    self.geo = heads.GeoHeads(width, num_classes, dtype=dtype, rngs=rngs)
    self.tag_head = (heads.TagHead(width, vocabulary_size, tag_embedding_size, dtype=dtype,
                                   rngs=rngs) if vocabulary_size else None)
    # The landmark head GeM-pools the feature map (a ViT's patch tokens).
    self.landmark_head = (heads.LandmarkHead(self.backbone.map_features, num_landmarks,
                                             landmark_dropout, dtype=dtype, rngs=rngs)
                          if num_landmarks else None)
    self.dtype = dtype
    # Input scaling of the weights this backbone family loads (torch: ImageNet mean/std; Keras
    # v2 and SigLIP: [-1, 1]; CLIP: its own), so pretrained weights see what they were trained on.
    self.preprocess = backbones.preprocessing_for(self.backbone)

  def _features(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The backbone's feature map and its pooled embedding (what the linear heads read)."""
    return self.backbone.encode(self.preprocess(images, self.dtype))

  def __call__(self, images: jax.Array,
               dropout_key: jax.Array | None = None) -> dict[str, jax.Array]:
    """Logits in float32 (softmax and losses want the precision), keyed by head.

    `dropout_key` is needed in train mode when the landmark head is on.
    """
    feature_map, pooled = self._features(images)
    out = self.heads(pooled)
    if self.landmark_head is not None:
      out["landmark"] = self.landmark_head(feature_map, dropout_key).astype(jnp.float32)
    return out

  def heads(self, embedding: jax.Array) -> dict[str, jax.Array]:
    """The logits of the heads that read the pooled embedding (partitions, tags): all that
    training on a frozen backbone's extracted embeddings needs."""
    embedding = embedding.astype(self.dtype)
    out = {f"geo/{k}": v.astype(jnp.float32) for k, v in self.geo(embedding).items()}
    if self.tag_head is not None:
      logits, tag_embedding = self.tag_head(embedding)
      out["tag"], out["tag_embedding"] = logits.astype(jnp.float32), tag_embedding
    return out

  def predict(self, images: jax.Array, crops: int = 1) -> dict[str, jax.Array]:
    """The answers for B photos from B * `crops` images (each photo's crops consecutive).

    The one forward pass of evaluation, embedding extraction and the Predictor (call it in eval
    mode). Returns, in float32:
      `geo/<partition>`, `tag`, `landmark`: log-probabilities over each head's classes (logs,
        so the hierarchy's product rule and tiny probabilities stay exact); over crops, the log
        of the mean probability (GeoEstimation's five-crop vote).
      `embedding`: the backbone's pooled embedding (what the linear heads read; the input of
        training on a frozen backbone), averaged over crops.
      `tag_embedding`: the image embedding the tag head classifies (LocSens' input), averaged
        over crops.
      `landmark_descriptor`: the landmark head's GeM-pooled features, averaged over crops and
        L2-normalised: the retrieval descriptor.
    """
    feature_map, pooled = self._features(images)

    def log_probs(logits: jax.Array) -> jax.Array:
      log_p = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
      if crops == 1:
        return log_p
      return jax.nn.logsumexp(log_p.reshape(-1, crops, log_p.shape[-1]), axis=1) - jnp.log(crops)

    def mean_over_crops(x: jax.Array) -> jax.Array:
      x = x.astype(jnp.float32)
      return x if crops == 1 else jnp.mean(x.reshape(-1, crops, *x.shape[1:]), axis=1)

    out = {f"geo/{k}": log_probs(v) for k, v in self.geo(pooled).items()}
    out["embedding"] = mean_over_crops(pooled)
    if self.tag_head is not None:
      logits, embedding = self.tag_head(pooled)
      out["tag"], out["tag_embedding"] = log_probs(logits), mean_over_crops(embedding)
    if self.landmark_head is not None:
      head = self.landmark_head
      descriptor = head.pool(feature_map)  # GeM, float32; no dropout: this is eval
      out["landmark"] = log_probs(head.classify(descriptor.astype(self.dtype)))
      descriptor = mean_over_crops(descriptor)
      out["landmark_descriptor"] = descriptor / jnp.maximum(
          jnp.linalg.norm(descriptor, axis=-1, keepdims=True), 1e-12)
    return out


def make_model(config: ml_collections.ConfigDict, num_classes: Mapping[str, int],
               vocabulary_size: int, num_landmarks: int, seed: int,
               image_size: int = 224) -> Geolocator:
  """The model of `config.model` (backbone, dtype, which heads) for `image_size` photos (the
  run's `config.image_size`; a ViT's position table depends on it)."""
  dtype = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[config.dtype]
  return Geolocator(
      config.backbone, num_classes, image_size=image_size,
      vocabulary_size=vocabulary_size if config.tag_head else 0,
      num_landmarks=num_landmarks if config.landmark_head else 0,
      tag_embedding_size=config.tag_embedding_size,
      landmark_dropout=config.landmark_dropout, dtype=dtype,
      rngs=nnx.Rngs(params=seed))
