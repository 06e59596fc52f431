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
- the scan is unrolled (fewer loop trips);
- the gradient is written by hand (`_recurrence`'s custom VJP): the backward
  loop only propagates the gate gradients through the hidden state, and the
  recurrent kernel's gradient is one matmul over all timesteps after it, where
  autodiff would accumulate a small outer product into the kernel every step;
- the reversal's gradient is the same gather (it is its own inverse), where
  autodiff would scatter-add, which is slow on CPU.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# Gate order inside the 4H axis, the same as OptimizedLSTMCell's.
GATES = ("i", "f", "g", "o")

# `config.sharding_rules` that put each BiLSTM's direction axis over the mesh's "model"
# axis: with two devices there, each runs one direction's recurrence (its kernel stays
# in that core's cache) with no communication inside the loop (tests/test_bilstm.py).
# Any model whose BiLSTMs are its own auto-named children (`BiLSTM_0`, ...) can use them.
DIRECTION_SHARDING_RULES = (
    (r"BiLSTM_\d+/input_kernel$", (None, "model")),  # [D, 2, 4H]
    (r"BiLSTM_\d+/(recurrent_kernel|bias)$", ("model",)),  # [2, H, 4H], [2, 4H]
)


def _recurrent_init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32):
  """An orthogonal [H, H] block per direction and gate, like Flax's per-gate cells.

  The blocks are drawn one at a time (`lax.map`), not batched (`vmap`): jaxlib's
  batched CPU QR fans its batch out over XLA's intra-op thread pool and waits for
  it, so two layers' batched QRs running at once on a 2-thread pool each hold a
  thread and wait for the other's, and `init` never finishes (jax/jaxlib 0.10.2,
  H >= 192, two or more layers). Same values either way.
  """
  directions, hidden, gates_hidden = shape
  blocks = jax.lax.map(lambda k: nn.initializers.orthogonal()(k, (hidden, hidden), dtype),
                       jax.random.split(key, directions * len(GATES)))
  blocks = blocks.reshape(directions, len(GATES), hidden, hidden)
  return blocks.transpose(0, 2, 1, 3).reshape(directions, hidden, gates_hidden)


def _reversed_index(frames: int, lengths: jax.Array) -> jax.Array:
  """Frame indices [B, T] that reverse each row's first `lengths[b]` frames, keep the rest."""
  t = jnp.arange(frames)[None]
  return jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)


def _direction_order(frames: int, lengths: jax.Array) -> jax.Array:
  """Frame order [2, B, T] of each direction: as written, then reversed within lengths."""
  reversed_index = _reversed_index(frames, lengths)
  return jnp.stack([jnp.broadcast_to(jnp.arange(frames)[None], reversed_index.shape),
                    reversed_index])


def reverse_within_lengths(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """`x [B, T, ...]` with each row's first `lengths[b]` frames reversed, the rest kept."""
  index = _reversed_index(x.shape[1], lengths)
  return _permute_frames(x, index.reshape(index.shape + (1,) * (x.ndim - 2)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _permute_frames(x: jax.Array, index: jax.Array, axis: int = 1) -> jax.Array:
  """Frames (along `axis`) of `x` gathered by `index`, a permutation that is its own inverse."""
  return jnp.take_along_axis(x, index, axis=axis)


def _permute_frames_fwd(x, index, axis):
  return _permute_frames(x, index, axis), index


def _permute_frames_bwd(axis, index, grad):
  return _permute_frames(grad, index, axis), None


_permute_frames.defvjp(_permute_frames_fwd, _permute_frames_bwd)


def _cell(z: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """One LSTM update from the gate pre-activations: (gate activations, c, h)."""
  i, f, g, o = jnp.split(z, 4, axis=-1)
  acts = jnp.concatenate([jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g),
                          jax.nn.sigmoid(o)], axis=-1)
  i, f, g, o = jnp.split(acts, 4, axis=-1)
  c = f * c + i * g
  return acts, c, o * jnp.tanh(c)


def _scan_blocks(body, carry, xs: tuple[jax.Array, ...]):
  """`lax.scan` over arrays [blocks, size, ...], each block's `size` steps unrolled by hand.

  Not scan's `unroll`, which cannot split a symbolic frame count (shape-polymorphic
  export); the caller pads the frames to whole blocks.
  """
  def block(carry, block_xs):
    ys = []
    for x in zip(*block_xs):
      carry, y = body(carry, x)
      ys.append(y)
    return carry, jax.tree.map(lambda *leaves: jnp.stack(leaves), *ys)
  return jax.lax.scan(block, carry, xs)


def _forward(proj: jax.Array, w_rec: jax.Array):
  """The recurrence over `proj [blocks, size, 2, B, 4H]`: hidden states, cells, gates."""
  def step(carry, inputs):
    (z,), (c, h) = inputs, carry
    acts, c, h = _cell(z + jnp.einsum("kbh,khg->kbg", h, w_rec), c)
    return (c, h), (h, c, acts)
  zeros = jnp.zeros(proj.shape[2:-1] + (w_rec.shape[1],), proj.dtype)
  return _scan_blocks(step, (zeros, zeros), (proj,))[1]


@jax.custom_vjp
def _recurrence(proj: jax.Array, w_rec: jax.Array) -> jax.Array:
  """Hidden states `[blocks, size, 2, B, H]` of both directions from their input projections."""
  return _forward(proj, w_rec)[0]


def _recurrence_fwd(proj, w_rec):
  hs, cs, acts = _forward(proj, w_rec)
  return hs, (w_rec, hs, cs, acts)


def _recurrence_bwd(residuals, grad_hs):
  w_rec, hs, cs, acts = residuals
  shape = hs.shape
  flat = lambda a: a.reshape((-1,) + a.shape[2:])  # [blocks, size, ...] -> [T, ...]
  zeros = jnp.zeros_like(hs[0, 0])
  # The state each step started from: zeros, then the previous step's.
  previous = lambda a: jnp.concatenate([zeros[None], flat(a)[:-1]]).reshape(shape)
  h_prev, c_prev = previous(hs), previous(cs)

  def step(carry, inputs):
    dh_next, dc_next = carry
    grad_h, c, c_before, acts = inputs
    i, f, g, o = jnp.split(acts, 4, axis=-1)
    tanh_c = jnp.tanh(c)
    dh = grad_h + dh_next
    dc = dc_next + dh * o * (1 - tanh_c ** 2)
    dz = jnp.concatenate([dc * g * i * (1 - i), dc * c_before * f * (1 - f),
                          dc * i * (1 - g ** 2), dh * tanh_c * o * (1 - o)], axis=-1)
    return (jnp.einsum("kbg,khg->kbh", dz, w_rec), dc * f), dz

  reverse = lambda a: a[::-1, ::-1]
  _, dz = _scan_blocks(step, (zeros, zeros),
                       tuple(map(reverse, (grad_hs, cs, c_prev, acts))))
  dz = reverse(dz)
  return dz, jnp.einsum("tkbh,tkbg->khg", flat(h_prev), flat(dz))


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


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
    # The direction axis leads from here to the output and nothing slices it, so
    # with the kernels split over a mesh axis each device runs one direction.
    order = _direction_order(frames, lengths)
    proj = _permute_frames(proj.transpose(2, 0, 1, 3), order[..., None], 2)  # [2, B, T, 4H]
    proj = proj.transpose(2, 0, 1, 3)  # [T, 2, B, 4H]

    # Frames padded to whole unrolled blocks: padding after a sequence's end
    # cannot reach its frames.
    size = min(self.unroll, max(frames, 1)) if isinstance(frames, int) else self.unroll
    blocks = -(-frames // size)
    proj = jnp.concatenate([proj, jnp.zeros((blocks * size - frames,) + proj.shape[1:], dtype)])
    hs = _recurrence(proj.reshape((blocks, size) + proj.shape[1:]), w_rec)
    hs = hs.reshape((blocks * size,) + hs.shape[2:])[:frames]
    hs = _permute_frames(hs.transpose(1, 2, 0, 3), order[..., None], 2)  # [2, B, T, H]
    out = hs.transpose(1, 2, 0, 3).reshape(batch, frames, 2 * hidden)
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
