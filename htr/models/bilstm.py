"""A bidirectional LSTM layer that runs fast on CPU, and a converter from Flax's cells.

Computes exactly what `nn.Bidirectional(nn.RNN(nn.OptimizedLSTMCell(H)), nn.RNN(...))`
computes with `seq_lengths` (tests/test_bilstm.py holds the two equal), but with
the structure that suits a latency-bound recurrence on CPU, where the time spent
per step (loop overhead, small kernels) matters more than FLOPs:
- the input projections of all timesteps and both directions are one matmul
  before the recurrence, so a step only multiplies the hidden state;
- both directions advance in the same scan step (one batched matmul of the
  stacked states), which halves the number of sequential steps;
- the backward direction reads each sequence reversed within its own length
  (one gather before and after the scan), so it starts at the true end of every
  sequence and the recurrence itself needs no masking: frames past a sequence's
  end come after all of its real frames in both directions and cannot reach them;
- the scan is unrolled (fewer loop trips).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# Gate order inside the 4H axis, the same as OptimizedLSTMCell's.
GATES = ("i", "f", "g", "o")


def _recurrent_init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32):
  """An orthogonal [H, H] block per direction and gate, like Flax's per-gate cells."""
  directions, hidden, gates_hidden = shape
  blocks = jax.vmap(lambda k: nn.initializers.orthogonal()(k, (hidden, hidden), dtype))(
      jax.random.split(key, directions * len(GATES)))
  blocks = blocks.reshape(directions, len(GATES), hidden, hidden)
  return blocks.transpose(0, 2, 1, 3).reshape(directions, hidden, gates_hidden)


def reverse_within_lengths(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """`x [B, T, ...]` with each row's first `lengths[b]` frames reversed, the rest kept."""
  t = jnp.arange(x.shape[1])[None]
  index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)


class BiLSTM(nn.Module):
  """One bidirectional LSTM layer over padded sequences: [B, T, D] -> [B, T, 2H].

  Outputs are the forward then the backward hidden states, zero past each length.

  Attributes:
    units: hidden units per direction.
    unroll: scan steps per loop iteration.
  """

  units: int
  unroll: int = 8

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array) -> jax.Array:
    batch, frames, depth = x.shape
    hidden = self.units
    w_in = self.param("input_kernel", nn.initializers.lecun_normal(in_axis=0, out_axis=-1),
                      (depth, 2, 4 * hidden))
    w_rec = self.param("recurrent_kernel", _recurrent_init, (2, hidden, 4 * hidden))
    bias = self.param("bias", nn.initializers.zeros_init(), (2, 4 * hidden))
    dtype = x.dtype
    w_rec = w_rec.astype(dtype)

    # All timesteps, both directions, one matmul: [B, T, 2, 4H].
    proj = jnp.dot(x, w_in.astype(dtype).reshape(depth, -1)).reshape(batch, frames, 2, -1)
    proj = proj + bias.astype(dtype)
    backward = reverse_within_lengths(proj[:, :, 1], lengths)
    proj = jnp.stack([proj[:, :, 0], backward], axis=0).transpose(2, 0, 1, 3)  # [T, 2, B, 4H]

    def step(carry, z):
      c, h = carry
      z = z + jnp.einsum("kbh,khg->kbg", h, w_rec)
      i, f, g, o = jnp.split(z, 4, axis=-1)
      c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
      h = jax.nn.sigmoid(o) * jnp.tanh(c)
      return (c, h), h

    def block(carry, zs):
      hs = []
      for z in zs:
        carry, h = step(carry, z)
        hs.append(h)
      return carry, jnp.stack(hs)

    # Unrolled by hand rather than with scan's `unroll`, which cannot split a
    # symbolic frame count (shape-polymorphic export): the frames are padded to
    # whole blocks, and padding after a sequence's end cannot reach its frames.
    size = min(self.unroll, max(frames, 1)) if isinstance(frames, int) else self.unroll
    blocks = -(-frames // size)
    proj = jnp.concatenate([proj, jnp.zeros((blocks * size - frames,) + proj.shape[1:], dtype)])
    zeros = jnp.zeros((2, batch, hidden), dtype)
    _, hs = jax.lax.scan(block, (zeros, zeros), proj.reshape((blocks, size) + proj.shape[1:]))
    hs = hs.reshape((blocks * size,) + hs.shape[2:])[:frames]
    hs = hs.transpose(1, 2, 0, 3)  # [2, B, T, H]
    out = jnp.concatenate([hs[0], reverse_within_lengths(hs[1], lengths)], axis=-1)
    valid = jnp.arange(frames)[None, :, None] < lengths[:, None, None]
    return jnp.where(valid, out, 0)


def from_flax_cells(forward: dict, backward: dict) -> dict:
  """BiLSTM params from the params of two `OptimizedLSTMCell`s (or `LSTMCell`s).

  Each cell has per-gate `i{gate}` input kernels [D, H] and `h{gate}` recurrent
  kernels [H, H] with biases; the fused layer stacks them by direction and
  concatenates them by gate.
  """
  cells = (forward, backward)
  return {
      "input_kernel": jnp.stack(
          [jnp.concatenate([c[f"i{g}"]["kernel"] for g in GATES], -1) for c in cells], axis=1),
      "recurrent_kernel": jnp.stack(
          [jnp.concatenate([c[f"h{g}"]["kernel"] for g in GATES], -1) for c in cells]),
      "bias": jnp.stack([jnp.concatenate([c[f"h{g}"]["bias"] for g in GATES]) for c in cells]),
  }
