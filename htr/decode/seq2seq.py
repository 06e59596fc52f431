"""Autoregressive search for encoder-decoder models, entirely inside jit.

Both searches drive a `step(tokens [N], position, cache) -> (logits [N, V], cache)`
function over a KV cache whose leaves all have the batch N as their leading axis,
in a `lax.while_loop` that stops when every sequence has ended (or at `max_length`).
Outputs exclude <bos>, end at the first <eos> (not included), and are padded with
`pad`. Beam search ranks hypotheses by log-probability / length**alpha (alpha=0:
raw sums, which favour short outputs; 1: per-token mean).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Step = Callable[[jax.Array, jax.Array, Any], tuple[jax.Array, Any]]


def greedy(step: Step, cache: Any, *, batch: int, bos: int, eos: int, pad: int,
           max_length: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(tokens [B, max_length], lengths [B], summed log-probabilities [B])."""

  def cond(state):
    t, _, done, *_ = state
    return (t < max_length) & ~jnp.all(done)

  def body(state):
    t, last, done, out, score, cache = state
    logits, cache = step(last, t, cache)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
    token = jnp.argmax(log_probs, axis=-1).astype(jnp.int32)
    score = score + jnp.where(done, 0.0, jnp.take_along_axis(log_probs, token[:, None], 1)[:, 0])
    done_now = done | (token == eos)
    out = out.at[:, t].set(jnp.where(done_now, pad, token))
    return t + 1, token, done_now, out, score, cache

  init = (jnp.array(0), jnp.full((batch,), bos, jnp.int32), jnp.zeros((batch,), bool),
          jnp.full((batch, max_length), pad, jnp.int32), jnp.zeros((batch,), jnp.float32),
          cache)
  _, _, _, out, score, _ = jax.lax.while_loop(cond, body, init)
  return out, jnp.sum(out != pad, axis=1).astype(jnp.int32), score


def scored_steps(lengths: jax.Array, max_length: int) -> jax.Array:
  """Steps a greedy output's score sums: its tokens, and the <eos> unless `max_length`
  cut the output first (as beam search counts them)."""
  return lengths + (lengths < max_length)


def length_normalized(score: jax.Array, length: jax.Array, alpha: float) -> jax.Array:
  """score / length**alpha, with length counting the <eos> (so never 0)."""
  return score / jnp.maximum(length, 1).astype(jnp.float32) ** alpha


def beam_search(step: Step, cache: Any, *, batch: int, beam: int, bos: int, eos: int,
                pad: int, max_length: int, alpha: float = 1.0
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(best tokens [B, max_length], lengths [B], normalised log-probabilities [B]).

  `cache` is for B sequences; each is repeated `beam` times. Finished hypotheses
  keep their score and compete with live ones on the normalised score, so a
  long live hypothesis can still overtake a short finished one.
  """
  k = beam
  cache = jax.tree.map(lambda x: jnp.repeat(x, k, axis=0), cache)
  # Only the first beam is live at the start: the others are copies of it.
  score = jnp.tile(jnp.array([0.0] + [-jnp.inf] * (k - 1), jnp.float32), (batch, 1))

  def cond(state):
    t, _, done, *_ = state
    return (t < max_length) & ~jnp.all(done)

  def body(state):
    t, last, done, seqs, score, lengths, cache = state
    logits, cache = step(last.reshape(-1), t, cache)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32)).reshape(batch, k, -1)
    vocab = log_probs.shape[-1]
    # A finished hypothesis has one continuation (pad) that changes nothing.
    frozen = jnp.full((vocab,), -jnp.inf).at[pad].set(0.0)
    step_scores = jnp.where(done[..., None], frozen, log_probs)
    total = score[..., None] + step_scores  # [B, K, V]
    new_len = jnp.where(done, lengths, t + 1)[..., None]
    ranked = length_normalized(total, jnp.broadcast_to(new_len, total.shape), alpha)
    _, flat = jax.lax.top_k(ranked.reshape(batch, -1), k)
    origin, token = flat // vocab, (flat % vocab).astype(jnp.int32)
    take = lambda x: jnp.take_along_axis(x, origin, axis=1)
    was_done = take(done)
    score = jnp.take_along_axis(total.reshape(batch, -1), flat, axis=1)
    lengths = jnp.where(was_done, take(lengths), t + 1)
    done = was_done | (token == eos)
    seqs = jnp.take_along_axis(seqs, origin[..., None], axis=1)
    seqs = seqs.at[:, :, t].set(jnp.where(done, pad, token))
    rows = (jnp.arange(batch)[:, None] * k + origin).reshape(-1)
    cache = jax.tree.map(lambda x: x[rows], cache)
    return t + 1, token, done, seqs, score, lengths, cache

  init = (jnp.array(0), jnp.full((batch, k), bos, jnp.int32), jnp.zeros((batch, k), bool),
          jnp.full((batch, k, max_length), pad, jnp.int32), score,
          jnp.zeros((batch, k), jnp.int32), cache)
  _, _, _, seqs, score, lengths, _ = jax.lax.while_loop(cond, body, init)
  final = length_normalized(score, lengths, alpha)
  best = jnp.argmax(final, axis=1)
  pick = lambda x: jnp.take_along_axis(x, best[:, None], axis=1)[:, 0]
  tokens = jnp.take_along_axis(seqs, best[:, None, None], axis=1)[:, 0]
  return tokens, jnp.sum(tokens != pad, axis=1).astype(jnp.int32), pick(final)
