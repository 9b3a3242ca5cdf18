"""Training and evaluation: `train_and_evaluate(config, workdir)`.

Read top to bottom: data, mesh, model (born sharded), optimizer, steps, restore, loop, final
evaluation. The hot path is a pure `jax.jit` function over the split NNX state, with explicit
NamedShardings; the state is a plain pytree that orbax saves together with the grain iterator.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from flax import nnx

from jaxgeo import evaluate as evaluate_lib, prepare
from jaxgeo.data import embedding_batches as embedding_batches_lib, landmark_ids as landmark_ids_lib
from jaxgeo.data import pipeline, vocab as vocab_lib
from jaxgeo.geo import hierarchy as hierarchy_lib, partitions as partitions_lib
from jaxgeo.models import backbones
from jaxgeo.retrieval import gallery as gallery_lib
from jaxgeo.run import checkpointing, distributed, embeddings as embeddings_lib
from jaxgeo.run import metrics as metrics_lib
from jaxgeo.run import optim, restore, sharding, state as state_lib, workdir as workdir_lib

State = state_lib.State


def masked_cross_entropy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean cross-entropy and top-1 accuracy over the examples with a label (labels >= 0)."""
  mask = labels >= 0
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(labels, 0))
  count = jnp.maximum(mask.sum(), 1)
  correct = (jnp.argmax(logits, -1) == labels) & mask
  return jnp.sum(ce * mask) / count, correct.sum() / count


def compute_loss(outputs: dict[str, jax.Array], batch: dict[str, jax.Array],
                 partition_names: tuple[str, ...],
                 loss_weights: ml_collections.ConfigDict
                 ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Weighted sum of the heads' losses; the geo heads are averaged, as the seeds do."""
  metrics = {}
  geo = []
  for name in partition_names:
    ce, acc = masked_cross_entropy(outputs[f"geo/{name}"], batch[f"label_{name}"])
    geo.append(ce)
    metrics[f"loss/{name}"], metrics[f"top1/{name}"] = ce, acc
  loss = loss_weights.geo * sum(geo) / len(geo) if geo else jnp.zeros((), jnp.float32)
  if "tag" in outputs:
    ce, acc = masked_cross_entropy(outputs["tag"], batch["tag"])
    loss += loss_weights.tag * ce
    metrics["loss/tag"], metrics["top1/tag"] = ce, acc
  if "landmark" in outputs:
    ce, acc = masked_cross_entropy(outputs["landmark"], batch["landmark"])
    loss += loss_weights.landmark * ce
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


def heads_train_step(state: State, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef,
                     tx: optax.GradientTransformation, partition_names: tuple[str, ...],
                     loss_weights: ml_collections.ConfigDict
                     ) -> tuple[State, dict[str, jax.Array]]:
  """One step of the heads on a frozen backbone's extracted embeddings (`batch["embedding"]`);
  `tx` leaves the backbone where it is (jaxgeo.run.optim.freeze)."""

  def loss_fn(params):
    model = nnx.merge(graphdef, params, state["rest"], copy=True)
    model.train()
    return compute_loss(model.heads(batch["embedding"]), batch, partition_names, loss_weights)

  (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  metrics["grad_norm"] = optax.tree.norm(grads)
  return {**state, "params": params, "opt_state": opt_state, "step": state["step"] + 1}, metrics


def embedding_batches(config: ml_collections.ConfigDict, workdir: workdir_lib.Workdir,
                      run: restore.TrainedRun, partitions: Sequence[partitions_lib.Partition]
                      ) -> embedding_batches_lib.EmbeddingBatches:
  """The frozen backbone's embeddings of the training split, extracted once (resumable shards
  under `<workdir>/embeddings`), as training batches."""
  name = config.data.train
  pretrained_file = epath.Path(config.model.pretrained) if config.model.pretrained else None
  out_dir = embeddings_lib.extract_embeddings(
      run, name, "train", workdir.embeddings(name, "train"), batch_size=config.eval_batch_size,
      output="embedding", manifest_extra={
          "backbone": config.model.backbone, "image_size": config.image_size,
          "seed": config.seed, "pretrained": str(pretrained_file or ""),
          "pretrained_bytes": pretrained_file.stat().length if pretrained_file else 0})
  if jax.process_count() > 1:  # process 0 wrote the shards; the others read them next
    ocp.multihost.get_barrier_sync_fn()(key="jaxgeo:frozen_extract", timeout_ms=3600 * 1000)
  photos = embeddings_lib.load_embeddings(out_dir)
  logging.info("Frozen backbone: %d embeddings of %s:train (%d wide) in %s.", len(photos), name,
               photos.image.shape[1], out_dir)
  return embedding_batches_lib.EmbeddingBatches(
      photos.image, photos.latitude, photos.longitude,
      photos.tag_ids if config.model.tag_head else None, partitions, config.batch_size,
      config.seed)


def load_pretrained(graphdef: nnx.GraphDef, state: State, path: str,
                    tx: optax.GradientTransformation) -> State:
  """Loads pretrained backbone weights (ResNets: torchvision/timm or Keras v2 files; ViTs: CLIP
  or SigLIP image towers) into a fresh state."""
  model = nnx.merge(graphdef, state["params"], state["rest"])
  report = backbones.load_weights(model.backbone, path)
  logging.info("Pretrained backbone from %s: %d arrays loaded, %d entries skipped (%s).", path,
               len(report.loaded), len(report.skipped), ", ".join(report.skipped[:10]))
  _, params, rest = nnx.split(model, nnx.Param, ...)
  return {**state, "params": params, "rest": rest, "opt_state": tx.init(params)}


def _flatten_results(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
  return {f"eval/{spec}/{predictor}/{key}": value
          for spec, per_predictor in results.items()
          for predictor, metrics in per_predictor.items() for key, value in metrics.items()}


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: workdir_lib.PathLike | workdir_lib.Workdir) -> dict[str, Any]:
  """Prepares data, trains `config.model` and evaluates it; returns the final metrics."""
  workdir = workdir_lib.Workdir(workdir)
  evaluate_lib.check_evals(config.evals, config)  # a config error, before any work
  if config.model.freeze_backbone and config.model.landmark_head:
    raise ValueError("model.freeze_backbone trains the heads on the backbone's pooled "
                     "embeddings, but the landmark head reads its feature map: set "
                     "model.landmark_head=False, or train the whole model.")
  # Data: the prepared data sets, partitions with their hierarchy, the tag vocabulary.
  data = distributed.main_process_first(prepare.prepare_data, config, workdir)
  hierarchy = None  # a landmarks-only run has no partitions
  if data.partition_names:
    hierarchy = hierarchy_lib.make_hierarchy(
        partitions_lib.load_partitions(data.partitions_dir, data.partition_names))
  partitions = hierarchy.partitions if hierarchy else ()
  names = tuple(p.name for p in partitions)
  landmark_ids = None  # the GLDv2 landmark id of each landmark class
  if config.model.landmark_head:
    ids_path = restore.dataset_landmark_ids(config, data.data_dir)
    landmark_ids = landmark_ids_lib.read(ids_path).ids
    if jax.process_index() == 0:  # the workdir alone is enough to predict with
      ids_path.copy(workdir.landmark_ids, overwrite=True)
  vocabulary = None
  if config.model.tag_head:
    counts = vocab_lib.read_tag_counts(
        vocab_lib.tag_counts_path(pipeline.dataset_dir(config.data.train, data.data_dir)))
    vocabulary = vocab_lib.make_vocabulary(counts, config.model.vocabulary_size)
    if jax.process_index() == 0:
      vocabulary.save(workdir.vocabulary)
  train_source = pipeline.open_split(config.data.train, "train", data.data_dir)
  if landmark_ids is not None and restore.landmark_source_of(config) != config.data.train:
    # Landmark photos (GLDv2) mixed into the geolocation stream: they train the landmark head
    # (and the backbone), their partition and tag labels are -1 (masked); the geolocation
    # photos' landmark label is -1 in turn. An epoch is one pass over the mixed source.
    landmark_source = pipeline.open_split(config.data.landmarks, "train", data.data_dir)
    train_source = pipeline.MixedSource(train_source, landmark_source,
                                        config.data.landmark_share)
    logging.info("Mixing %d photos of %s (%d distinct) into the training stream (%.0f%%).",
                 train_source.num_extra, config.data.landmarks, len(landmark_source),
                 100 * config.data.landmark_share)
  steps_per_epoch = max(1, len(train_source) // config.batch_size)
  total_steps = optim.steps_of(config, "train", steps_per_epoch)
  logging.info("Training on %d photos, %d steps of %d (%.1f epochs); partitions %s.",
               len(train_source), total_steps, config.batch_size,
               total_steps / steps_per_epoch, {p.name: p.num_classes for p in partitions})

  # Mesh and the input shardings.
  mesh = sharding.make_mesh(config.mesh)
  batch_sharding = sharding.batch_sharding(mesh)
  if config.batch_size % jax.device_count():
    raise ValueError(f"config.batch_size ({config.batch_size}) must divide over "
                     f"{jax.device_count()} devices.")

  # Model and optimizer state, born sharded: shapes first, then a jitted init.
  num_classes = {p.name: p.num_classes for p in partitions}
  vocabulary_size = len(vocabulary) if vocabulary else 0
  num_landmarks = len(landmark_ids) if landmark_ids is not None else 0
  schedule = optim.make_learning_rate_schedule(config.optim, steps_per_epoch, total_steps)
  tx = optim.make_optimizer(config.optim, schedule)
  frozen = config.model.freeze_backbone
  if frozen:  # the heads train on the backbone's extracted embeddings; it never moves
    tx = optim.freeze(tx, "backbone")
  graphdef, state, state_shardings = state_lib.create_geolocator_state(
      config, num_classes, vocabulary_size, tx, mesh, num_landmarks)

  # The jitted steps.
  step_fn = jax.jit(
      functools.partial(heads_train_step, graphdef=graphdef, tx=tx, partition_names=names,
                        loss_weights=config.loss) if frozen else
      functools.partial(train_step, graphdef=graphdef, tx=tx, partition_names=names,
                        loss_weights=config.loss, seed=config.seed),
      in_shardings=(state_shardings, batch_sharding),
      out_shardings=(state_shardings, sharding.replicated(mesh)), donate_argnums=0)

  # Data iterator (images; none on a frozen backbone: its batches are functions of the step)
  # and checkpoint restore (state and iterator together).
  data_iter = None if frozen else iter(pipeline.make_train_loader(
      train_source, batch_size=config.batch_size // jax.process_count(),
      image_size=config.image_size, partitions=partitions, vocabulary=vocabulary,
      seed=config.seed, worker_count=config.data_workers))
  ckpt = checkpointing.Checkpointer(workdir.checkpoints,
                                    config.checkpoint_every_steps, config.keep)
  fresh = ckpt.latest_step() is None
  state, first_step = ckpt.resume(state, data_iter)
  if fresh and config.model.pretrained:
    state = load_pretrained(graphdef, state, config.model.pretrained, tx)
  if frozen:
    run = restore.TrainedRun(
        workdir=workdir, config=config, data_dir=data.data_dir, hierarchy=hierarchy,
        vocabulary=vocabulary, landmark_ids=None, graphdef=graphdef,
        state={"params": state["params"], "rest": state["rest"]}, step=0, mesh=mesh)
    next_batch = embedding_batches(config, workdir, run, partitions)
  else:
    def next_batch(step: int) -> dict:
      del step  # the iterator holds the position
      return next(data_iter)

  # The loop.
  writer = metrics_lib.MetricWriter(workdir)
  bar = metrics_lib.progress_bar(total_steps, first_step)
  log = metrics_lib.StepLog(writer, bar, schedule, prefix="train")
  for step in range(first_step + 1, total_steps + 1):
    batch = pipeline.to_global_arrays(next_batch(step), batch_sharding)
    state, step_metrics = step_fn(state, batch)
    log.add(step, step_metrics)
    if step % config.log_every_steps == 0 or step == total_steps:
      log.flush(step)
    ckpt.save(step, state, data_iter, {"step": step, "epoch": step / steps_per_epoch},
              force=step == total_steps)
    if config.eval_every_steps and step % config.eval_every_steps == 0 and (
        step < total_steps):  # the final evaluation follows the loop
      results = evaluate_lib.evaluate_datasets(state, graphdef, hierarchy, config, data.data_dir,
                                               config.evals, batch_sharding,
                                               landmark_ids=landmark_ids)
      writer.write(step, _flatten_results(results))
      log.restart_clock()
  bar.close()
  ckpt.wait()
  distributed.log_final_state(state, step_metrics if total_steps > first_step else None)

  # Final evaluation, with the baselines on the same photos; with a retrieval gallery (embedded
  # now by the final model), by retrieval and hybrid too.
  train_coordinates = (prepare.split_coordinates(config.data.train, "train", data.data_dir)
                       if hierarchy else None)
  gallery = None
  if hierarchy and gallery_lib.gallery_spec(config):
    gallery = gallery_lib.load_run_gallery(restore.TrainedRun(
        workdir=workdir, config=config, data_dir=data.data_dir, hierarchy=hierarchy,
        vocabulary=vocabulary, landmark_ids=landmark_ids, graphdef=graphdef,
        state={"params": state["params"], "rest": state["rest"]}, step=total_steps, mesh=mesh))
  results = evaluate_lib.evaluate_datasets(
      state, graphdef, hierarchy, config, data.data_dir, config.evals, batch_sharding,
      train_coordinates, workdir=workdir, landmark_ids=landmark_ids, gallery=gallery)
  writer.write(total_steps, _flatten_results(results))
  if jax.process_index() == 0:
    workdir_lib.write_json(workdir.results, results)
  writer.close()
  ckpt.close()
  return results
