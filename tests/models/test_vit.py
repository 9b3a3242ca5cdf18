"""Vision Transformers: sizes of the published towers, and CLIP / SigLIP weights imported from
each layout giving transformers' outputs."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxgeo.models import backbones, geolocator, vit, vit_pretrained, weights

torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'jaxgeo[torch]'")
transformers = pytest.importorskip("transformers",
                                   reason="needs transformers: pip install 'jaxgeo[torch]'")

# A small tower of each family: 2 blocks of width 64 on 8-px patches of 32-px images.
SMALL = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "image_size": 32, "patch_size": 8}


def _small_vit(family: str, image_size: int = 32, projection: int = 0) -> vit.ViT:
  return vit.ViT(family=family, width=64, depth=2, heads=4, mlp_dim=128, patch_size=8,
                 image_size=image_size, projection=projection, rngs=nnx.Rngs(0))


def _hf_clip(tmp_path, projection=24):
  torch.manual_seed(0)
  model = transformers.CLIPVisionModelWithProjection(
      transformers.CLIPVisionConfig(**SMALL, projection_dim=projection)).eval()
  model.save_pretrained(tmp_path / "clip")
  return model, tmp_path / "clip" / "model.safetensors"


def _hf_siglip(tmp_path):
  torch.manual_seed(1)
  model = transformers.SiglipVisionModel(transformers.SiglipVisionConfig(**SMALL)).eval()
  model.save_pretrained(tmp_path / "siglip")
  return model, tmp_path / "siglip" / "model.safetensors"


def _pixels(n=3, size=32, seed=2):
  """Normalised images, (N, H, W, 3) for jaxgeo and (N, 3, H, W) for torch."""
  x = np.random.default_rng(seed).normal(size=(n, size, size, 3)).astype(np.float32)
  return x, torch.from_numpy(x.transpose(0, 3, 1, 2).copy())


@pytest.mark.parametrize("name, reference", [
    ("clip_vit_b32", lambda: transformers.CLIPVisionModelWithProjection(
        transformers.CLIPVisionConfig(patch_size=32, projection_dim=512))),
    ("clip_vit_l14", lambda: transformers.CLIPVisionModelWithProjection(
        transformers.CLIPVisionConfig(hidden_size=1024, intermediate_size=4096,
                                      num_hidden_layers=24, num_attention_heads=16,
                                      patch_size=14, projection_dim=768))),
    ("siglip_so400m14", lambda: transformers.SiglipVisionModel(
        transformers.SiglipVisionConfig(hidden_size=1152, intermediate_size=4304,
                                        num_hidden_layers=27, num_attention_heads=16,
                                        patch_size=14, image_size=224))),
])
def test_published_towers_have_transformers_parameter_counts(name, reference):
  with torch.device("meta"):  # shapes only
    expected = sum(p.numel() for p in reference().parameters())
  assert vit.parameter_count(name, 224) == expected
  # The published sizes: CLIP ViT-L/14's image tower with its projection, SigLIP So400m's.
  assert {"clip_vit_l14": 303_966_208, "siglip_so400m14": 427_680_704}.get(name, expected) == (
      expected)


def test_clip_from_transformers_gives_its_embeddings(tmp_path):
  reference, path = _hf_clip(tmp_path)
  model = _small_vit("clip", projection=24)
  report = vit_pretrained.load_vit(model, path)
  assert "projection/kernel" in report.loaded and not report.skipped
  x, pixels = _pixels()
  feature_map, pooled = model.encode(jnp.asarray(x))
  with torch.no_grad():
    out = reference(pixel_values=pixels, output_hidden_states=True)
    patches = reference.vision_model.post_layernorm(out.last_hidden_state[:, 1:])
  np.testing.assert_allclose(pooled, out.image_embeds.numpy(), atol=2e-5)
  np.testing.assert_allclose(feature_map.reshape(3, 16, 64), patches.numpy(), atol=2e-5)


def test_siglip_from_transformers_gives_its_embeddings(tmp_path):
  reference, path = _hf_siglip(tmp_path)
  model = _small_vit("siglip")
  vit_pretrained.load_vit(model, path)
  x, pixels = _pixels(seed=3)
  feature_map, pooled = model.encode(jnp.asarray(x))
  with torch.no_grad():
    out = reference(pixel_values=pixels)
  np.testing.assert_allclose(pooled, out.pooler_output.numpy(), atol=2e-5)
  np.testing.assert_allclose(feature_map.reshape(3, 16, 64), out.last_hidden_state.numpy(),
                             atol=2e-5)


def _assert_same_outputs(a: vit.ViT, b: vit.ViT) -> None:
  """Both towers give the same feature map and embedding, bit for bit."""
  x = jnp.asarray(_pixels(seed=4)[0])
  for out_a, out_b in zip(a.encode(x), b.encode(x)):
    np.testing.assert_array_equal(out_a, out_b)


def _openai_layout(hf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The same CLIP weights as OpenAI's / open_clip's state dict names them (`visual.*`, fused
  attention projections, `proj` as (width, projection)), with a text tower beside them."""
  out = {"visual.class_embedding": hf["embeddings.class_embedding"],
         "visual.positional_embedding": hf["embeddings.position_embedding.weight"],
         "visual.conv1.weight": hf["embeddings.patch_embedding.weight"],
         "visual.proj": hf["visual_projection.weight"].T,
         "token_embedding.weight": np.zeros((10, 8), np.float32),
         "logit_scale": np.zeros((), np.float32)}
  for ours, theirs in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
    for leaf in ("weight", "bias"):
      out[f"visual.{ours}.{leaf}"] = hf[f"{theirs}.{leaf}"]
  for i in range(2):
    hf_block, block = f"encoder.layers.{i}", f"visual.transformer.resblocks.{i}"
    for leaf in ("weight", "bias"):
      out[f"{block}.attn.in_proj_{leaf}"] = np.concatenate(
          [hf[f"{hf_block}.self_attn.{p}_proj.{leaf}"] for p in "qkv"])
      out[f"{block}.attn.out_proj.{leaf}"] = hf[f"{hf_block}.self_attn.out_proj.{leaf}"]
      out[f"{block}.ln_1.{leaf}"] = hf[f"{hf_block}.layer_norm1.{leaf}"]
      out[f"{block}.ln_2.{leaf}"] = hf[f"{hf_block}.layer_norm2.{leaf}"]
      out[f"{block}.mlp.c_fc.{leaf}"] = hf[f"{hf_block}.mlp.fc1.{leaf}"]
      out[f"{block}.mlp.c_proj.{leaf}"] = hf[f"{hf_block}.mlp.fc2.{leaf}"]
  return out


def test_openai_layout_imports_like_transformers(tmp_path):
  from safetensors.numpy import load_file, save_file  # pylint: disable=g-import-not-at-top
  _, path = _hf_clip(tmp_path)
  hf = {k.split("vision_model.", 1)[-1]: v for k, v in load_file(path).items()}
  # (safetensors writes an array's buffer as it lies in memory: transposes made contiguous.)
  save_file({k: np.ascontiguousarray(v) for k, v in _openai_layout(hf).items()},
            tmp_path / "open_clip.safetensors")
  from_hf, from_openai = _small_vit("clip", projection=24), _small_vit("clip", projection=24)
  vit_pretrained.load_vit(from_hf, path)
  report = vit_pretrained.load_vit(from_openai, tmp_path / "open_clip.safetensors")
  assert sorted(report.skipped) == ["logit_scale", "token_embedding.weight"]
  _assert_same_outputs(from_hf, from_openai)


def test_a_224_checkpoint_trains_at_another_size(tmp_path):
  """The 4x4 position grid of a 32-px checkpoint, resampled to 6x6 for 48-px images; the class
  token's row is kept."""
  _, path = _hf_clip(tmp_path)
  model = _small_vit("clip", image_size=48, projection=24)
  vit_pretrained.load_vit(model, path)
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  table = load_file(path)["vision_model.embeddings.position_embedding.weight"]
  got = np.asarray(model.position_embedding[...])
  assert got.shape == (1 + 36, 64)
  np.testing.assert_array_equal(got[0], table[0])
  np.testing.assert_allclose(got[1:], vit_pretrained.resample_position_embedding(
      table[1:], class_token=False, grid=6), atol=1e-6)
  assert model.encode(jnp.zeros((1, 48, 48, 3)))[1].shape == (1, 24)


def test_resampling_keeps_a_ramp_a_ramp():
  """Bilinear with half-pixel centres: a 4x4 grid whose rows are 0, 1, 2, 3 becomes a 6x6 grid
  whose rows sit at source rows (r + 0.5) * 4 / 6 - 0.5, clamped to the edges."""
  ramp = np.repeat(np.arange(4.0), 4)[:, None] * np.ones((1, 2))  # (16 tokens, width 2)
  table = np.concatenate([np.full((1, 2), 7.0), ramp])  # with a class token
  out = vit_pretrained.resample_position_embedding(table, class_token=True, grid=6)
  assert out.shape == (37, 2) and out[0].tolist() == [7.0, 7.0]
  rows = out[1:, 0].reshape(6, 6)
  np.testing.assert_allclose(rows[:, 0], [0, 0.5, 7 / 6, 11 / 6, 2.5, 3], atol=1e-6)
  np.testing.assert_allclose(rows, rows[:, :1] * np.ones((1, 6)), atol=1e-6)  # constant rows


def test_a_checkpoint_that_does_not_fit_is_refused_with_every_reason(tmp_path):
  _, path = _hf_clip(tmp_path)
  wider = vit.ViT(family="clip", width=96, depth=3, heads=4, mlp_dim=128, patch_size=8,
                  image_size=32, projection=24, rngs=nnx.Rngs(0))
  before = np.asarray(wider.blocks[0].attention.q.kernel[...]).copy()
  with pytest.raises(weights.WeightsMismatchError) as error:
    vit_pretrained.load_vit(wider, path)
  message = str(error.value)
  assert "model entries missing from the file" in message and "blocks/2/attention/q/kernel" in (
      message)
  assert "shape mismatches" in message and "file (64, 64), model (96, 96)" in message
  assert "a clip ViT of width 96, 3 blocks" in message
  np.testing.assert_array_equal(wider.blocks[0].attention.q.kernel[...], before)  # untouched


def test_siglip_weights_into_a_clip_model_are_refused(tmp_path):
  _, path = _hf_siglip(tmp_path)
  with pytest.raises(weights.WeightsMismatchError, match="file entries with no place"):
    vit_pretrained.load_vit(_small_vit("clip", projection=24), path)


def test_geolocator_heads_sit_on_a_vit():
  model = geolocator.Geolocator("clip_vit_b32", {"coarse": 10}, image_size=64,
                                vocabulary_size=5, num_landmarks=3, rngs=nnx.Rngs(0))
  assert model.geo.head_coarse.kernel.shape == (512, 10)  # on CLIP's projected embedding
  assert model.landmark_head.classify.kernel.shape == (768, 3)  # GeM over the patch tokens
  assert backbones.preprocessing_for(model.backbone) == vit_pretrained.PREPROCESSING["clip"]
  model.eval()
  out = model.predict(jnp.zeros((2, 64, 64, 3), jnp.uint8))
  assert out["geo/coarse"].shape == (2, 10) and out["landmark_descriptor"].shape == (2, 768)


def _big_vision_layout(hf: dict[str, np.ndarray], heads: int, stacked: bool
                       ) -> dict[str, np.ndarray]:
  """The same SigLIP weights as a big_vision `.npz` holds them: Flax kernels, attention per
  head, blocks numbered or stacked (a scanned model), with a text tower and temperature."""
  width = hf["post_layernorm.weight"].shape[0]

  def attention(prefix: str, q, k, v, out_w, out_b) -> dict[str, np.ndarray]:
    d = {}
    for name, (w, b) in zip(("query", "key", "value"), (q, k, v)):
      d[f"{prefix}/{name}/kernel"] = w.T.reshape(width, heads, -1)
      d[f"{prefix}/{name}/bias"] = b.reshape(heads, -1)
    d[f"{prefix}/out/kernel"] = out_w.T.reshape(heads, -1, width)
    d[f"{prefix}/out/bias"] = out_b
    return d

  blocks = []
  for i in range(2):
    p = f"encoder.layers.{i}"
    block = {"LayerNorm_0/scale": hf[f"{p}.layer_norm1.weight"],
             "LayerNorm_0/bias": hf[f"{p}.layer_norm1.bias"],
             "LayerNorm_1/scale": hf[f"{p}.layer_norm2.weight"],
             "LayerNorm_1/bias": hf[f"{p}.layer_norm2.bias"],
             "MlpBlock_0/Dense_0/kernel": hf[f"{p}.mlp.fc1.weight"].T,
             "MlpBlock_0/Dense_0/bias": hf[f"{p}.mlp.fc1.bias"],
             "MlpBlock_0/Dense_1/kernel": hf[f"{p}.mlp.fc2.weight"].T,
             "MlpBlock_0/Dense_1/bias": hf[f"{p}.mlp.fc2.bias"]}
    block.update(attention("MultiHeadDotProductAttention_0", *[
        (hf[f"{p}.self_attn.{n}_proj.weight"], hf[f"{p}.self_attn.{n}_proj.bias"])
        for n in "qkv"], hf[f"{p}.self_attn.out_proj.weight"], hf[f"{p}.self_attn.out_proj.bias"]))
    blocks.append(block)
  patch_kernel = hf["embeddings.patch_embedding.weight"].transpose(2, 3, 1, 0)
  out = {"params/img/embedding/kernel": patch_kernel,
         "params/img/embedding/bias": hf["embeddings.patch_embedding.bias"],
         "params/img/pos_embedding": hf["embeddings.position_embedding.weight"][None],
         "params/img/Transformer/encoder_norm/scale": hf["post_layernorm.weight"],
         "params/img/Transformer/encoder_norm/bias": hf["post_layernorm.bias"],
         "params/img/MAPHead_0/probe": hf["head.probe"],
         "params/img/MAPHead_0/LayerNorm_0/scale": hf["head.layernorm.weight"],
         "params/img/MAPHead_0/LayerNorm_0/bias": hf["head.layernorm.bias"],
         "params/img/MAPHead_0/MlpBlock_0/Dense_0/kernel": hf["head.mlp.fc1.weight"].T,
         "params/img/MAPHead_0/MlpBlock_0/Dense_0/bias": hf["head.mlp.fc1.bias"],
         "params/img/MAPHead_0/MlpBlock_0/Dense_1/kernel": hf["head.mlp.fc2.weight"].T,
         "params/img/MAPHead_0/MlpBlock_0/Dense_1/bias": hf["head.mlp.fc2.bias"],
         "params/txt/Embed_0/embedding": np.zeros((10, 8), np.float32),
         "params/t": np.zeros((1,), np.float32)}
  qkv_w = np.split(hf["head.attention.in_proj_weight"], 3)
  qkv_b = np.split(hf["head.attention.in_proj_bias"], 3)
  out.update({f"params/img/MAPHead_0/{k}": v for k, v in attention(
      "MultiHeadDotProductAttention_0", *zip(qkv_w, qkv_b), hf["head.attention.out_proj.weight"],
      hf["head.attention.out_proj.bias"]).items()})
  for key in blocks[0]:
    if stacked:
      out[f"params/img/Transformer/encoderblock/{key}"] = np.stack([b[key] for b in blocks])
    else:
      for i, block in enumerate(blocks):
        out[f"params/img/Transformer/encoderblock_{i}/{key}"] = block[key]
  return out


@pytest.mark.parametrize("stacked", [False, True])
def test_big_vision_layout_imports_like_transformers(tmp_path, stacked):
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  _, path = _hf_siglip(tmp_path)
  hf = {k.split("vision_model.", 1)[-1]: v for k, v in load_file(path).items()}
  np.savez(tmp_path / "siglip.npz", **_big_vision_layout(hf, heads=4, stacked=stacked))
  from_hf, from_big_vision = _small_vit("siglip"), _small_vit("siglip")
  vit_pretrained.load_vit(from_hf, path)
  report = vit_pretrained.load_vit(from_big_vision, tmp_path / "siglip.npz")
  assert sorted(report.skipped) == ["params/t", "params/txt/Embed_0/embedding"]
  _assert_same_outputs(from_hf, from_big_vision)
