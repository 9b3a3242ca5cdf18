"""Training and evaluation: `train_and_evaluate(config, workdir)`.

Read top to bottom: data, mesh, model (born sharded), optimizer, steps, restore, loop, final
evaluation. The hot path is a pure `jax.jit` function over the split NNX state, with explicit
NamedShardings; the state is a plain pytree that orbax saves together with the grain iterator.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import nnx

from jaxgeo import checkpointing, metrics as metrics_lib, optim, prepare, sharding
from jaxgeo.data import pipeline, vocab as vocab_lib
from jaxgeo.evaluators import geolocation
from jaxgeo.geo import hierarchy as hierarchy_lib, partitions as partitions_lib
from jaxgeo.models import geolocator

State = dict[str, Any]


def masked_cross_entropy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean cross-entropy and top-1 accuracy over the examples with a label (labels >= 0)."""
  mask = labels >= 0
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(labels, 0))
  count = jnp.maximum(mask.sum(), 1)
  correct = (jnp.argmax(logits, -1) == labels) & mask
  return jnp.sum(ce * mask) / count, correct.sum() / count


def compute_loss(outputs: dict[str, jax.Array], batch: dict[str, jax.Array],
                 partition_names: tuple[str, ...],
                 weights: ml_collections.ConfigDict) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Weighted sum of the heads' losses; the geo heads are averaged, as the seeds do."""
  metrics = {}
  geo = []
  for name in partition_names:
    ce, acc = masked_cross_entropy(outputs[f"geo/{name}"], batch[f"label_{name}"])
    geo.append(ce)
    metrics[f"loss/{name}"], metrics[f"top1/{name}"] = ce, acc
  loss = weights.get("geo", 1.0) * sum(geo) / len(geo)
  if "tag" in outputs:
    ce, acc = masked_cross_entropy(outputs["tag"], batch["tag"])
    loss += weights.get("tag", 1.0) * ce
    metrics["loss/tag"], metrics["top1/tag"] = ce, acc
  if "landmark" in outputs:
    ce, acc = masked_cross_entropy(outputs["landmark"], batch["landmark"])
    loss += weights.get("landmark", 1.0) * ce
    metrics["loss/landmark"], metrics["top1/landmark"] = ce, acc
  metrics["loss"] = loss
  return loss, metrics


def train_step(state: State, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef,
               tx: optax.GradientTransformation, partition_names: tuple[str, ...],
               loss_weights: ml_collections.ConfigDict,
               seed: int) -> tuple[State, dict[str, jax.Array]]:
  """One SGD step on the split state (params, rest = BatchNorm statistics etc.)."""
  dropout_key = jax.random.fold_in(jax.random.key(seed), state["step"])

  def loss_fn(params):
    model = nnx.merge(graphdef, params, state["rest"], copy=True)
    model.train()
    outputs = model(batch["image"], dropout_key=dropout_key)
    loss, metrics = compute_loss(outputs, batch, partition_names, loss_weights)
    return loss, (metrics, nnx.state(model, nnx.Not(nnx.Param)))

  (_, (metrics, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  metrics["grad_norm"] = optax.tree.norm(grads)
  return {"params": params, "rest": rest, "opt_state": opt_state,
          "step": state["step"] + 1}, metrics


def eval_errors_step(state: State, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef,
                     tree: hierarchy_lib.Hierarchy) -> dict[str, jax.Array]:
  """Great-circle errors (km) of each partition's head and of the hierarchy on one batch."""
  model = nnx.merge(graphdef, state["params"], state["rest"], copy=True)
  model.eval()
  images = batch["image"]
  if images.ndim == 5:  # (B, crops, H, W, C): vote over the crops
    b, c = images.shape[:2]
    outputs = model(images.reshape(b * c, *images.shape[2:]))
    outputs = {k: v.reshape(b, c, *v.shape[1:]) for k, v in outputs.items()}
  else:
    outputs = model(images)
  return geolocation.prediction_errors_km(tree, outputs, batch["latitude"], batch["longitude"])


def _parse_eval(spec: str) -> tuple[str, str]:
  """`name[:split]`, e.g. `geo_testsets/im2gps3k` or `yfcc100m_geo/yfcc100m:validation`."""
  name, _, split = spec.partition(":")
  return name, split or "test"


def evaluate(state: State, graphdef: nnx.GraphDef, tree: hierarchy_lib.Hierarchy,
             config: ml_collections.ConfigDict, data_dir: str, batch_sharding,
             train_coordinates: tuple[np.ndarray, np.ndarray] | None = None
             ) -> dict[str, dict[str, dict[str, float]]]:
  """Runs every data set of `config.evals`; with training coordinates, adds the baselines."""
  step = jax.jit(functools.partial(eval_errors_step, graphdef=graphdef, tree=tree))
  per_process = config.eval_batch_size // jax.process_count()
  results = {}
  for spec in config.evals:
    name, split = _parse_eval(spec)
    source = pipeline.open_split(name, split, data_dir)
    batches = pipeline.eval_batches(source, batch_size=per_process,
                                    image_size=config.image_size, partitions=tree.partitions,
                                    five_crop=config.get("five_crop", False),
                                    id_key=None)
    errors = geolocation.collect_errors(
        batches, lambda b: step(state, pipeline.to_global_arrays(b, batch_sharding)))
    if train_coordinates is not None:
      test = np.array([(source[i]["latitude"], source[i]["longitude"])
                       for i in range(len(source))], np.float64)
      errors.update(geolocation.baseline_errors(tree, *train_coordinates, test[:, 0],
                                                test[:, 1], seed=config.seed))
    order = [p.name for p in tree.partitions] + [geolocation.HIERARCHY]
    errors = {k: errors[k] for k in order + sorted(set(errors) - set(order))}
    results[spec], table = geolocation.report(errors)
    logging.info("Evaluation on %s (%d photos):\n%s", spec, len(source), table)
  return results


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Prepares data, trains `config.model` and evaluates it; returns the final metrics."""
  # Data: the prepared data sets, partitions with their hierarchy, the tag vocabulary.
  data = prepare.prepare_data(config, workdir)
  tree = hierarchy_lib.make_hierarchy(
      partitions_lib.load_partitions(data.partitions_dir, data.partition_names))
  names = tuple(p.name for p in tree.partitions)
  vocabulary = None
  if config.model.get("tag_head", True):
    counts = vocab_lib.read_tag_counts(os.path.join(
        data.data_dir, config.data.train, "1.0.0", "tag_counts_train.tsv"))
    vocabulary = vocab_lib.make_vocabulary(counts, config.model.vocabulary_size)
    vocabulary.save(os.path.join(workdir, "vocabulary.txt"))
  train_source = pipeline.open_split(config.data.train, "train", data.data_dir)
  steps_per_epoch = max(1, len(train_source) // config.batch_size)
  total_steps = optim.steps_of(config, "train", steps_per_epoch)
  logging.info("Training on %d photos, %d steps of %d (%.1f epochs); partitions %s.",
               len(train_source), total_steps, config.batch_size,
               total_steps / steps_per_epoch, {p.name: p.num_classes for p in tree.partitions})

  # Mesh and the input shardings.
  mesh = sharding.make_mesh(config.mesh)
  batch_sharding = sharding.batch_sharding(mesh)
  if config.batch_size % jax.device_count():
    raise ValueError(f"config.batch_size ({config.batch_size}) must divide over "
                     f"{jax.device_count()} devices.")

  # Model and optimizer state, born sharded: shapes first, then a jitted init.
  num_classes = {p.name: p.num_classes for p in tree.partitions}
  vocabulary_size = len(vocabulary) if vocabulary else 0
  make = functools.partial(geolocator.make_model, config.model, num_classes, vocabulary_size,
                           0, config.seed)
  schedule = optim.make_learning_rate_schedule(config.optim, steps_per_epoch, total_steps)
  tx = optim.make_optimizer(config.optim, schedule)

  def init_state() -> State:
    _, params, rest = nnx.split(make(), nnx.Param, ...)
    return {"params": params, "rest": rest, "opt_state": tx.init(params),
            "step": jnp.zeros((), jnp.int32)}

  graphdef = nnx.graphdef(nnx.eval_shape(make))
  abstract_state = jax.eval_shape(init_state)
  state_shardings = sharding.param_shardings(abstract_state, mesh,
                                             config.mesh.get("fsdp_min_size", 2**18))
  state = jax.jit(init_state, out_shardings=state_shardings)()
  num_params = sum(x.size for x in jax.tree.leaves(state["params"]))
  logging.info("Model %s: %.2fM parameters.", config.model.backbone, num_params / 1e6)

  # The jitted steps.
  step_fn = jax.jit(
      functools.partial(train_step, graphdef=graphdef, tx=tx, partition_names=names,
                        loss_weights=config.loss, seed=config.seed),
      in_shardings=(state_shardings, batch_sharding),
      out_shardings=(state_shardings, sharding.replicated(mesh)), donate_argnums=0)

  # Data iterator and checkpoint restore (state and iterator together).
  loader = pipeline.make_train_loader(
      train_source, batch_size=config.batch_size // jax.process_count(),
      image_size=config.image_size, partitions=tree.partitions, vocabulary=vocabulary,
      seed=config.seed, worker_count=config.get("data_workers", 0))
  data_iter = iter(loader)
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"),
                                    config.checkpoint_every_steps, config.get("keep", 2))
  first_step = 0
  if ckpt.latest_step() is not None:
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                            abstract_state, state_shardings)
    state, meta = ckpt.restore(ckpt.latest_step(), abstract, data_iter)
    first_step = int(state["step"])
    logging.info("Resumed from step %d (%s).", first_step, meta)

  # The loop.
  writer = metrics_lib.MetricWriter(workdir)
  bar = metrics_lib.progress_bar(total_steps, first_step)
  pending: list[tuple[int, dict]] = []
  start = time.perf_counter()
  for step in range(first_step + 1, total_steps + 1):
    batch = pipeline.to_global_arrays(next(data_iter), batch_sharding)
    state, step_metrics = step_fn(state, batch)
    pending.append((step, step_metrics))
    bar.update(1)
    if step % config.log_every_steps == 0 or step == total_steps:
      host = [(s, jax.device_get(m)) for s, m in pending]
      for s, m in host:
        if not np.isfinite(m["loss"]):
          raise FloatingPointError(f"Non-finite loss {m['loss']} at step {s}; stopping. The "
                                   "last good checkpoint is in checkpoints/.")
      mean = {k: float(np.mean([m[k] for _, m in host])) for k in host[-1][1]}
      mean["learning_rate"] = float(schedule(step - 1))
      mean["steps_per_second"] = len(host) / (time.perf_counter() - start)
      writer.write(step, {f"train/{k}": v for k, v in mean.items()})
      bar.set_postfix(loss=f"{mean['loss']:.3f}")
      pending, start = [], time.perf_counter()
    ckpt.save(step, state, data_iter, {"step": step, "epoch": step / steps_per_epoch},
              force=step == total_steps)
  bar.close()
  ckpt.wait()

  # Final evaluation, with the baselines on the same photos.
  train_lat, train_lon = prepare.split_coordinates(config.data.train, "train", data.data_dir)
  results = evaluate(state, graphdef, tree, config, data.data_dir, batch_sharding,
                     (train_lat, train_lon))
  for spec, per_predictor in results.items():
    writer.write(total_steps, {f"eval/{spec}/{pred}/{k}": v
                               for pred, m in per_predictor.items() for k, v in m.items()})
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  writer.close()
  ckpt.close()
  return results
