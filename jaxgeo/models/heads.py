"""Heads on the backbone: one classifier per partition, tags, landmarks.

Heads are named after what they predict (`head_<partition name>`, `tag_head`, `landmark_head`),
so parameter paths, metric names and sharding rules line up.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from flax import nnx


class GeoHeads(nnx.Module):
  """A linear classifier per partition over the pooled features."""

  def __init__(self, in_features: int, num_classes: Mapping[str, int], *, dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.names = tuple(num_classes)
    for name, n in num_classes.items():
      setattr(self, f"head_{name}", nnx.Linear(in_features, n, dtype=dtype, rngs=rngs))

  def __call__(self, features: jax.Array) -> dict[str, jax.Array]:
    return {name: getattr(self, f"head_{name}")(features) for name in self.names}


class TagHead(nnx.Module):
  """A 300-d image embedding, then a softmax over the tag vocabulary (LocSens' MCC model).

  The classifier's weight columns are the tag embeddings that the LocSens scorer uses.
  """

  def __init__(self, in_features: int, vocabulary_size: int, embedding_size: int = 300, *,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.embed = nnx.Linear(in_features, embedding_size, dtype=dtype, rngs=rngs)
    self.classify = nnx.Linear(embedding_size, vocabulary_size, dtype=dtype, rngs=rngs)

  def __call__(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(tag logits, image embedding)."""
    embedding = self.embed(features)
    return self.classify(embedding), embedding


class GeM(nnx.Module):
  """Generalized-mean pooling (Radenović et al. 2018) with a learnt exponent p (starts at 3).

  p is used clipped at `min_p` = 1 (average pooling): between average and max pooling is what
  GeM means, and an unconstrained p trained at a backbone's learning rate can cross 0, where
  x ** p at the clamped zeros overflows (the quickstart's loss turned NaN at step 1612 that way).
  """

  def __init__(self, p: float = 3.0, eps: float = 1e-6, min_p: float = 1.0):
    self.p = nnx.Param(jnp.array(p, jnp.float32))
    self.eps = eps
    self.min_p = min_p

  def __call__(self, feature_map: jax.Array) -> jax.Array:
    x = jnp.maximum(feature_map.astype(jnp.float32), self.eps)
    p = jnp.maximum(self.p[...], self.min_p)
    pooled = jnp.mean(x ** p, axis=(1, 2))
    return pooled ** (1.0 / p)


class LandmarkHead(nnx.Module):
  """GeM pooling, dropout and a softmax over landmarks (the GLDv2 recipe)."""

  def __init__(self, in_features: int, num_landmarks: int, dropout: float = 0.1, *,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.pool = GeM()
    # No random state inside the module: the train step passes a key derived from the step, so
    # a resumed run draws the same dropout masks as an uninterrupted one.
    self.dropout = nnx.Dropout(dropout)
    self.classify = nnx.Linear(in_features, num_landmarks, dtype=dtype, rngs=rngs)

  def __call__(self, feature_map: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
    rngs = nnx.Rngs(dropout=dropout_key) if dropout_key is not None else None
    return self.classify(self.dropout(self.pool(feature_map), rngs=rngs))
