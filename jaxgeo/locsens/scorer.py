"""LocSens (Gomez et al., ECCV 2020): a scorer of (image, tag, location) triplets by plausibility.

Image and tag embeddings (300-d, from the stage-1 tag head) and the normalised location each go
through FC + ReLU and are L2-normalised; the three are concatenated and an MLP of FC + GroupNorm +
ReLU layers gives one score. Ranking a 100k-tag vocabulary this way means 100k MLP passes per
image (the paper's stated weakness), so the first hidden layer, a linear map of the concatenation,
is split per modality: W [i; t; l] + b = W_i i + W_t t + W_l l + b. The tag part of every tag (and
the image part of every photo in an index) is computed once and reused by every query
(`tag_side`, `image_side`), leaving only the layers after the first to run per candidate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging
from flax import nnx

from jaxgeo.run import config_base, optim, state as state_lib

PAPER_HIDDEN_SIZES = config_base.PAPER_HIDDEN_SIZES


def normalize_location(latitude: jax.Array, longitude: jax.Array) -> jax.Array:
  """The paper's location input: ((lat + 90) / 180, (lon + 180) / 360), shape (..., 2)."""
  return jnp.stack([(latitude + 90.0) / 180.0, (longitude + 180.0) / 360.0], axis=-1)


def _l2_normalize(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), eps))


class GroupNorm(nnx.Module):
  """GroupNorm over the last axis only, so any number of leading (batch, candidate) axes works.

  (nnx.GroupNorm also reduces over every axis but the first, which would mix the candidates of
  one query together.)
  """

  def __init__(self, num_features: int, num_groups: int = 32, epsilon: float = 1e-5):
    if num_features % num_groups:
      raise ValueError(f"GroupNorm: {num_features} features do not split into {num_groups} "
                       "groups; pick locsens.hidden_sizes divisible by locsens.num_groups.")
    self.num_groups, self.epsilon = num_groups, epsilon
    self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    grouped = x.reshape(*x.shape[:-1], self.num_groups, -1)
    mean = jnp.mean(grouped, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(grouped - mean), axis=-1, keepdims=True)
    normed = ((grouped - mean) * jax.lax.rsqrt(var + self.epsilon)).reshape(x.shape)
    return normed * self.scale[...] + self.bias[...]


class LocSens(nnx.Module):
  """Scores (image embedding, tag embedding, location) triplets; higher = more plausible.

  A missing location (`location_present` 0: location dropout, or a query without a place) gives
  an all-zero location vector after normalisation, which no real location produces.
  """

  def __init__(self, embedding_size: int = 300, projection_size: int = 300,
               hidden_sizes: Sequence[int] = PAPER_HIDDEN_SIZES, num_groups: int = 32, *,
               rngs: nnx.Rngs):
    self.image_proj = nnx.Linear(embedding_size, projection_size, rngs=rngs)
    self.tag_proj = nnx.Linear(embedding_size, projection_size, rngs=rngs)
    # Inputs lie in [0, 1]^2: with zero biases every ReLU hinge would pass through the origin
    # and the L2-normalised output would see only the angle of (lat, lon). Biases that put each
    # hinge through a random point of the square let the branch tell places apart from the start.
    self.location_proj = nnx.Linear(2, projection_size, rngs=rngs)
    centers = jax.random.uniform(rngs.params(), (2, projection_size))
    self.location_proj.bias[...] = -jnp.sum(self.location_proj.kernel[...] * centers, axis=0)
    self.projection_size = projection_size
    self.num_hidden = len(hidden_sizes)
    sizes = (3 * projection_size, *hidden_sizes)
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
      setattr(self, f"hidden_{i}", nnx.Linear(n_in, n_out, rngs=rngs))
      setattr(self, f"norm_{i}", GroupNorm(n_out, num_groups))
    self.score = nnx.Linear(sizes[-1], 1, rngs=rngs)

  # The three modality branches (FC + ReLU + L2 norm).
  def embed_images(self, image_embeddings: jax.Array) -> jax.Array:
    return _l2_normalize(jax.nn.relu(self.image_proj(image_embeddings)))

  def embed_tags(self, tag_embeddings: jax.Array) -> jax.Array:
    return _l2_normalize(jax.nn.relu(self.tag_proj(tag_embeddings)))

  def embed_locations(self, latitude: jax.Array, longitude: jax.Array,
                      present: jax.Array | None = None) -> jax.Array:
    x = _l2_normalize(jax.nn.relu(self.location_proj(normalize_location(latitude, longitude))))
    return x if present is None else x * present[..., None].astype(x.dtype)

  def first_layer_parts(self) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(W_image, W_tag, W_location, bias) of the first hidden layer, rows of its kernel."""
    kernel, p = self.hidden_0.kernel[...], self.projection_size
    return kernel[:p], kernel[p:2 * p], kernel[2 * p:], self.hidden_0.bias[...]

  def after_first_layer(self, pre_activation: jax.Array) -> jax.Array:
    """The score from the first hidden layer's pre-activation (..., hidden_sizes[0])."""
    x = jax.nn.relu(self.norm_0(pre_activation))
    for i in range(1, self.num_hidden):
      x = jax.nn.relu(getattr(self, f"norm_{i}")(getattr(self, f"hidden_{i}")(x)))
    return self.score(x)[..., 0]

  def __call__(self, image_embeddings: jax.Array, tag_embeddings: jax.Array,
               latitude: jax.Array, longitude: jax.Array,
               location_present: jax.Array | None = None) -> jax.Array:
    """Scores of triplets with matching leading shapes: the plain concatenated MLP."""
    x = jnp.concatenate([self.embed_images(image_embeddings), self.embed_tags(tag_embeddings),
                         self.embed_locations(latitude, longitude, location_present)], axis=-1)
    return self.after_first_layer(self.hidden_0(x))

  # Precomputed sides for ranking many candidates.
  def tag_side(self, tag_embeddings: jax.Array) -> jax.Array:
    """W_tag . tag branch, for every tag (V, hidden): computed once per vocabulary."""
    return self.embed_tags(tag_embeddings) @ self.first_layer_parts()[1]

  def image_side(self, image_embeddings: jax.Array) -> jax.Array:
    """W_image . image branch, for every photo of an index (N, hidden): computed once."""
    return self.embed_images(image_embeddings) @ self.first_layer_parts()[0]

  def location_side(self, latitude: jax.Array, longitude: jax.Array,
                    present: jax.Array | None = None) -> jax.Array:
    """W_location . location branch + the first layer's bias (..., hidden)."""
    _, _, w_location, bias = self.first_layer_parts()
    return self.embed_locations(latitude, longitude, present) @ w_location + bias


def make_locsens(config: ml_collections.ConfigDict, embedding_size: int, seed: int) -> LocSens:
  """The scorer of a `locsens` config section."""
  return LocSens(embedding_size, config.projection_size, tuple(config.hidden_sizes),
                 config.num_groups, rngs=nnx.Rngs(params=seed))


def score_tags(model: LocSens, image_embeddings: jax.Array, latitude: jax.Array,
               longitude: jax.Array, present: jax.Array, tag_sides: jax.Array,
               candidates: jax.Array | None = None, chunk: int = 4096) -> jax.Array:
  """Scores of tags for a batch of images at their locations, from precomputed tag sides.

  Args:
    model: the scorer.
    image_embeddings: (B, E).
    latitude, longitude, present: (B,) each (present 0: no location).
    tag_sides: (V, H) from `model.tag_side` over the vocabulary.
    candidates: (B, N) tag ids to score (two-stage mode), or None for the whole vocabulary.
    chunk: tags per pass when scoring the whole vocabulary (bounds memory at B * chunk * H).

  Returns:
    (B, N) or (B, V) scores.
  """
  query = (model.embed_images(image_embeddings) @ model.first_layer_parts()[0]
           + model.location_side(latitude, longitude, present))  # (B, H)
  if candidates is not None:
    return model.after_first_layer(query[:, None, :] + tag_sides[candidates])
  num_tags = tag_sides.shape[0]
  chunk = min(chunk, num_tags)
  pad = (-num_tags) % chunk
  blocks = jnp.pad(tag_sides, ((0, pad), (0, 0))).reshape(-1, chunk, tag_sides.shape[1])
  scores = jax.lax.map(lambda block: model.after_first_layer(query[:, None, :] + block[None]),
                       blocks)  # (num_blocks, B, chunk)
  return jnp.moveaxis(scores, 0, 1).reshape(query.shape[0], -1)[:, :num_tags]


def score_photos(model: LocSens, image_sides: jax.Array, tag_embedding: jax.Array,
                 latitude: jax.Array, longitude: jax.Array, present: jax.Array,
                 chunk: int = 65536) -> jax.Array:
  """Scores of every photo of an index for queries (tag, location), from its image sides.

  Args:
    image_sides: (N, H) from `model.image_side` over the index.
    tag_embedding: (Q, E) the queries' tag embeddings.
    latitude, longitude, present: (Q,) the queries' places (present 0: anywhere).

  Returns:
    (Q, N) scores.
  """
  query = (model.tag_side(tag_embedding)
           + model.location_side(latitude, longitude, present))  # (Q, H)
  num_photos = image_sides.shape[0]
  chunk = min(chunk, num_photos)
  pad = (-num_photos) % chunk
  blocks = jnp.pad(image_sides, ((0, pad), (0, 0))).reshape(-1, chunk, image_sides.shape[1])
  scores = jax.lax.map(lambda block: model.after_first_layer(query[:, None, :] + block[None]),
                       blocks)
  return jnp.moveaxis(scores, 0, 1).reshape(query.shape[0], -1)[:, :num_photos]


def _scorer_init(config: ml_collections.ConfigDict, embedding_size: int,
                 tx: optax.GradientTransformation | None
                 ) -> tuple[nnx.GraphDef, Callable[[], state_lib.State]]:
  """The scorer's graph and a function making its state (with `tx`: training's, with the
  optimizer state and step; without: the parameters only)."""
  make = functools.partial(make_locsens, config, embedding_size, config.seed)

  def init_state() -> state_lib.State:
    params = nnx.state(make(), nnx.Param)
    if tx is None:
      return {"params": params}
    return {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32)}

  return nnx.graphdef(nnx.eval_shape(make)), init_state


def create_state(config: ml_collections.ConfigDict, embedding_size: int,
                 tx: optax.GradientTransformation, mesh: jax.sharding.Mesh
                 ) -> tuple[nnx.GraphDef, state_lib.State, Any]:
  """Scorer graph and its training state, born sharded (shapes first, then a jitted init)."""
  graphdef, init_state = _scorer_init(config, embedding_size, tx)
  state, shardings = state_lib.create_sharded(init_state, mesh, config.mesh.fsdp_min_size)
  logging.info("LocSens scorer: %.2fM parameters.",
               sum(x.size for x in jax.tree.leaves(state["params"])) / 1e6)
  return graphdef, state, shardings


def abstract_scorer(config: ml_collections.ConfigDict, embedding_size: int,
                    mesh: jax.sharding.Mesh) -> tuple[nnx.GraphDef, Any]:
  """Scorer graph and its parameters as shapes with shardings: what prediction restores."""
  graphdef, init_state = _scorer_init(config, embedding_size, None)
  return graphdef, state_lib.abstract_sharded(init_state, mesh, config.mesh.fsdp_min_size)


def make_tx(config: ml_collections.ConfigDict, steps_per_epoch: int, total_steps: int
            ) -> optax.GradientTransformation:
  """The scorer's optimizer and learning-rate schedule, from `config.optim`."""
  return optim.make_optimizer(
      config.optim, optim.make_learning_rate_schedule(config.optim, steps_per_epoch, total_steps))
