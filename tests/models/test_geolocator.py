"""The geolocation model's one forward pass for evaluation, embeddings and the Predictor."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgeo.models import geolocator

MODEL = ml_collections.ConfigDict({
    "backbone": "tiny", "dtype": "float32", "tag_head": True, "landmark_head": True,
    "tag_embedding_size": 16, "landmark_dropout": 0.1})


@pytest.fixture(scope="module")
def model_and_images():
  model = geolocator.make_model(MODEL, {"coarse": 5, "fine": 9}, vocabulary_size=7,
                                num_landmarks=4, seed=0)
  model.eval()
  images = jax.random.randint(jax.random.key(1), (6, 32, 32, 3), 0, 256).astype(jnp.uint8)
  return model, images


def test_predict_is_the_softmax_of_training_logits(model_and_images):
  model, images = model_and_images
  logits = model(images)
  out = model.predict(images)
  assert sorted(out) == ["embedding", "geo/coarse", "geo/fine", "landmark",
                         "landmark_descriptor", "tag", "tag_embedding"]
  # The backbone's pooled embedding: what the heads read (the geo heads give training's logits).
  np.testing.assert_allclose(model.backbone(model.preprocess(images, jnp.float32)),
                             out["embedding"], atol=1e-6)
  np.testing.assert_allclose(model.geo(out["embedding"])["coarse"], logits["geo/coarse"],
                             atol=1e-5)
  for head in ("geo/coarse", "geo/fine", "tag", "landmark"):
    np.testing.assert_allclose(out[head], jax.nn.log_softmax(logits[head]), atol=1e-6)
  np.testing.assert_allclose(out["tag_embedding"], logits["tag_embedding"], atol=1e-6)
  # The retrieval descriptor: the landmark head's GeM input, unit length.
  gem = model.landmark_head.pool(model.backbone.features(model.preprocess(images, jnp.float32)))
  np.testing.assert_allclose(out["landmark_descriptor"],
                             gem / np.linalg.norm(gem, axis=-1, keepdims=True), atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(out["landmark_descriptor"], axis=-1), 1.0, atol=1e-6)


def test_crops_vote_by_mean_probability(model_and_images):
  """Three photos of two crops each: each answer is the mean of its crops' probabilities."""
  model, images = model_and_images
  single = model.predict(images)
  voted = model.predict(images, crops=2)
  assert voted["geo/fine"].shape == (3, 9) and voted["tag_embedding"].shape == (3, 16)
  for head in ("geo/coarse", "geo/fine", "tag", "landmark"):
    mean = np.exp(np.asarray(single[head])).reshape(3, 2, -1).mean(1)
    np.testing.assert_allclose(np.exp(voted[head]), mean, atol=1e-6)
    np.testing.assert_allclose(np.exp(voted[head]).sum(-1), 1.0, atol=1e-5)
  np.testing.assert_allclose(voted["tag_embedding"],
                             np.asarray(single["tag_embedding"]).reshape(3, 2, -1).mean(1),
                             atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(voted["landmark_descriptor"], axis=-1), 1.0,
                             atol=1e-6)


def test_heads_are_optional():
  config = MODEL.copy_and_resolve_references()
  config.tag_head, config.landmark_head = False, False
  model = geolocator.make_model(config, {"only": 3}, vocabulary_size=7, num_landmarks=4, seed=0)
  model.eval()
  assert sorted(model.predict(jnp.zeros((2, 32, 32, 3), jnp.uint8))) == ["embedding",
                                                                         "geo/only"]
  assert model.tag_head is None and model.landmark_head is None
