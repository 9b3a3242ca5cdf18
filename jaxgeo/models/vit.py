"""Vision Transformers: plain ViT, CLIP's and SigLIP's image towers, in Flax NNX.

One class, `ViT`, covers the three families; they differ only where their checkpoints do:

  family  tokens          pre-norm  activation  norm eps  pooled by                 projection
  vit     patches         no        gelu        1e-6      mean of the tokens        none
  clip    class + patches ln_pre    quick_gelu  1e-5      the class token           to proj_dim
  siglip  patches         no        gelu (tanh) 1e-6      attention pooling (MAP)   none

Blocks are pre-norm (LayerNorm, attention, residual; LayerNorm, MLP, residual). Computation runs
in `dtype` (bf16 on accelerators) with float32 parameters, softmax and LayerNorm statistics.

`encode` returns what the geolocation heads read: the pooled embedding (CLIP's: after its final
LayerNorm and projection, the vector CLIP-based geolocators build on) and the patch tokens as a
(B, h, w, width) map, after the final LayerNorm (the landmark head GeM-pools it).

Position embeddings are learnt for the model's `image_size`; weights made at another size are
resampled when imported (jaxgeo.models.vit_pretrained), so a 224-px checkpoint trains at 336.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

FAMILIES = ("vit", "clip", "siglip")
_ACTIVATIONS = {
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_tanh": functools.partial(jax.nn.gelu, approximate=True),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),  # OpenAI CLIP's
}


@dataclasses.dataclass(frozen=True)
class Family:
  """What a checkpoint family fixes besides the sizes."""
  class_token: bool
  pre_norm: bool
  activation: str
  norm_eps: float
  pool: str  # "cls", "map" or "mean"
  patch_bias: bool


FAMILY = {
    "vit": Family(class_token=False, pre_norm=False, activation="gelu", norm_eps=1e-6,
                  pool="mean", patch_bias=True),
    "clip": Family(class_token=True, pre_norm=True, activation="quick_gelu", norm_eps=1e-5,
                   pool="cls", patch_bias=False),
    "siglip": Family(class_token=False, pre_norm=False, activation="gelu_tanh", norm_eps=1e-6,
                     pool="map", patch_bias=True),
}


class Attention(nnx.Module):
  """Multi-head attention with separate q/k/v projections (the layout checkpoints store)."""

  def __init__(self, width: int, heads: int, *, dtype, rngs: nnx.Rngs):
    if width % heads:
      raise ValueError(f"width {width} is not divisible by {heads} heads.")
    self.heads = heads
    dense = functools.partial(nnx.Linear, width, width, dtype=dtype, rngs=rngs)
    self.q, self.k, self.v, self.out = dense(), dense(), dense(), dense()

  def __call__(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
    """Queries from `x` (B, N, width), keys and values from `context` (default: `x`)."""
    context = x if context is None else context

    def split(y: jax.Array) -> jax.Array:  # (B, T, width) -> (B, T, heads, head_dim)
      return y.reshape(*y.shape[:-1], self.heads, y.shape[-1] // self.heads)

    out = jax.nn.dot_product_attention(split(self.q(x)), split(self.k(context)),
                                       split(self.v(context)))
    return self.out(out.reshape(x.shape))


class Mlp(nnx.Module):

  def __init__(self, width: int, hidden: int, activation: str, *, dtype, rngs: nnx.Rngs):
    self.fc1 = nnx.Linear(width, hidden, dtype=dtype, rngs=rngs)
    self.fc2 = nnx.Linear(hidden, width, dtype=dtype, rngs=rngs)
    self.activation = activation

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(_ACTIVATIONS[self.activation](self.fc1(x)))


class Block(nnx.Module):
  """Pre-norm transformer block."""

  def __init__(self, width: int, heads: int, mlp_dim: int, family: Family, *, dtype,
               rngs: nnx.Rngs):
    norm = functools.partial(nnx.LayerNorm, width, epsilon=family.norm_eps, dtype=dtype,
                             rngs=rngs)
    self.norm1, self.norm2 = norm(), norm()
    self.attention = Attention(width, heads, dtype=dtype, rngs=rngs)
    self.mlp = Mlp(width, mlp_dim, family.activation, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x + self.attention(self.norm1(x))
    return x + self.mlp(self.norm2(x))


class MapHead(nnx.Module):
  """Multihead attention pooling (SigLIP): a learnt probe attends over the tokens, then an MLP
  with a residual; the probe's output is the embedding."""

  def __init__(self, width: int, heads: int, mlp_dim: int, family: Family, *, dtype,
               rngs: nnx.Rngs):
    self.probe = nnx.Param(nnx.initializers.xavier_uniform()(rngs.params(), (1, 1, width)))
    self.attention = Attention(width, heads, dtype=dtype, rngs=rngs)
    self.norm = nnx.LayerNorm(width, epsilon=family.norm_eps, dtype=dtype, rngs=rngs)
    self.mlp = Mlp(width, mlp_dim, family.activation, dtype=dtype, rngs=rngs)

  def __call__(self, tokens: jax.Array) -> jax.Array:
    probe = jnp.broadcast_to(self.probe[...].astype(tokens.dtype),
                             (tokens.shape[0], 1, tokens.shape[-1]))
    x = self.attention(probe, tokens)
    return (x + self.mlp(self.norm(x)))[:, 0]


class ViT(nnx.Module):
  """A Vision Transformer image tower (see the module docstring for the families)."""

  def __init__(self, *, width: int, depth: int, heads: int, mlp_dim: int, patch_size: int,
               image_size: int, family: str = "vit", projection: int = 0, dtype=jnp.float32,
               rngs: nnx.Rngs):
    if family not in FAMILY:
      raise ValueError(f"Unknown ViT family {family!r}; one of {FAMILIES}.")
    if image_size % patch_size:
      raise ValueError(f"image_size {image_size} is not a multiple of the patch size "
                       f"{patch_size}.")
    spec = FAMILY[family]
    self.family, self.spec = family, spec
    self.patch_size, self.image_size, self.width = patch_size, image_size, width
    self.grid = image_size // patch_size
    self.dtype = dtype
    self.patch_embed = nnx.Conv(3, width, (patch_size, patch_size), strides=patch_size,
                                padding="VALID", use_bias=spec.patch_bias, dtype=dtype, rngs=rngs)
    num_tokens = self.grid ** 2 + int(spec.class_token)
    if spec.class_token:
      self.class_token = nnx.Param(0.02 * jax.random.normal(rngs.params(), (width,)))
    self.position_embedding = nnx.Param(
        0.02 * jax.random.normal(rngs.params(), (num_tokens, width)))
    norm = functools.partial(nnx.LayerNorm, width, epsilon=spec.norm_eps, dtype=dtype, rngs=rngs)
    if spec.pre_norm:
      self.norm_pre = norm()
    self.blocks = nnx.List([Block(width, heads, mlp_dim, spec, dtype=dtype, rngs=rngs)
                            for _ in range(depth)])
    self.norm = norm()
    if spec.pool == "map":
      self.map_head = MapHead(width, heads, mlp_dim, spec, dtype=dtype, rngs=rngs)
    if projection:
      self.projection = nnx.Linear(width, projection, use_bias=False, dtype=dtype, rngs=rngs)
    self.has_projection = bool(projection)
    self.num_features = projection or width  # the pooled embedding
    self.map_features = width  # channels of the patch-token map

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(patch-token map (B, h, w, width), pooled embedding (B, num_features)), in `dtype`.

    Args:
      x: (B, image_size, image_size, 3) images, normalised as the weights expect
        (jaxgeo.models.vit_pretrained.PREPROCESSING).
    """
    tokens = self.patch_embed(jnp.asarray(x, self.dtype))
    batch, h, w, _ = tokens.shape
    if (h, w) != (self.grid, self.grid):
      raise ValueError(f"A {self.image_size}-px ViT got {h * self.patch_size}x"
                       f"{w * self.patch_size} images.")
    tokens = tokens.reshape(batch, h * w, self.width)
    if self.spec.class_token:
      cls = jnp.broadcast_to(self.class_token[...].astype(self.dtype), (batch, 1, self.width))
      tokens = jnp.concatenate([cls, tokens], axis=1)
    tokens = tokens + self.position_embedding[...].astype(self.dtype)
    if self.spec.pre_norm:
      tokens = self.norm_pre(tokens)
    for block in self.blocks:
      tokens = block(tokens)
    tokens = self.norm(tokens)
    patches = tokens[:, int(self.spec.class_token):]
    if self.spec.pool == "cls":
      pooled = tokens[:, 0]
    elif self.spec.pool == "map":
      pooled = self.map_head(tokens)
    else:  # mean, accumulated in float32
      pooled = jnp.mean(tokens, axis=1, dtype=jnp.float32).astype(self.dtype)
    if self.has_projection:
      pooled = self.projection(pooled)
    return patches.reshape(batch, h, w, self.width), pooled

  def __call__(self, x: jax.Array) -> jax.Array:
    """The pooled embedding, (B, num_features)."""
    return self.encode(x)[1]


def _variant(family: str, width: int, depth: int, heads: int, mlp_dim: int, patch_size: int,
             projection: int = 0):
  return functools.partial(ViT, family=family, width=width, depth=depth, heads=heads,
                           mlp_dim=mlp_dim, patch_size=patch_size, projection=projection)


# What configs choose from (`config.model.backbone`); the image size is the config's.
VITS = {
    "vit_b32": _variant("vit", 768, 12, 12, 3072, 32),
    "vit_b16": _variant("vit", 768, 12, 12, 3072, 16),
    "vit_l16": _variant("vit", 1024, 24, 16, 4096, 16),
    "clip_vit_b32": _variant("clip", 768, 12, 12, 3072, 32, projection=512),
    "clip_vit_b16": _variant("clip", 768, 12, 12, 3072, 16, projection=512),
    "clip_vit_l14": _variant("clip", 1024, 24, 16, 4096, 14, projection=768),
    "siglip_vit_b16": _variant("siglip", 768, 12, 12, 3072, 16),
    "siglip_so400m14": _variant("siglip", 1152, 27, 16, 4304, 14),
    # For tests and the CPU toy world: 4 blocks of width 96 on 8-px patches.
    "vit_tiny": _variant("vit", 96, 4, 3, 384, 8),
}


def parameter_count(name: str, image_size: int) -> int:
  """Parameters of a variant at an image size, from shapes alone (nothing is computed)."""
  model = nnx.eval_shape(lambda: VITS[name](image_size=image_size, rngs=nnx.Rngs(0)))
  return sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
