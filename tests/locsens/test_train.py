"""LocSens stage 2: the scorer, triplet sampling, loss, location schedules and the metrics."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import locsens as locsens_config
from jaxgeo.geo import distance
from jaxgeo.locsens import evaluate as locsens_evaluate
from jaxgeo.locsens import scorer as scorer_lib, train as train_locsens
from jaxgeo.run import sharding


def _small_model(seed=0):
  return scorer_lib.LocSens(8, 16, (64, 32), num_groups=8, rngs=nnx.Rngs(params=seed))


# Jitted entry points: one compile each instead of one per eager op (slow on a busy CPU).
_call = nnx.jit(lambda model, *args: model(*args))
_embed_locations = nnx.jit(lambda model, *args: model.embed_locations(*args))
_score_tags = nnx.jit(scorer_lib.score_tags, static_argnames="chunk")
_score_photos = nnx.jit(scorer_lib.score_photos, static_argnames="chunk")
_side = nnx.jit(lambda model, x, which: getattr(model, which)(x), static_argnums=2)


def test_scorer_has_the_paper_sizes():
  config = locsens_config.get_config().locsens
  model = nnx.eval_shape(lambda: scorer_lib.make_locsens(config, 300, 0))
  branches = 2 * (300 * 300 + 300) + (2 * 300 + 300)
  sizes = (900, 2048, 2048, 2048, 1024, 512)
  mlp = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
  norms = 2 * sum(sizes[1:])
  assert sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))) == (
      branches + mlp + norms + 512 + 1)
  assert config.num_negatives == 6 and config.margin == 0.1 and config.batch_size == 1024


def test_scores_any_leading_shape_and_missing_location_is_zero():
  model = _small_model()
  rng = np.random.default_rng(0)
  images, tags = rng.normal(size=(3, 5, 8)), rng.normal(size=(3, 5, 8))
  lat, lon = rng.uniform(-90, 90, (3, 5)), rng.uniform(-180, 180, (3, 5))
  scores = _call(model, images, tags, lat, lon)
  assert scores.shape == (3, 5)
  # Row by row gives the same scores: GroupNorm never mixes candidates.
  np.testing.assert_allclose(_call(model, images[1], tags[1], lat[1], lon[1]), scores[1],
                             rtol=1e-5)
  absent = _embed_locations(model, lat, lon, jnp.zeros((3, 5)))
  assert np.all(np.asarray(absent) == 0)
  unit = np.linalg.norm(np.asarray(_embed_locations(model, lat, lon, None)), axis=-1)
  np.testing.assert_allclose(unit, 1.0, rtol=1e-5)


def test_per_modality_split_equals_the_concatenated_mlp():
  model = _small_model(1)
  rng = np.random.default_rng(1)
  vocab, images = rng.normal(size=(37, 8)).astype(np.float32), rng.normal(size=(4, 8))
  lat, lon = rng.uniform(-90, 90, 4), rng.uniform(-180, 180, 4)
  present = np.array([1.0, 0.0, 1.0, 1.0])
  sides = _side(model, vocab, "tag_side")
  split = _score_tags(model, images, lat, lon, present, sides, chunk=10)  # 4 chunks
  b = lambda x: np.broadcast_to(x[:, None], (4, 37) + x.shape[1:])
  plain = _call(model, b(images), np.broadcast_to(vocab, (4, 37, 8)), b(lat), b(lon),
                b(present))
  np.testing.assert_allclose(split, plain, rtol=1e-4, atol=1e-5)
  candidates = np.array([[3, 0, 36], [5, 5, 1], [7, 2, 9], [10, 20, 30]])
  two_stage = _score_tags(model, images, lat, lon, present, sides, candidates)
  np.testing.assert_allclose(two_stage, np.take_along_axis(np.asarray(plain), candidates, 1),
                             rtol=1e-4, atol=1e-5)
  # Photos side: 23 photos in chunks of 6, 2 queries (tag, place).
  photos = rng.normal(size=(23, 8)).astype(np.float32)
  by_photo = _score_photos(model, _side(model, photos, "image_side"), vocab[[4, 9]], lat[:2],
                           lon[:2], present[:2], chunk=6)
  q = lambda x: np.broadcast_to(x[:, None], (2, 23) + x.shape[1:])
  plain = _call(model, np.broadcast_to(photos, (2, 23, 8)), q(vocab[[4, 9]]), q(lat[:2]),
                q(lon[:2]), q(present[:2]))
  np.testing.assert_allclose(by_photo, plain, rtol=1e-4, atol=1e-5)


def _tag_ids():
  rng = np.random.default_rng(0)
  tag_ids = np.full((200, 15), -1, np.int32)
  for i in range(200):  # 0-6 tags of a 12-tag vocabulary, left-packed as the vocabulary packs
    n = rng.integers(0, 7)
    tag_ids[i, :n] = rng.choice(12, n, replace=False)
  return tag_ids


@pytest.mark.parametrize("mode,pool", [("tagging", False), ("tagging", True),
                                       ("retrieval", False)])
def test_negatives_are_never_associated(mode, pool):
  tag_ids = _tag_ids()
  tagged = np.flatnonzero((tag_ids >= 0).any(1))
  rng = np.random.default_rng(3)
  rows, tags = train_locsens.sample_positives(rng, tag_ids, tagged, 500)
  assert np.all((tag_ids[rows] == tags[:, None]).any(1))  # positives are real pairs
  neg = train_locsens.sample_negatives(rng, tag_ids, rows, tags, 6, 12, mode,
                                       tag_pool=tag_ids[tag_ids >= 0] if pool else None)
  assert neg["image_rows"].shape == neg["tags"].shape == neg["valid"].shape == (500, 6)
  associated = (tag_ids[neg["image_rows"]] == neg["tags"][..., None]).any(-1)
  assert not np.any(associated & neg["valid"])
  assert neg["valid"].mean() > 0.95
  replaced_image = neg["image_rows"] != rows[:, None]
  replaced_tag = neg["tags"] != tags[:, None]
  assert not np.any(replaced_image & replaced_tag)  # one of the two, never both
  if mode == "retrieval":
    assert not replaced_tag.any()
  else:
    assert 0.4 < replaced_tag.mean() < 0.6


def test_batches_depend_on_the_step_only():
  tag_ids = _tag_ids()
  data = train_locsens.embeddings_lib.Embeddings(
      image=np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32),
      latitude=np.linspace(-60, 60, 200), longitude=np.linspace(-170, 170, 200),
      tag_ids=tag_ids, photo_id=np.array([str(i) for i in range(200)]))
  config = locsens_config.locsens_section(batch_size=16)
  tagged = np.flatnonzero((tag_ids >= 0).any(1))
  a = train_locsens.make_batch(data, tagged, 12, config, 7)
  b = train_locsens.make_batch(data, tagged, 12, config, 7)
  c = train_locsens.make_batch(data, tagged, 12, config, 8)
  assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["tag"], c["tag"])
  assert a["neg_image"].shape == (16, 6, 8) and a["image"].shape == (16, 8)


def test_location_schedules():
  drop = locsens_config.locsens_section(location_balancing="dropout", no_location_fraction=0.3,
                                        location_dropout=0.5)
  keep = [float(train_locsens.location_keep_probability(s, 100, drop)) for s in (0, 29, 30, 99)]
  assert keep == [0.0, 0.0, 0.5, 0.5]
  sample = locsens_config.locsens_section(location_balancing="sampling", sampling_km=1000.0,
                                          sampling_anneal_fraction=0.5)
  spread = [float(train_locsens.sampling_spread_km(s, 100, sample)) for s in (0, 25, 50, 80)]
  assert spread == pytest.approx([1000.0, 500.0, 0.0, 0.0])
  assert float(train_locsens.location_keep_probability(5, 100, sample)) == 1.0
  assert float(train_locsens.sampling_spread_km(5, 100, drop)) == 0.0
  # Moved points lie |N(0, s)| km away: mean distance s * sqrt(2 / pi).
  lat = jnp.full((20000,), 41.39)
  lon = jnp.full((20000,), 2.17)
  lat2, lon2 = train_locsens.move_locations(jax.random.key(0), lat, lon, jnp.float32(300.0))
  km = distance.great_circle_km(41.39, 2.17, np.asarray(lat2, np.float64),
                                np.asarray(lon2, np.float64))
  assert km.mean() == pytest.approx(300 * np.sqrt(2 / np.pi), rel=0.03)
  still = train_locsens.move_locations(jax.random.key(0), lat, lon, jnp.float32(0.0))
  np.testing.assert_allclose(still[0], lat, atol=1e-4)
  np.testing.assert_allclose(still[1], lon, atol=1e-4)


def test_margin_ranking_loss_by_hand():
  positive = jnp.array([1.0, 0.2])
  negative = jnp.array([[0.95, 0.5], [0.0, 0.9]])
  valid = jnp.array([[True, True], [True, False]])
  loss, violated = train_locsens.margin_ranking_loss(positive, negative, valid, 0.1)
  # Hinges: 0.05, 0 | 0 (0.1 - 0.2 + 0 < 0), masked. Mean over the 3 valid ones.
  assert float(loss) == pytest.approx(0.05 / 3)
  assert float(violated) == pytest.approx(1 / 3)


def test_tagging_metrics_by_hand():
  truth = np.array([[1, 2, -1], [3, -1, -1], [4, 5, -1]])
  top = np.array([[2, 9, 8, 7, 6, 0, 10, 11, 12, 13],   # right at 1
                  [2, 9, 8, 7, 6, 0, 10, 11, 12, 3],    # right at 10
                  [2, 9, 8, 7, 6, 0, 10, 11, 12, 13]])  # never
  m = locsens_evaluate.tagging_metrics(top, truth)
  assert m["a@1"] == pytest.approx(1 / 3) and m["a@10"] == pytest.approx(2 / 3)
  # Distinct test tags {1,2,3,4,5}; top-1 predictions {2}: predicted 1/5, correct 1/5.
  assert m["tags_predicted"] == pytest.approx(0.2) and m["tags_correct"] == pytest.approx(0.2)
  assert locsens_evaluate.frequency_ranking(truth, 6, 3).tolist() == [1, 2, 3]


def test_retrieval_precision_by_hand():
  # Index: Barcelona with tag 7, Madrid (~505 km away) with tag 7, Barcelona without it.
  index_lat, index_lon = np.array([41.39, 40.42, 41.39]), np.array([2.17, -3.70, 2.17])
  index_tags = np.array([[7, -1], [7, 1], [1, -1]])
  top = np.array([[0, 1, 2] + [2] * 7])  # query: tag 7 at Barcelona
  m = locsens_evaluate.retrieval_metrics(top, np.array([7]), np.array([41.39]), np.array([2.17]),
                                index_tags, index_lat, index_lon)
  assert m["p@10/any"] == pytest.approx(0.2)
  assert m["p@10/750km"] == pytest.approx(0.2) and m["p@10/200km"] == pytest.approx(0.1)
  assert m["p@10/1km"] == pytest.approx(0.1)


def test_sharded_step_equals_one_device_step():
  config = locsens_config.locsens_section(projection_size=16, hidden_sizes=(32, 32),
                                          num_groups=8, batch_size=16, num_negatives=3,
                                          location_balancing="sampling")
  # SGD: Adam's first steps divide tiny gradients by their own size, amplifying rounding.
  config.optim.update(optimizer="sgd", learning_rate=0.1, momentum=0.9, warmup_steps=0)
  rng = np.random.default_rng(0)
  batch = {"image": rng.normal(size=(16, 8)).astype(np.float32),
           "tag": rng.integers(0, 10, 16).astype(np.int32),
           "latitude": rng.uniform(-80, 80, 16).astype(np.float32),
           "longitude": rng.uniform(-170, 170, 16).astype(np.float32),
           "neg_image": rng.normal(size=(16, 3, 8)).astype(np.float32),
           "neg_tag": rng.integers(0, 10, (16, 3)).astype(np.int32),
           "neg_valid": np.ones((16, 3), bool)}
  table = rng.normal(size=(10, 8)).astype(np.float32)
  results = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = sharding.make_mesh(ml_collections.ConfigDict({"data": -1, "fsdp": 1}), devices)
    tx = scorer_lib.make_tx(config, 10, 10)
    graphdef, state, shardings = scorer_lib.create_state(config, 8, tx, mesh)
    step = jax.jit(functools.partial(train_locsens.train_step, graphdef=graphdef, tx=tx,
                                     config=config, total_steps=10),
                   in_shardings=(shardings, sharding.batch_sharding(mesh),
                                 sharding.replicated(mesh)))
    global_batch = {k: jax.device_put(v, sharding.batch_sharding(mesh))
                    for k, v in batch.items()}
    for _ in range(2):
      state, metrics = step(state, global_batch, jax.device_put(table,
                                                                sharding.replicated(mesh)))
    results.append((jax.device_get(state["params"]), float(metrics["loss"])))
  assert len(jax.devices()) == 8
  assert results[0][1] == pytest.approx(results[1][1], rel=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               results[0][0], results[1][0])


def test_tag_head_search_ranks_by_logit_and_skips_the_query_photo():
  rng = np.random.default_rng(0)
  images, tags = rng.normal(size=(40, 8)), rng.normal(size=(5, 8))
  bias = rng.normal(size=5)
  queries, exclude = np.array([0, 3, 3, 4]), np.array([7, 0, 39, 12])
  rows = locsens_evaluate.tag_head_search(images, tags, bias, queries, exclude, k=10, chunk=3)
  logits = tags[queries] @ images.T + bias[queries][:, None]
  logits[np.arange(4), exclude] = -np.inf
  np.testing.assert_array_equal(rows, np.argsort(-logits, 1)[:, :10])
