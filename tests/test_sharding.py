"""Mesh construction, rule-based parameter shardings and global batches on 8 devices."""

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from htr import sharding


def test_mesh_fills_the_minus_one_axis():
  mesh = sharding.create_mesh((("data", -1), ("model", 2)))
  assert dict(mesh.shape) == {"data": 4, "model": 2}


@pytest.mark.parametrize("axes, message", [
    ((("data", 3),), "does not divide 8 devices"),
    ((("data", -1), ("model", -1)), "at most one mesh axis may be -1"),
    ((("data", 2), ("model", 2)), "does not use all 8 devices")])
def test_mesh_rejects_shapes_that_do_not_fit(axes, message):
  with pytest.raises(ValueError, match=message):
    sharding.create_mesh(axes)


def test_rules_match_by_path_and_default_to_replicated():
  mesh = sharding.create_mesh((("data", 4), ("model", 2)))
  params = {"encoder": {"dense": {"kernel": np.zeros((4, 8)), "bias": np.zeros(8)}}}
  out = sharding.tree_shardings(params, mesh, [("dense/kernel", (None, "model"))])
  assert out["encoder"]["dense"]["kernel"].spec == P(None, "model")
  assert out["encoder"]["dense"]["bias"].spec == P()
  with pytest.raises(ValueError, match="more axes"):
    sharding.tree_shardings(params, mesh, [("bias", (None, "model"))])


def test_rules_see_clean_paths_of_a_whole_train_state_and_typos_are_errors():
  """Attribute keys used to read `.params/...`, so `^params/...` rules matched nothing."""
  from htr.state import TrainState
  mesh = sharding.create_mesh((("data", 4), ("model", 2)))
  params = {"dense": {"kernel": np.zeros((4, 8))}}
  state = TrainState(np.int32(0), params, {}, ({"mu": params},))
  out = sharding.tree_shardings(state, mesh, [("^params/dense/kernel$", (None, "model")),
                                              ("mu/dense/kernel$", ("model",))])
  assert out.params["dense"]["kernel"].spec == P(None, "model")
  assert out.opt_state[0]["mu"]["dense"]["kernel"].spec == P("model")
  with pytest.raises(ValueError, match=r"\['dense/kernal'\] match no leaf .*opt_state/0/mu"):
    sharding.tree_shardings(state, mesh, [("dense/kernal", (None, "model"))])


def test_a_batch_is_split_over_the_data_axis():
  mesh = sharding.create_mesh((("data", -1), ("model", 1)))
  batch = {"x": np.arange(16, dtype=np.float32).reshape(8, 2)}
  out = sharding.BatchLayout(mesh).put(batch)
  assert len(out["x"].addressable_shards) == 8
  assert out["x"].addressable_shards[0].data.shape == (1, 2)
  np.testing.assert_array_equal(np.asarray(out["x"]), batch["x"])
  assert float(jax.jit(lambda b: b["x"].sum())(out)) == batch["x"].sum()


def test_rules_split_an_examples_own_axes_and_what_no_axis_divides_stays_whole():
  mesh = sharding.create_mesh((("data", -1), ("model", 2)))
  layout = sharding.BatchLayout(mesh, ((r"^image$", ("data", None, "model")),))
  batch = {"image": np.arange(4 * 3 * 6, dtype=np.float32).reshape(4, 3, 6),
           "lengths": np.arange(4, dtype=np.int32)}
  out = layout.put(batch)
  assert out["image"].sharding.spec == P("data", None, "model")
  assert out["image"].addressable_shards[0].data.shape == (1, 3, 3)  # 4 x 2 devices.
  assert out["lengths"].sharding.spec == P("data")
  np.testing.assert_array_equal(np.asarray(out["image"]), batch["image"])
  # One odd-width line: neither "data" (4 devices) nor "model" divides it.
  line = layout.put({"image": np.ones((1, 3, 5), np.float32)})["image"]
  assert line.sharding.spec == P(None, None, None)
  # Axes as a JSON config holds them (lists); several mesh axes on one array axis.
  both = sharding.BatchLayout(mesh, [["^image$", [None, None, ["data", "model"]]]])
  assert both.sharding("image", (4, 3, 16)).spec == P(None, None, ("data", "model"))
  assert both.sharding("image", (4, 3, 6)).spec == P(None, None, None)
  with pytest.raises(ValueError, match="more axes than image"):
    layout.sharding("image", (4, 6))

