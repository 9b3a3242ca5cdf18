"""Stage 2: the LocSens triplet scorer, trained on embeddings extracted by a stage-1 run.

`train_and_evaluate(config, workdir)` reads top to bottom: embeddings (extracted once, resumable),
mesh, scorer (born sharded), optimizer, step, restore, loop, evaluation. The trainer spine is
stage 1's (jit with NamedShardings, optax, orbax, metrics, resume); what differs is the data:
triplets are sampled on the host from the step number alone (NumPy, vectorised), so a resumed run
sees the batches an uninterrupted one would, with no iterator to checkpoint.

Location balancing (the paper's two strategies, `locsens.location_balancing`):
  dropout:  progressive fusion: the first `no_location_fraction` of the steps see no location,
            then each triplet's location is zeroed with probability `location_dropout`.
  sampling: the location is moved a random distance (|N(0, sigma)| km, random bearing) from the
            truth, sigma annealed linearly from `sampling_km` to 0 over `sampling_anneal_fraction`
            of the steps.
  none:     the true location always.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from flax import nnx

from jaxgeo.data import pipeline
from jaxgeo.geo import distance
from jaxgeo.locsens import evaluate as locsens_evaluate, inputs as stage2_inputs
from jaxgeo.locsens import scorer as scorer_lib
from jaxgeo.run import checkpointing, embeddings as embeddings_lib, metrics as metrics_lib
from jaxgeo.run import optim, restore, sharding
from jaxgeo.run import state as state_lib, workdir as workdir_lib

State = state_lib.State


# Triplet sampling (host, NumPy, vectorised).
def sample_positives(rng: np.random.Generator, tag_ids: np.ndarray, tagged_rows: np.ndarray,
                     batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """Rows of photos with tags and one of each photo's tags, uniformly."""
  rows = tagged_rows[rng.integers(0, len(tagged_rows), batch_size)]
  counts = (tag_ids[rows] >= 0).sum(1)
  pick = np.minimum((rng.random(batch_size) * counts).astype(np.int64), counts - 1)
  return rows, tag_ids[rows, pick]


def sample_negatives(rng: np.random.Generator, tag_ids: np.ndarray, rows: np.ndarray,
                     tags: np.ndarray, num_negatives: int, vocabulary_size: int, mode: str,
                     tag_pool: np.ndarray | None = None, pool_share: float = 1.0,
                     tries: int = 8) -> dict[str, np.ndarray]:
  """Negatives of positive (photo `rows`, `tags`) pairs: another image or another tag.

  Retrieval mode replaces the image; tagging mode the image or the tag, with even odds. A
  replacement image never carries the positive tag; a replacement tag is never one of the
  photo's tags. Replacement tags are drawn from `tag_pool` (every tag occurrence of the
  training photos: tags as frequent as among the positives, so that the scorer cannot rank by
  tag frequency alone and must match tags to images and places) for a `pool_share` of the
  negatives, the others uniformly from the vocabulary (which teaches the frequency prior).
  Candidates are drawn `tries` times at once and the first admissible one kept;
  the rare triplet with none (`valid` False) is left out of the loss.

  Returns:
    image_rows (B, K) rows of the negatives' images, tags (B, K), valid (B, K).
  """
  if mode not in ("tagging", "retrieval"):
    raise ValueError(f"locsens.mode is {mode!r}; use tagging or retrieval.")
  b, k = len(rows), num_negatives
  replace_image = (np.ones((b, k), bool) if mode == "retrieval"
                   else rng.random((b, k)) < 0.5)
  image_candidates = rng.integers(0, len(tag_ids), (b, k, tries))
  image_ok = ~(tag_ids[image_candidates] == tags[:, None, None, None]).any(-1)
  tag_candidates = rng.integers(0, vocabulary_size, (b, k, tries))
  if tag_pool is not None:
    from_pool = rng.random((b, k, 1)) < pool_share
    tag_candidates = np.where(from_pool, tag_pool[rng.integers(0, len(tag_pool), (b, k, tries))],
                              tag_candidates)
  tag_ok = ~(tag_ids[rows][:, None, None, :] == tag_candidates[..., None]).any(-1)
  first_image = np.argmax(image_ok, -1)[..., None]
  first_tag = np.argmax(tag_ok, -1)[..., None]
  new_rows = np.take_along_axis(image_candidates, first_image, -1)[..., 0]
  new_tags = np.take_along_axis(tag_candidates, first_tag, -1)[..., 0]
  return {
      "image_rows": np.where(replace_image, new_rows, rows[:, None]),
      "tags": np.where(replace_image, tags[:, None], new_tags).astype(np.int32),
      "valid": np.where(replace_image, image_ok.any(-1), tag_ok.any(-1)),
  }


def make_batch(data: embeddings_lib.Embeddings, tagged_rows: np.ndarray, vocabulary_size: int,
               config: ml_collections.ConfigDict, step: int,
               tag_pool: np.ndarray | None = None) -> dict[str, np.ndarray]:
  """The global batch of `step`: positives, their negatives, and the images of both."""
  rng = np.random.default_rng([config.seed, step])
  rows, tags = sample_positives(rng, data.tag_ids, tagged_rows, config.batch_size)
  share = {"uniform": 0.0, "mixed": 0.5, "frequency": 1.0}[config.negative_tags]
  neg = sample_negatives(rng, data.tag_ids, rows, tags, config.num_negatives, vocabulary_size,
                         config.mode, tag_pool if share else None, share)
  return {"image": data.image[rows], "tag": tags.astype(np.int32),
          "latitude": data.latitude[rows].astype(np.float32),
          "longitude": data.longitude[rows].astype(np.float32),
          "neg_image": data.image[neg["image_rows"]], "neg_tag": neg["tags"],
          "neg_valid": neg["valid"]}


# Location balancing schedules (pure functions of the step, usable inside jit).
def location_keep_probability(step, total_steps: int, config: ml_collections.ConfigDict):
  """Probability that a triplet sees its location at `step` (progressive fusion + dropout)."""
  if config.location_balancing != "dropout":
    return jnp.ones((), jnp.float32)
  fused = step >= jnp.floor(config.no_location_fraction * total_steps)
  return jnp.where(fused, 1.0 - config.location_dropout, 0.0).astype(jnp.float32)


def sampling_spread_km(step, total_steps: int, config: ml_collections.ConfigDict):
  """Spread (km) of the location sampling at `step`: linear from `sampling_km` to 0."""
  if config.location_balancing != "sampling":
    return jnp.zeros((), jnp.float32)
  anneal = jnp.maximum(config.sampling_anneal_fraction * total_steps, 1.0)
  return (config.sampling_km * jnp.clip(1.0 - step / anneal, 0.0, 1.0)).astype(jnp.float32)


def move_locations(key: jax.Array, latitude: jax.Array, longitude: jax.Array,
                   spread_km: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Points |N(0, spread)| km from each location, at a uniform random bearing (on the sphere)."""
  k1, k2 = jax.random.split(key)
  dist = jnp.abs(jax.random.normal(k1, latitude.shape)) * spread_km / distance.EARTH_RADIUS_KM
  bearing = jax.random.uniform(k2, latitude.shape, maxval=2 * jnp.pi)
  lat1, lon1 = jnp.radians(latitude), jnp.radians(longitude)
  lat2 = jnp.arcsin(jnp.clip(jnp.sin(lat1) * jnp.cos(dist)
                             + jnp.cos(lat1) * jnp.sin(dist) * jnp.cos(bearing), -1.0, 1.0))
  lon2 = lon1 + jnp.arctan2(jnp.sin(bearing) * jnp.sin(dist) * jnp.cos(lat1),
                            jnp.cos(dist) - jnp.sin(lat1) * jnp.sin(lat2))
  lon2 = (lon2 + jnp.pi) % (2 * jnp.pi) - jnp.pi
  return jnp.degrees(lat2), jnp.degrees(lon2)


def margin_ranking_loss(positive: jax.Array, negative: jax.Array, valid: jax.Array,
                        margin: float) -> tuple[jax.Array, jax.Array]:
  """Mean of max(0, margin - s+ + s-) over valid negatives, and the share violating the margin."""
  hinge = jax.nn.relu(margin - positive[:, None] + negative)
  count = jnp.maximum(valid.sum(), 1)
  return jnp.sum(hinge * valid) / count, jnp.sum((hinge > 0) & valid) / count


def train_step(state: State, batch: dict[str, jax.Array], tag_table: jax.Array, *,
               graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
               config: ml_collections.ConfigDict, total_steps: int
               ) -> tuple[State, dict[str, jax.Array]]:
  """One step on a batch of positives and their negatives; all share the positive's location."""
  key = jax.random.fold_in(jax.random.key(config.seed), state["step"])
  drop_key, move_key = jax.random.split(key)
  b, k = batch["neg_tag"].shape
  keep = location_keep_probability(state["step"], total_steps, config)
  present = jax.random.bernoulli(drop_key, keep, (b,)).astype(jnp.float32)
  lat, lon = move_locations(move_key, batch["latitude"], batch["longitude"],
                            sampling_spread_km(state["step"], total_steps, config))

  def loss_fn(params):
    model = nnx.merge(graphdef, params)
    images = jnp.concatenate([batch["image"][:, None], batch["neg_image"]], 1)  # (B, 1+K, E)
    tags = tag_table[jnp.concatenate([batch["tag"][:, None], batch["neg_tag"]], 1)]
    tile = lambda x: jnp.broadcast_to(x[:, None], (b, k + 1))
    scores = model(images, tags, tile(lat), tile(lon), tile(present))  # (B, 1+K)
    loss, violated = margin_ranking_loss(scores[:, 0], scores[:, 1:], batch["neg_valid"],
                                         config.margin)
    return loss, {"loss": loss, "violated": violated,
                  "score_gap": jnp.mean(scores[:, 0] - jnp.mean(scores[:, 1:], -1))}

  (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  metrics["grad_norm"] = optax.tree.norm(grads)
  metrics["location_present"] = jnp.mean(present)
  return {"params": optax.apply_updates(state["params"], updates), "opt_state": opt_state,
          "step": state["step"] + 1}, metrics


def _global(x: np.ndarray, sharding_: jax.sharding.Sharding) -> jax.Array:
  """A host array that every process holds whole -> a global array (its slices per device)."""
  return jax.make_array_from_callback(x.shape, sharding_, lambda index: x[index])


def _latest_step(stage1_workdir: workdir_lib.Workdir) -> int | None:
  """The newest checkpoint of a stage-1 run, from its folder names (no orbax, no model)."""
  ckpt_dir = stage1_workdir.checkpoints
  steps = [int(d.name) for d in ckpt_dir.iterdir() if d.name.isdigit()] if (
      ckpt_dir.is_dir()) else []
  return max(steps) if steps else None


def extract(config: ml_collections.ConfigDict,
            workdir: workdir_lib.Workdir) -> dict[str, epath.Path]:
  """Extracts (or reuses) the embeddings of the train and test splits; saves tag embeddings."""
  stage1 = workdir_lib.Workdir(config.stage1_workdir)
  dirs = {role: stage2_inputs.embeddings_dir(workdir, config[role]) for role in ("train", "test")}
  if all(embeddings_lib.is_complete(d) and embeddings_lib.stage1_step(d) == _latest_step(stage1)
         for d in dirs.values()) and workdir.tag_embeddings.exists():
    logging.info("LocSens: reusing the extracted embeddings in %s.", list(dirs.values()))
    return dirs
  run = restore.load_trained_run(stage1)
  logging.info("LocSens: embeddings from %s (checkpoint of step %d).", stage1, run.step)
  stage2_inputs.save_tag_embeddings(run, workdir)
  for role in ("train", "test"):
    name, split = pipeline.parse_dataset(config[role])
    embeddings_lib.extract_embeddings(
        run, name, split, dirs[role],
        batch_size=config.extract_batch_size, shard_size=config.shard_size)
  if jax.process_count() > 1:  # process 0 wrote the shards; the others read them next
    ocp.multihost.get_barrier_sync_fn()(key="jaxgeo:locsens_extract", timeout_ms=3600 * 1000)
  return dirs


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: workdir_lib.PathLike | workdir_lib.Workdir) -> dict[str, Any]:
  """Extracts embeddings, trains the scorer of `config` (a `locsens` section), evaluates it.

  Writes into `workdir` (the stage-2 folder): config.json, vocabulary and tag embeddings,
  embeddings/, checkpoints/, metrics.jsonl, results.json. Returns the results.
  """
  workdir = workdir_lib.Workdir(workdir).make()
  if jax.process_index() == 0:
    workdir.config.write_text(config.to_json_best_effort(indent=2))

  # Data: embeddings of the train and test splits, and the tag table.
  dirs = extract(config, workdir)
  data = embeddings_lib.load_embeddings(dirs["train"])
  tag_table, _ = stage2_inputs.load_tag_table(workdir)
  tagged_rows = np.flatnonzero((data.tag_ids >= 0).any(1))
  if not len(tagged_rows):
    raise ValueError(f"{config.train} has no photo with a vocabulary tag: nothing to train on.")
  if config.negative_tags not in ("uniform", "mixed", "frequency"):
    raise ValueError(f"locsens.negative_tags is {config.negative_tags!r}; use uniform, mixed or "
                     "frequency.")
  tag_pool = data.tag_ids[data.tag_ids >= 0]
  steps_per_epoch = max(1, len(tagged_rows) // config.batch_size)
  total_steps = optim.steps_of(config, "train", steps_per_epoch)
  logging.info("LocSens: %d tagged photos of %d, vocabulary %d, %d steps of %d (%.1f epochs), "
               "mode %s, location balancing %s.", len(tagged_rows), len(data), len(tag_table),
               total_steps, config.batch_size, total_steps / steps_per_epoch, config.mode,
               config.location_balancing)

  # Mesh, scorer and optimizer, born sharded.
  mesh = sharding.make_mesh(config.mesh)
  if config.batch_size % jax.device_count():
    raise ValueError(f"locsens.batch_size ({config.batch_size}) must divide over "
                     f"{jax.device_count()} devices.")
  batch_sharding = sharding.batch_sharding(mesh)
  schedule = optim.make_learning_rate_schedule(config.optim, steps_per_epoch, total_steps)
  tx = optim.make_optimizer(config.optim, schedule)
  graphdef, state, state_shardings = scorer_lib.create_state(config, tag_table.shape[1], tx, mesh)
  tag_table_device = _global(tag_table, sharding.replicated(mesh))
  step_fn = jax.jit(
      functools.partial(train_step, graphdef=graphdef, tx=tx, config=config,
                        total_steps=total_steps),
      in_shardings=(state_shardings, batch_sharding, sharding.replicated(mesh)),
      out_shardings=(state_shardings, sharding.replicated(mesh)), donate_argnums=0)

  # Restore (the data needs no iterator: batches are functions of the step).
  ckpt = checkpointing.Checkpointer(workdir.checkpoints,
                                    config.checkpoint_every_steps, config.keep)
  state, first_step = ckpt.resume(state, None, what="LocSens")

  # The loop.
  writer = metrics_lib.MetricWriter(workdir)
  bar = metrics_lib.progress_bar(total_steps, first_step)
  log = metrics_lib.StepLog(writer, bar, schedule, prefix="locsens/train", what="LocSens")
  for step in range(first_step + 1, total_steps + 1):
    host = make_batch(data, tagged_rows, len(tag_table), config, step, tag_pool)
    batch = {key: _global(value, batch_sharding) for key, value in host.items()}
    state, step_metrics = step_fn(state, batch, tag_table_device)
    log.add(step, step_metrics)
    if step % config.log_every_steps == 0 or step == total_steps:
      log.flush(step)
    ckpt.save(step, state, None, {"step": step}, force=step == total_steps)
  bar.close()
  ckpt.wait()
  ckpt.close()

  # Evaluation on the test split, next to the baselines.
  model = nnx.merge(graphdef, state["params"])
  results = locsens_evaluate.evaluate_locsens(model, workdir, config, train=data)
  if jax.process_index() == 0:
    workdir_lib.write_json(workdir.results, results)
  writer.write(total_steps, locsens_evaluate.flatten_results(results))
  writer.close()
  return results
