"""The math model under tensor parallelism: same loss and updates as data parallelism alone."""


import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from htr import sharding, train
from htr import state as state_lib
from htr.text import latex
from htr.tasks import get_task

VOCAB = {"vocab": list(latex.SPECIALS) + list("0123456789+-=xy^_{}")}


@pytest.fixture
def math_config(load_config):
  """`math_config(model_axis, **overrides)`: the tiny math config."""
  def make(model_axis: int, **overrides):
    config = load_config("math_swin", f"runlocal,size=tiny,model_axis={model_axis}")
    config.update(overrides)
    return config
  return make


def _batch(task, size: int) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  batch = task.dummy_batch(size)
  batch["image"] = rng.random(batch["image"].shape, np.float32)
  batch["image_width"] = rng.integers(20, batch["image"].shape[2] + 1, size).astype(np.int32)
  n = batch["tokens"].shape[1]
  tokens = rng.integers(4, len(task.vocab), (size, n))
  lengths = rng.integers(3, 12, size)
  tokens[:, 0] = latex.BOS
  tokens[np.arange(size), lengths - 1] = latex.EOS
  tokens[np.arange(n)[None] >= lengths[:, None]] = latex.PAD
  batch["tokens"], batch["token_lengths"] = tokens.astype(np.int32), lengths.astype(np.int32)
  return batch


def _setup(config):
  """(jitted train step, initial state, batch, state shardings) on the config's mesh."""
  task = get_task(config, VOCAB)
  tx = state_lib.make_optimizer(config)
  mesh = sharding.create_mesh(config.mesh)
  state, shardings = state_lib.create_state(task, tx, mesh, config)
  step = jax.jit(train.make_train_step(task, tx, jax.random.key(0), config.compute_dtype),
                 in_shardings=(shardings, None),
                 out_shardings=(shardings, None))
  batch = sharding.BatchLayout(mesh).put(_batch(task, config.batch_size))
  return step, state, batch, shardings


def _run(config, steps: int = 2):
  step, state, batch, shardings = _setup(config)
  losses = []
  for _ in range(steps):
    state, aux = step(state, batch)
    losses.append(float(aux["loss"]))
  return losses, state, shardings


def test_tensor_parallel_matches_data_parallel_on_8_devices(math_config):
  assert jax.device_count() == 8
  plain_losses, plain, _ = _run(math_config(model_axis=1))
  tp_losses, tp, tp_shardings = _run(math_config(model_axis=2))
  # The rules really split parameters (and their Adam moments) over "model".
  specs = [s.spec for s in jax.tree.leaves(tp_shardings.params)]
  assert sum("model" in spec for spec in specs) >= 10
  qkv = tp_shardings.params["image_encoder"]["stage0_block0"]["WindowAttention_0"]["qkv"]
  assert qkv["kernel"].spec == P(None, None, "model", None)
  np.testing.assert_allclose(tp_losses, plain_losses, rtol=2e-5)
  # Kernels only: attention key biases have a zero true gradient (softmax ignores them),
  # so Adam turns reduction-order noise there into full-size steps of either sign.
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(plain.params),
                          jax.tree.leaves(tp.params)):
    if jax.tree_util.keystr(path).endswith("['kernel']"):
      np.testing.assert_allclose(a, b, atol=1e-4, err_msg=jax.tree_util.keystr(path))


def test_bfloat16_with_gradient_accumulation_updates_every_second_step(math_config):
  config = math_config(model_axis=1, compute_dtype="bfloat16")
  config.optimizer.accumulate_steps = 2
  step, state, batch, _ = _setup(config)
  initial = jax.device_get(state.params)
  state, aux = step(state, batch)
  assert np.isfinite(float(aux["loss"]))
  accumulated = jax.device_get(state.params)
  for _ in range(3):  # The first update has the warmup's learning rate 0.
    state, _ = step(state, batch)
  updated = jax.device_get(state.params)
  jax.tree.map(np.testing.assert_array_equal, initial, accumulated)
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(initial),
                                                      jax.tree.leaves(updated)))
  assert {x.dtype for x in jax.tree.leaves(updated)} == {np.dtype("float32")}
