"""Mesh and shardings on the 8 fake CPU devices."""

import jax
import ml_collections
import pytest
from jax.sharding import PartitionSpec as P

from jaxgeo.run import sharding


def test_mesh_shapes():
  mesh = sharding.make_mesh(ml_collections.ConfigDict({"data": -1, "fsdp": 2}))
  assert dict(mesh.shape) == {"data": 4, "fsdp": 2}
  with pytest.raises(ValueError, match="data=3 x fsdp=2"):
    sharding.make_mesh(ml_collections.ConfigDict({"data": 3, "fsdp": 2}))


def test_param_specs():
  # A 12,893-class head (2048 x 12893): split along 2048, the largest divisible dimension.
  assert sharding.param_spec((2048, 12893), fsdp=4, min_size=2**18) == P("fsdp", None)
  assert sharding.param_spec((3, 3, 64, 64), fsdp=4, min_size=2**18) == P()  # small: replicate
  assert sharding.param_spec((2048, 12893), fsdp=1, min_size=0) == P()
  assert sharding.param_spec((7, 13), fsdp=2, min_size=0) == P()  # nothing divisible


def test_param_shardings_of_a_tree():
  mesh = sharding.make_mesh(ml_collections.ConfigDict({"data": 2, "fsdp": 4}))
  tree = {"head": jax.ShapeDtypeStruct((512, 1024), "float32"),
          "bias": jax.ShapeDtypeStruct((1024,), "float32")}
  specs = jax.tree.map(lambda s: s.spec, sharding.param_shardings(tree, mesh, min_size=2000))
  assert specs == {"head": P(None, "fsdp"), "bias": P()}
