"""CTC greedy decoding against a plain-Python reference, and prefix beam search."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from htr.decode import ctc
from htr.decode.lm import CharNgramLM
from htr.errors import InputError

_greedy = jax.jit(ctc.greedy_decode, static_argnames="blank")


def _reference_greedy(logprobs, length, blank=0):
  """Best path, repeats merged, blanks dropped; mean frame probability per label."""
  best = logprobs[:length].argmax(-1)
  probs = np.exp(logprobs[:length].max(-1))
  tokens, scores, t = [], [], 0
  for label, run in itertools.groupby(best):
    n = len(list(run))
    if label != blank:
      tokens.append(int(label))
      scores.append(probs[t:t + n].mean())
    t += n
  return tokens, scores


def _peaked_logprobs(rng, frames, classes, sharpness=6.0):
  logits = rng.normal(size=(frames, classes)) * sharpness
  return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)


def _labelling_logprobs(logprobs, blank=0):
  """Exact log P(labelling) of every labelling, by summing over all alignments."""
  totals = {}
  for path in itertools.product(range(logprobs.shape[1]), repeat=len(logprobs)):
    labels = tuple(k for k, _ in itertools.groupby(path) if k != blank)
    p = np.exp(logprobs[np.arange(len(path)), path].sum())
    totals[labels] = totals.get(labels, 0.0) + p
  return {k: np.log(v) for k, v in totals.items()}


@pytest.mark.parametrize("blank", [0, 2])
def test_greedy_matches_reference(blank):
  rng = np.random.default_rng(0)
  # Few classes and long inputs: many repeats, some separated by blanks.
  logprobs = np.stack([_peaked_logprobs(rng, 40, 4, 2.0) for _ in range(8)])
  lengths = np.array([40, 0, 1, 17, 39, 25, 3, 40])
  out = jax.device_get(_greedy(logprobs, lengths, blank=blank))
  for b in range(len(lengths)):
    tokens, scores = _reference_greedy(logprobs[b], lengths[b], blank)
    n = int(out.token_lengths[b])
    assert n == len(tokens)
    np.testing.assert_array_equal(out.tokens[b, :n], tokens)
    np.testing.assert_array_equal(out.tokens[b, n:], blank)  # padding
    np.testing.assert_allclose(out.token_scores[b, :n], scores, rtol=1e-5)
    np.testing.assert_array_equal(out.token_scores[b, n:], 0.0)
    expected = np.exp(logprobs[b, :lengths[b]].max(-1).mean()) if lengths[b] else 1.0
    np.testing.assert_allclose(out.confidence[b], expected, rtol=1e-5)


def test_greedy_repeats_and_blanks():
  # Frames: a a _ a b b _ _ b (blank = 0, a = 1, b = 2) -> a a b b.
  path = [1, 1, 0, 1, 2, 2, 0, 0, 2, 1, 1]
  logits = jax.nn.one_hot(np.array([path]), 3) * 10.0
  out = _greedy(logits, np.array([9]))  # the last two frames are padding
  assert out.tokens.shape == (1, 11)
  assert int(out.token_lengths[0]) == 4
  np.testing.assert_array_equal(out.tokens[0, :5], [1, 1, 2, 2, 0])


def test_greedy_logits_and_logprobs_agree():
  logits = np.random.default_rng(1).normal(size=(2, 9, 5)) * 3
  a = _greedy(logits, np.array([9, 5]))
  b = _greedy(jax.nn.log_softmax(logits), np.array([9, 5]))
  chex.assert_trees_all_close(a, b, rtol=1e-5)


def test_best_class_is_jnp_argmax_with_ties_nan_and_infinities():
  rng = np.random.default_rng(5)
  scores = rng.integers(0, 3, size=(6, 7, 5)).astype(np.float32)  # Many ties.
  scores[0, 0] = -np.inf
  scores[0, 1, 2] = np.inf
  scores[1, :, 3] = np.nan
  scores[2, 0, [1, 4]] = np.nan
  index, maximum = ctc._best_class(jnp.asarray(scores))
  np.testing.assert_array_equal(index, jnp.argmax(scores, axis=-1))
  np.testing.assert_array_equal(maximum, jnp.max(scores, axis=-1))


def test_greedy_compiles_once_per_shape():
  decode = jax.jit(chex.assert_max_traces(ctc.greedy_decode, n=1))
  rng = np.random.default_rng(2)
  for _ in range(3):
    out = decode(rng.normal(size=(4, 30, 6)).astype(np.float32),
                 rng.integers(0, 31, 4).astype(np.int32))
    assert out.tokens.shape == (4, 30) and out.token_scores.shape == (4, 30)


def test_greedy_exports_with_symbolic_batch_and_length():
  # What jax2tf needs: no host callbacks, and shapes polymorphic in batch and time.
  batch, frames = jax.export.symbolic_shape("b, t")
  exported = jax.export.export(jax.jit(ctc.greedy_decode))(
      jax.ShapeDtypeStruct((batch, frames, 5), jnp.float32),
      jax.ShapeDtypeStruct((batch,), jnp.int32))
  logits = np.random.default_rng(3).normal(size=(3, 11, 5)).astype(np.float32)
  lengths = np.array([11, 4, 0], np.int32)
  chex.assert_trees_all_close(tuple(exported.call(logits, lengths)),
                              tuple(_greedy(logits, lengths)))


def test_beam_width_one_is_greedy_on_peaked_inputs():
  rng = np.random.default_rng(4)
  for _ in range(10):
    logprobs = _peaked_logprobs(rng, 30, 6, sharpness=8.0)
    tokens, _ = _reference_greedy(logprobs, 30)
    (best, _), = ctc.prefix_beam_search(logprobs, beam_width=1)
    assert list(best) == tokens


def test_beam_search_beats_best_path():
  # Best path is "" (blank, blank: 0.16), but "a" has a + a, a + _, _ + a: 0.4025.
  logprobs = np.log(np.array([[0.4, 0.35, 0.25]] * 2))
  out = _greedy(logprobs[None], np.array([2]))
  assert int(out.token_lengths[0]) == 0
  best, score = ctc.prefix_beam_search(logprobs, beam_width=4)[0]
  assert best == (1,)
  np.testing.assert_allclose(score, np.log(0.4025))


def test_beam_search_is_exact_with_a_wide_beam():
  rng = np.random.default_rng(5)
  logprobs = _peaked_logprobs(rng, 5, 3, sharpness=1.0)
  exact = _labelling_logprobs(logprobs)
  hyps = ctc.prefix_beam_search(logprobs, beam_width=1000, prune_threshold=-np.inf)
  assert len(hyps) == len(exact)
  for labels, score in hyps:
    np.testing.assert_allclose(score, exact[labels], rtol=1e-9)
  assert [s for _, s in hyps] == sorted((s for _, s in hyps), reverse=True)


@pytest.mark.parametrize("blank", [0, 2])
def test_labelling_log_prob_is_exact(blank):
  rng = np.random.default_rng(6)
  logprobs = _peaked_logprobs(rng, 5, 3, sharpness=1.0)
  exact = _labelling_logprobs(logprobs, blank)
  for labels, value in exact.items():  # Includes repeats ("1 1") and the empty labelling.
    np.testing.assert_allclose(ctc.labelling_log_prob(logprobs, labels, blank), value,
                               rtol=1e-9)
  # "1 1 1 1" needs 7 frames (a blank between repeats): impossible in 5.
  assert ctc.labelling_log_prob(logprobs, [1, 1, 1, 1], blank) == -np.inf
  assert ctc.labelling_log_prob(logprobs[:0], [], blank) == 0.0
  assert ctc.labelling_log_prob(logprobs[:0], [1], blank) == -np.inf


def test_lm_fusion_prefers_a_likely_word():
  chars = "acot "  # ids 1..5
  lm = CharNgramLM.train(["a cat", "the cat sat", "cat", "a cat on a mat"] * 20, order=4)

  def frame(**probs):
    p = np.full(6, 1e-4)
    for c, v in probs.items():
      p[0 if c == "blank" else 1 + chars.index(c)] = v
    return np.log(p / p.sum())

  # c, then o (0.5) slightly above a (0.4), then t.
  logprobs = np.stack([frame(c=0.95), frame(blank=0.95), frame(o=0.5, a=0.4, blank=0.1),
                       frame(blank=0.95), frame(t=0.95)])
  plain = ctc.prefix_beam_search(logprobs, beam_width=8)[0][0]
  fused = ctc.prefix_beam_search(logprobs, beam_width=8, lm=lm, alpha=1.0, beta=0.0,
                                 id_to_char=chars)[0][0]
  decode = lambda ids: "".join(chars[i - 1] for i in ids)
  assert decode(plain) == "cot"
  assert decode(fused) == "cat"


def test_batched_beam_search_uses_lengths():
  rng = np.random.default_rng(6)
  logprobs = np.stack([_peaked_logprobs(rng, 20, 5) for _ in range(3)])
  lengths = [20, 7, 0]
  batched = ctc.batch_prefix_beam_search(logprobs, lengths, beam_width=4)
  for b, n in enumerate(lengths):
    assert batched[b] == ctc.prefix_beam_search(logprobs[b, :n], beam_width=4)
  assert batched[2] == [((), 0.0)]


def test_beam_search_rejects_bad_input():
  with pytest.raises(InputError):
    ctc.prefix_beam_search(np.zeros((2, 3, 4)))
  lm = CharNgramLM.train(["ab"], order=2)
  with pytest.raises(InputError):
    ctc.prefix_beam_search(np.zeros((3, 4)), lm=lm)
  with pytest.raises(InputError):
    ctc.prefix_beam_search(np.zeros((3, 4)), lm=lm, id_to_char="ab")
