"""The fused BiLSTM computes what Flax's nn.Bidirectional(nn.RNN) does, with the same params."""

import os
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from htr.models.bilstm import BiLSTM, _recurrent_init, from_flax_cells, reverse_within_lengths
from htr.models.lstm_ctc import Model, convert_flax_params


class _FlaxBiLSTM(nn.Module):
  """The straightforward version: two scans over OptimizedLSTMCells."""

  units: int

  @nn.compact
  def __call__(self, x, lengths):
    return nn.Bidirectional(nn.RNN(nn.OptimizedLSTMCell(self.units)),
                            nn.RNN(nn.OptimizedLSTMCell(self.units)))(x, seq_lengths=lengths)


def _valid(out, lengths):
  return [np.asarray(o[:n]) for o, n in zip(out, lengths)]


def test_recurrent_kernel_is_an_orthogonal_block_per_direction_and_gate():
  hidden = 8
  kernel = np.asarray(_recurrent_init(jax.random.key(0), (2, hidden, 4 * hidden)))
  blocks = [kernel[d, :, g * hidden:(g + 1) * hidden] for d in range(2) for g in range(4)]
  for block in blocks:
    np.testing.assert_allclose(block @ block.T, np.eye(hidden), atol=1e-5)
  assert len({block.tobytes() for block in blocks}) == 8


def test_seed_size_model_initialises():
  """Three layers of 256 in one jitted init: hung with batched QRs (see _recurrent_init).

  In a child process with one CPU device: the hang needs XLA's intra-op pool at its
  real size, which the tests' 8 fake devices change.
  """
  script = textwrap.dedent("""
      import jax, jax.numpy as jnp
      from htr.models.lstm_ctc import Model
      model = Model(num_classes=80, conv_features=(8,), conv_kernels=(3,), conv_strides=(1,),
                    lstm_units=(256, 256, 256))
      variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 16, 4)),
                                      jnp.array([16]))
      print(sum(x.size for x in jax.tree.leaves(variables)))
  """)
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        timeout=120, check=True, env={**os.environ, "XLA_FLAGS": ""})
  assert int(done.stdout.split()[-1]) > 3 * 8 * 256 * 256


def test_reverse_within_lengths():
  x = jnp.arange(10).reshape(2, 5)
  out = reverse_within_lengths(x, jnp.array([3, 5]))
  np.testing.assert_array_equal(out, [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]])


def test_layer_equals_flax_bidirectional_on_variable_lengths():
  x = jax.random.normal(jax.random.key(0), (4, 23, 7))
  lengths = jnp.array([23, 11, 1, 5])
  ref = _FlaxBiLSTM(9)
  params = ref.init(jax.random.key(1), x, lengths)["params"]
  expected = ref.apply({"params": params}, x, lengths)
  # Cells are created in the parent's scope: forward first, then backward.
  fused = from_flax_cells(params["OptimizedLSTMCell_0"], params["OptimizedLSTMCell_1"])
  got = BiLSTM(9, unroll=3).apply({"params": fused}, x, lengths)
  for e, g in zip(_valid(expected, lengths), _valid(got, lengths)):
    np.testing.assert_allclose(g, e, atol=1e-5, rtol=1e-5)
  # Past each length the fused layer outputs zeros.
  assert float(jnp.abs(got[1, 11:]).max()) == 0.0


def test_backward_starts_at_each_true_end():
  """Garbage after a sequence's end changes neither direction's real frames."""
  layer = BiLSTM(5)
  x = jax.random.normal(jax.random.key(0), (1, 8, 3))
  params = layer.init(jax.random.key(1), x, jnp.array([8]))
  short = layer.apply(params, x, jnp.array([8]))
  padded = jnp.concatenate([x, 50 * jnp.ones((1, 9, 3))], axis=1)
  long = layer.apply(params, padded, jnp.array([8]))
  np.testing.assert_allclose(long[0, :8], short[0], atol=1e-6)


def test_model_and_gradients_equal_flax_recurrence():
  kwargs = dict(num_classes=11, conv_features=(8, 8), conv_kernels=(3, 3), conv_strides=(1, 2),
                lstm_units=(6, 5), conv_dropout=0.0, lstm_dropout=0.0)
  ref, fast = Model(recurrence="flax", **kwargs), Model(**kwargs)
  x = jax.random.normal(jax.random.key(1), (3, 37, 4))
  lengths = jnp.array([37, 20, 2])
  variables = ref.init(jax.random.key(0), x, lengths)
  converted = {**variables, "params": convert_flax_params(variables["params"])}
  # The converted tree has exactly the fused model's own structure and shapes.
  own = fast.init(jax.random.key(0), x, lengths)["params"]
  assert (jax.tree.map(jnp.shape, own)
          == jax.tree.map(jnp.shape, converted["params"]))

  def loss(model, params):
    logits, out_lengths = model.apply({**variables, "params": params}, x, lengths)
    valid = jnp.arange(logits.shape[1])[None, :, None] < out_lengths[:, None, None]
    return jnp.sum(jnp.where(valid, jnp.sin(logits), 0.0)), (logits, out_lengths)

  (ref_loss, (ref_logits, ref_lengths)), ref_grads = jax.value_and_grad(
      lambda p: loss(ref, p), has_aux=True)(variables["params"])
  (fast_loss, (fast_logits, _)), fast_grads = jax.value_and_grad(
      lambda p: loss(fast, p), has_aux=True)(converted["params"])
  for e, g in zip(_valid(ref_logits, ref_lengths), _valid(fast_logits, ref_lengths)):
    np.testing.assert_allclose(g, e, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(fast_loss, ref_loss, rtol=1e-5)
  expected = convert_flax_params(ref_grads)
  for e, g in zip(jax.tree.leaves(expected), jax.tree.leaves(fast_grads)):
    np.testing.assert_allclose(g, e, atol=1e-5, rtol=1e-4)


def _while_bodies(hlo: str) -> list[str]:
  """The text of every while-loop body computation in compiled HLO."""
  computations = {}
  for block in hlo.split("\n\n"):
    header = block.strip().splitlines()[0] if block.strip() else ""
    name = header.split(" ", 1)[0].lstrip("%")
    computations[name] = block
  bodies = {part.split(",")[0].split(" ")[0].lstrip("%")
            for part in hlo.split("body=")[1:]}
  return [computations[name] for name in bodies if name in computations]


def test_directions_split_over_model_axis_without_communication_in_the_loop():
  """With the config's rules and model=2, each device runs one direction's recurrence.

  Same outputs as one device, and no collective inside any recurrence loop: the
  two directions never talk while they run (what makes it fast on two cores).
  """
  from configs import online_ctc
  from htr import sharding
  from jax.sharding import NamedSharding, PartitionSpec as P
  model = Model(num_classes=11, conv_features=(8,), conv_kernels=(3,), conv_strides=(1,),
                lstm_units=(6, 5))
  x = jax.random.normal(jax.random.key(1), (4, 29, 4))
  lengths = jnp.array([29, 20, 2, 13])
  variables = model.init(jax.random.key(0), x, lengths)
  apply = jax.jit(lambda v, x, n: model.apply(v, x, n)[0])
  expected = apply(variables, x, lengths)

  mesh = sharding.create_mesh((("data", -1), ("model", 2)))
  shardings = sharding.tree_shardings(variables, mesh, online_ctc.SHARDING_RULES)
  assert shardings["params"]["BiLSTM_0"]["recurrent_kernel"].spec == P("model")
  replicated = NamedSharding(mesh, P())
  split = jax.device_put(variables, shardings)
  inputs = jax.device_put((x, lengths), replicated)
  np.testing.assert_allclose(apply(*(split,) + inputs), expected, atol=1e-6)
  hlo = apply.lower(split, *inputs).compile().as_text()
  bodies = _while_bodies(hlo)
  assert bodies, "no recurrence loop found in the compiled program"
  for body in bodies:
    assert not any(op in body for op in ("all-gather", "all-reduce", "all-to-all",
                                         "collective-permute")), body[:2000]
