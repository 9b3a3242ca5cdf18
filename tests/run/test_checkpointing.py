"""orbax checkpoints of sharded state, the grain iterator and metadata, and the metric writer."""

import json

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgeo.run import checkpointing, metrics, sharding


def _loader():
  return grain.DataLoader(
      data_source=list(range(100)),
      sampler=grain.samplers.IndexSampler(100, shuffle=True, seed=4, num_epochs=None),
      operations=[grain.transforms.Batch(8)])


def test_state_iterator_and_meta_round_trip(tmp_path):
  mesh = sharding.make_mesh(ml_collections.ConfigDict({"data": 4, "fsdp": 2}))
  spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("fsdp", None))
  state = {"w": jax.device_put(jnp.arange(32.0).reshape(8, 4), spec), "step": jnp.int32(7)}
  iterator = iter(_loader())
  for _ in range(3):
    next(iterator)
  ckpt = checkpointing.Checkpointer(tmp_path / "ckpt", save_every_steps=1)
  assert ckpt.save(7, state, iterator, {"epoch": 0.56})
  ckpt.wait()
  expected = [next(iterator) for _ in range(2)]

  fresh = iter(_loader())
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                          state)
  again = checkpointing.Checkpointer(tmp_path / "ckpt", save_every_steps=1)
  assert again.latest_step() == 7
  restored, meta = again.restore(7, abstract, fresh)
  np.testing.assert_array_equal(restored["w"], state["w"])
  assert restored["w"].sharding == spec  # restored with the requested sharding
  assert meta == {"epoch": 0.56}
  for want in expected:  # the data continues where it stopped
    np.testing.assert_array_equal(next(fresh), want)
  again.close()
  ckpt.close()


def test_a_model_is_restored_without_its_optimizer(tmp_path):
  """Prediction reads parameters and statistics only: the optimizer state stays on disk."""
  mesh = sharding.make_mesh(ml_collections.ConfigDict({"data": 8, "fsdp": 1}))
  params = {"w": jnp.arange(12.0).reshape(3, 4)}
  state = {"params": params, "rest": {"mean": jnp.ones(4)},
           "opt_state": {"momentum": jnp.full((3, 4), 9.0)}, "step": jnp.int32(5)}
  ckpt = checkpointing.Checkpointer(tmp_path, save_every_steps=1, async_save=False)
  ckpt.save(5, state, None, {"step": 5})
  ckpt.close()
  replicated = sharding.replicated(mesh)
  abstract = {"params": {"w": jax.ShapeDtypeStruct((3, 4), jnp.float32, sharding=replicated)},
              "rest": {"mean": jax.ShapeDtypeStruct((4,), jnp.float32, sharding=replicated)}}
  again = checkpointing.Checkpointer(tmp_path, save_every_steps=1)
  model = again.restore_model(5, abstract)
  again.close()
  assert sorted(model) == ["params", "rest"]
  np.testing.assert_array_equal(model["params"]["w"], params["w"])
  np.testing.assert_array_equal(model["rest"]["mean"], np.ones(4))
  assert model["params"]["w"].sharding == replicated


def test_retention_keeps_the_last_checkpoints(tmp_path):

  ckpt = checkpointing.Checkpointer(tmp_path, save_every_steps=2, keep=2, async_save=False)
  for step in range(1, 9):
    ckpt.save(step, {"x": jnp.float32(step)}, None, {})
  assert sorted(ckpt.manager.all_steps()) == [6, 8]
  ckpt.close()


def test_metric_writer(tmp_path):
  writer = metrics.MetricWriter(str(tmp_path))
  writer.write(10, {"loss": 2.5, "acc@25km": 0.1})
  writer.write(20, {"loss": float("nan")})
  writer.close()
  lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert lines[0] == {"step": 10, "loss": 2.5, "acc@25km": 0.1}
  assert lines[1]["step"] == 20
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_resume_from_the_latest_checkpoint_or_start_fresh(tmp_path):
  mesh = sharding.make_mesh(ml_collections.ConfigDict({"data": 4, "fsdp": 2}))
  spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("fsdp", None))
  start = {"w": jax.device_put(jnp.zeros((8, 4)), spec), "step": jnp.int32(0)}
  ckpt = checkpointing.Checkpointer(tmp_path / "ckpt", save_every_steps=1)
  state, first_step = ckpt.resume(start, None)
  assert state is start and first_step == 0  # nothing saved yet: the state as it was
  for step in (3, 5):
    ckpt.save(step, {"w": start["w"] + step, "step": jnp.int32(step)}, None, {}, force=True)
  ckpt.wait()
  again = checkpointing.Checkpointer(tmp_path / "ckpt", save_every_steps=1)
  state, first_step = again.resume(start, None, what="LocSens")
  assert first_step == 5 and state["w"].sharding == spec
  np.testing.assert_array_equal(state["w"], np.full((8, 4), 5.0))
  again.close()
  ckpt.close()
