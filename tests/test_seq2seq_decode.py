"""Greedy and beam search inside jit, on a toy bigram 'decoder' whose best answer is known."""

import jax
import jax.numpy as jnp
import numpy as np

from htr.decode import seq2seq

PAD, BOS, EOS, A, B, C = range(6)


def _bigram(table: dict[int, dict[int, float]]):
  """A step function: next-token probabilities depend on the last token only."""
  logits = np.full((6, 6), -30.0, np.float32)
  for prev, nexts in table.items():
    for tok, p in nexts.items():
      logits[prev, tok] = np.log(p)
  logits = jnp.asarray(logits)

  def step(tokens, position, cache):
    return logits[tokens], {"calls": cache["calls"] + 1}
  return step


# Greedy takes A (0.55) then C (0.4): 0.22; the beam finds B EOS: 0.45 * 0.9 = 0.405.
TRAP = {BOS: {A: 0.55, B: 0.45}, A: {EOS: 0.3, C: 0.4, B: 0.3}, B: {EOS: 0.9, C: 0.1},
        C: {EOS: 1.0}}


def _run(fn, batch=2, **kwargs):
  cache = {"calls": jnp.zeros((batch,), jnp.int32)}
  return jax.jit(lambda c: fn(_bigram(TRAP), c, batch=batch, bos=BOS, eos=EOS, pad=PAD,
                              max_length=6, **kwargs))(cache)


def test_greedy_follows_the_most_probable_token_and_stops_at_eos():
  tokens, lengths, score = _run(seq2seq.greedy)
  np.testing.assert_array_equal(tokens, [[A, C, PAD, PAD, PAD, PAD]] * 2)
  np.testing.assert_array_equal(lengths, [2, 2])
  np.testing.assert_allclose(score, np.log(0.55 * 0.4 * 1.0), rtol=1e-5)


def test_beam_search_finds_the_better_sequence_greedy_misses():
  tokens, lengths, score = _run(seq2seq.beam_search, beam=3, alpha=0.0)
  np.testing.assert_array_equal(tokens[:, :2], [[B, PAD]] * 2)
  np.testing.assert_array_equal(lengths, [1, 1])
  np.testing.assert_allclose(score, np.log(0.45 * 0.9), rtol=1e-5)


def test_beam_of_one_is_greedy_and_length_normalisation_is_applied():
  g_tokens, g_lengths, g_score = _run(seq2seq.greedy)
  tokens, lengths, score = _run(seq2seq.beam_search, beam=1, alpha=1.0)
  np.testing.assert_array_equal(tokens, g_tokens)
  np.testing.assert_allclose(score, g_score / 3, rtol=1e-5)  # A C <eos>: three tokens.


def test_long_sequences_stop_at_max_length():
  loop = {BOS: {A: 1.0}, A: {A: 1.0}}
  cache = {"calls": jnp.zeros((1,), jnp.int32)}
  tokens, lengths, _ = seq2seq.greedy(_bigram(loop), cache, batch=1, bos=BOS, eos=EOS, pad=PAD,
                                      max_length=4)
  np.testing.assert_array_equal(tokens, [[A] * 4])
  assert int(lengths[0]) == 4


def test_a_cut_output_is_normalised_over_the_steps_it_took():
  """Greedy divided a cut output's score by max_length + 1, beam search by max_length."""
  loop = {BOS: {A: 0.9, EOS: 0.1}, A: {A: 0.9, EOS: 0.1}}

  def run(fn, **kwargs):
    cache = {"calls": jnp.zeros((1,), jnp.int32)}
    return fn(_bigram(loop), cache, batch=1, bos=BOS, eos=EOS, pad=PAD, max_length=4, **kwargs)

  _, lengths, total = run(seq2seq.greedy)
  greedy = seq2seq.length_normalized(total, seq2seq.scored_steps(lengths, 4), 1.0)
  _, _, beam = run(seq2seq.beam_search, beam=1, alpha=1.0)
  np.testing.assert_allclose(greedy, beam, rtol=1e-5)
  np.testing.assert_allclose(greedy, np.log(0.9), rtol=1e-5)
