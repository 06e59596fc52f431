"""Transformer decoder over an image encoder's memory, with a KV cache for decoding.

`Model` = an image encoder from `htr/models/` (e.g. "swin.Swin": image -> feature grid
and its validity, read row by row as the memory) + a decoder of
pre-norm layers (causal self-attention, cross-attention over the encoder memory
with its padding masked, MLP), token embeddings tied to the output projection.

Entry points sharing the same parameters (`Model.apply(..., method=...)`):
  __call__(image, image_width, tokens)      teacher-forced logits [B, L, V] (training)
  encode(image, image_width)                 memory [B, M, D], memory_mask [B, M]
  init_cache(memory, memory_mask, length)    empty self-attention K/V buffers of `length`
                                             steps + the cross-attention K/V of the memory,
                                             computed once per image, not once per step
  decode_step(tokens, position, cache)       next-token logits [B, V], updated cache
Step-by-step decoding with the cache gives the logits of the full forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from htr import models
from htr.models.positions import sinusoidal

Cache = dict[str, Any]
_NEG = -1e9  # Added to masked attention logits (the softmax runs in float32).


def attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
  """q [B,Q,H,D], k/v [B,K,H,D], mask [B,Q,K] bool (True: may attend) -> [B,Q,H,D]."""
  logits = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) / np.sqrt(q.shape[-1])
  weights = jax.nn.softmax(jnp.where(mask[:, None], logits, _NEG), axis=-1)
  return jnp.einsum("bhqk,bkhd->bqhd", weights.astype(v.dtype), v)


class DecoderLayer(nn.Module):
  """Pre-norm causal self-attention, cross-attention and MLP, each residual.

  Attributes:
    num_heads: attention heads.
    mlp_dim: MLP hidden width.
    dropout: dropout on the residual branches.
    dtype: computation dtype (None: that of the inputs and parameters).
  """

  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Any = None

  @nn.compact
  def __call__(self, x, self_mask, cross_kv, cross_mask, start, cache=None, *, train: bool):
    """x [B,Q,D] -> (x, (k, v) buffers with this step written, or None without cache)."""
    dim, heads = x.shape[-1], self.num_heads
    drop = nn.Dropout(self.dropout, deterministic=not train)
    qkv = nn.DenseGeneral((3, heads, dim // heads), dtype=self.dtype, name="self_qkv")(
        nn.LayerNorm(dtype=self.dtype)(x))
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    if cache is not None:
      k, v = (jax.lax.dynamic_update_slice_in_dim(buf, new.astype(buf.dtype), start, axis=1)
              for buf, new in zip(cache, (k, v)))
      cache = (k, v)
    y = attend(q, k, v, self_mask)
    x = x + drop(nn.DenseGeneral(dim, axis=(-2, -1), dtype=self.dtype, name="self_out")(y))
    q = nn.DenseGeneral((heads, dim // heads), dtype=self.dtype, name="cross_q")(
        nn.LayerNorm(dtype=self.dtype)(x))
    y = attend(q, *cross_kv, cross_mask)
    x = x + drop(nn.DenseGeneral(dim, axis=(-2, -1), dtype=self.dtype, name="cross_out")(y))
    y = nn.Dense(self.mlp_dim, dtype=self.dtype, name="mlp_in")(
        nn.LayerNorm(dtype=self.dtype)(x))
    x = x + drop(nn.Dense(dim, dtype=self.dtype, name="mlp_out")(nn.gelu(y)))
    return x, cache


class Decoder(nn.Module):
  """Token embedding + positions, `DecoderLayer`s, tied output projection.

  Attributes:
    vocab_size: output classes (token ids).
    num_layers: decoder layers.
    dim: model width.
    num_heads: attention heads.
    mlp_dim: MLP hidden width.
    max_length: longest token sequence (positions table size).
    positions: "sinusoidal" (fixed) or "learned".
    dropout: dropout on embeddings and residual branches.
    dtype: computation dtype (None: that of the inputs and parameters).
  """

  vocab_size: int
  num_layers: int = 3
  dim: int = 256
  num_heads: int = 8
  mlp_dim: int = 1024
  max_length: int = 256
  positions: str = "sinusoidal"
  dropout: float = 0.1
  dtype: Any = None

  def setup(self):
    self.embed = nn.Embed(self.vocab_size, self.dim, dtype=self.dtype,
                          embedding_init=nn.initializers.normal(self.dim ** -0.5))
    if self.positions == "learned":
      self.position_table = self.param("position_table", nn.initializers.normal(0.02),
                                       (self.max_length, self.dim))
    elif self.positions == "sinusoidal":
      self.position_table = jnp.asarray(sinusoidal(self.max_length, self.dim))
    else:
      raise ValueError(f"positions={self.positions!r}: use 'sinusoidal' or 'learned'")
    self.memory_proj = nn.Dense(self.dim, dtype=self.dtype)
    self.cross_kv = [nn.DenseGeneral((2, self.num_heads, self.dim // self.num_heads),
                                     dtype=self.dtype) for _ in range(self.num_layers)]
    self.layers = [DecoderLayer(self.num_heads, self.mlp_dim, self.dropout, self.dtype)
                   for _ in range(self.num_layers)]
    self.final_norm = nn.LayerNorm(dtype=self.dtype)
    self.drop = nn.Dropout(self.dropout)

  def memory_kv(self, memory: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
    """Per layer, the cross-attention (K, V) [B, M, H, Dh] of the encoder memory."""
    m = self.memory_proj(memory)
    kvs = [layer(m) for layer in self.cross_kv]
    return [(kv[:, :, 0], kv[:, :, 1]) for kv in kvs]

  def __call__(self, tokens: jax.Array, start: jax.Array | int,
               cross: list[tuple[jax.Array, jax.Array]], memory_mask: jax.Array,
               cache: list[tuple[jax.Array, jax.Array]] | None = None, *, train: bool = False
               ) -> tuple[jax.Array, list[tuple[jax.Array, jax.Array]] | None]:
    """Logits [B, Q, V] of `tokens [B, Q]` at positions start..start+Q-1.

    Without `cache` the Q tokens attend causally to each other (teacher forcing).
    With it, their K/V are written into the buffers at `start` and they attend to
    every earlier position there; the updated buffers are returned.
    """
    batch, q_len = tokens.shape
    pos = jax.lax.dynamic_slice_in_dim(self.position_table, start, q_len)
    x = self.embed(tokens)
    x = x * jnp.asarray(np.sqrt(self.dim), x.dtype) + pos[None].astype(x.dtype)
    x = self.drop(x, deterministic=not train)
    query_pos = start + jnp.arange(q_len)
    key_pos = query_pos if cache is None else jnp.arange(cache[0][0].shape[1])
    self_mask = jnp.broadcast_to(query_pos[:, None] >= key_pos[None, :],
                                 (batch, q_len, key_pos.shape[0]))
    cross_mask = jnp.broadcast_to(memory_mask[:, None, :].astype(bool),
                                  (batch, q_len, memory_mask.shape[-1]))
    new_cache = []
    for i, layer in enumerate(self.layers):
      x, kv = layer(x, self_mask, cross[i], cross_mask, start,
                    None if cache is None else cache[i], train=train)
      new_cache.append(kv)
    logits = self.embed.attend(self.final_norm(x)).astype(jnp.float32)
    return logits, (new_cache if cache is not None else None)


def _flatten(grid: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
  """An encoder's grid [B, H', W', C] and valid [B, H', W'] -> memory [B, H'W', C], mask."""
  b, h, w, c = grid.shape
  return grid.reshape(b, h * w, c), valid.reshape(b, h * w)


class Model(nn.Module):
  """Image encoder + Transformer decoder: `image [B,H,W,1]` -> token logits.

  Attributes:
    vocab_size: output classes (token ids).
    encoder: {"name": a model name (htr/models/__init__.py), **its attributes}.
    decoder: `Decoder` attributes (num_layers, dim, num_heads, mlp_dim, ...).
    count_symbols: add the counting head (`symbol_counts`), for the task's counting loss.
    ctc_symbols: add the CTC head over the grid's cells (`symbol_ctc`), for the task's
      CTC loss.
    map_symbols: add a classifier of each grid cell's symbol (`symbol_map`), for the
      task's symbol-map loss.
    dtype: computation dtype, e.g. "bfloat16" (None: that of the inputs and parameters,
      which the trainer's `compute_dtype` casts).
  """

  vocab_size: int
  encoder: Mapping[str, Any]
  decoder: Mapping[str, Any]
  count_symbols: bool = False
  ctc_symbols: bool = False
  map_symbols: bool = False
  dtype: str | None = None

  def setup(self):
    dtype = None if self.dtype is None else jnp.dtype(self.dtype)
    self.image_encoder = models.build(self.encoder, dtype=dtype)
    self.text_decoder = Decoder(self.vocab_size, dtype=dtype, **dict(self.decoder))
    if self.count_symbols:
      # Starts at a density of sigmoid(-6) = 0.0025 everywhere: a memory of M cells
      # would otherwise count ~M / 2 of every token, and that loss would swamp the
      # decoder's in the first steps.
      self.symbol_density = nn.Dense(self.vocab_size, dtype=dtype,
                                     kernel_init=nn.initializers.zeros,
                                     bias_init=nn.initializers.constant(-6.0))
    if self.ctc_symbols:
      self.symbol_frames = nn.Dense(self.vocab_size, dtype=dtype)
    if self.map_symbols:
      self.symbol_classes = nn.Dense(self.vocab_size, dtype=dtype)

  def encode(self, image, image_width, *, train: bool = False):
    """memory [B, M, D]: the encoder's grid row by row; memory_mask [B, M]."""
    return _flatten(*self.image_encoder(image, image_width, train=train))

  def symbol_counts(self, memory: jax.Array, memory_mask: jax.Array) -> jax.Array:
    """[B, V] how many of each token the image holds: per-cell densities in (0, 1)
    summed over the memory's real cells (CAN's counting module, Li et al. 2022).

    Training them against the label's counts tells every encoder cell which symbols it
    shows before the decoder's attention has learnt where to look.
    """
    density = jax.nn.sigmoid(self.symbol_density(memory).astype(jnp.float32))
    return jnp.sum(density * memory_mask[..., None], axis=1)

  def symbol_ctc(self, grid: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(logits [B, W'H', V], frame mask [B, W'H']): the grid's cells, column by column
    from the left and each column from the top, as CTC frames over the vocabulary (id
    0, <pad>, is the blank).

    Joint CTC-attention training (Kim, Hori and Watanabe 2017): a CTC loss on the
    encoder teaches its cells to name the symbols they show, from the first steps,
    where the decoder's attention must first learn where to look. Cells rather than
    columns: a column of a 2-D expression may hold several symbols (a fraction's
    numerator over its denominator, scripts), and 16-pixel columns are too few for
    dense expressions.
    """
    b, h, w, c = grid.shape
    frames = jnp.moveaxis(grid, 2, 1).reshape(b, w * h, c)
    mask = jnp.moveaxis(valid, 2, 1).reshape(b, w * h)
    return self.symbol_frames(frames).astype(jnp.float32), mask

  def __call__(self, image, image_width, tokens, *, train: bool = False) -> jax.Array:
    """Teacher forcing: logits [B, L, V] for `tokens [B, L]` (predicting tokens[:, 1:]).

    With `count_symbols` / `ctc_symbols` / `map_symbols`, the memory's `symbol_counts` /
    the grid's `symbol_ctc` / `symbol_map` (logits [B, H', W', V] of each cell's symbol,
    <pad> for blank, and the cells' mask) are sown in "intermediates" for the task's
    auxiliary losses.
    """
    grid, valid = self.image_encoder(image, image_width, train=train)
    if self.map_symbols:
      self.sow("intermediates", "symbol_map",
               (self.symbol_classes(grid).astype(jnp.float32), valid))
    if self.ctc_symbols:
      self.sow("intermediates", "symbol_ctc", self.symbol_ctc(grid, valid))
    memory, memory_mask = _flatten(grid, valid)
    if self.count_symbols:
      self.sow("intermediates", "symbol_counts", self.symbol_counts(memory, memory_mask))
    cross = self.text_decoder.memory_kv(memory)
    return self.text_decoder(tokens, 0, cross, memory_mask, train=train)[0]

  def init_cache(self, memory, memory_mask, length: int) -> Cache:
    """Empty self-attention buffers of `length` steps + the memory's cross K/V."""
    cross = self.text_decoder.memory_kv(memory)
    zeros = jnp.zeros((memory.shape[0], length) + cross[0][0].shape[2:], cross[0][0].dtype)
    return {"self": [(zeros, zeros) for _ in cross], "cross": cross,
            "memory_mask": memory_mask}

  def decode_step(self, tokens: jax.Array, position: jax.Array, cache: Cache
                  ) -> tuple[jax.Array, Cache]:
    """Logits [B, V] after `tokens [B]` at `position`, and the cache with them written."""
    logits, self_cache = self.text_decoder(tokens[:, None], position, cache["cross"],
                                           cache["memory_mask"], cache["self"])
    return logits[:, 0], {**cache, "self": self_cache}
