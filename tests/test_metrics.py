"""Error-rate arithmetic and the merge laws of the clu metrics."""

import clu.metrics as clu_metrics
import jax
import numpy as np
import pytest

from htr import metrics


def test_known_edit_distances():
  assert metrics.cer(["kitten"], ["sitting"]) == 3 / 6
  assert metrics.wer(["the cat sat"], ["the cat sat down"]) == 1 / 3
  assert metrics.wer(["the  cat"], [" the cat "]) == 0.0  # spacing alone is no word error
  # Corpus level: total edits / total length, not the mean of line rates (0.5).
  assert metrics.cer(["a", "bcdefghij"], ["x", "bcdefghij"]) == 1 / 10
  edits, lengths = metrics.edit_counts(["abc", "hello world"], ["abd", "hello"], words=True)
  np.testing.assert_array_equal(edits, [1, 1])
  np.testing.assert_array_equal(lengths, [1, 2])


def test_empty_references():
  assert metrics.cer([], []) == 0.0
  assert metrics.cer([""], [""]) == 0.0
  assert metrics.cer([""], ["abc"]) == 3.0  # insertions against a floor of one
  assert metrics.cer(["", "ab"], ["x", "ab"]) == 1 / 2
  assert metrics.wer([""], ["two words"]) == 2.0
  assert float(metrics.CharacterErrorRate.empty().compute()) == 0.0
  assert float(metrics.ExactMatch.empty().compute()) == 0.0


def test_length_mismatch():
  with pytest.raises(ValueError, match="1 references but 0 hypotheses"):
    metrics.cer(["a"], [])


def _random_texts(rng, n):
  words = ["the", "cat", "sat", "on", "a", "mat", "hat", ""]
  return [" ".join(rng.choice(words, rng.integers(0, 5))) for _ in range(n)]


@pytest.mark.parametrize("metric,reference", [
    (metrics.CharacterErrorRate, metrics.cer),
    (metrics.WordErrorRate, metrics.wer),
    (metrics.ExactMatch, lambda r, h: np.mean([a == b for a, b in zip(r, h)])),
])
def test_merge_equals_concatenation(metric, reference):
  rng = np.random.default_rng(0)
  refs, hyps = _random_texts(rng, 30), _random_texts(rng, 30)
  hyps[:10] = refs[:10]
  merged = metric.empty()
  for lo, hi in [(0, 7), (7, 8), (8, 8), (8, 30)]:
    merged = merged.merge(metric.from_strings(refs[lo:hi], hyps[lo:hi]))
  whole = metric.from_strings(refs, hyps)
  np.testing.assert_allclose(merged.compute(), whole.compute(), rtol=1e-6)
  np.testing.assert_allclose(whole.compute(), reference(refs, hyps), rtol=1e-6)


def test_mask_drops_padding_examples():
  refs, hyps = ["abc", "xyz", "abc"], ["abc", "", "abd"]
  masked = metrics.CharacterErrorRate.from_strings(refs, hyps, mask=np.array([1, 0, 1]))
  assert float(masked.compute()) == pytest.approx(1 / 6)
  exact = metrics.ExactMatch.from_strings(refs, hyps, mask=np.array([1, 0, 1]))
  assert float(exact.compute()) == 0.5


def test_from_counts_under_jit():
  cer = jax.jit(metrics.CharacterErrorRate.from_counts)(np.array([1, 2, 5]),
                                                          np.array([4, 4, 9]),
                                                          np.array([True, True, False]))
  assert float(cer.compute()) == 3 / 8


def test_in_a_clu_collection():
  collection = clu_metrics.Collection.create(
      cer=metrics.CharacterErrorRate, wer=metrics.WordErrorRate,
      exact_match=metrics.ExactMatch, loss=clu_metrics.Average.from_output("loss"))
  a = collection.single_from_model_output(references=["a cat"], predictions=["a hat"], loss=2.0)
  b = collection.single_from_model_output(references=["the mat"], predictions=["the mat"],
                                          loss=4.0)
  result = a.merge(b).compute()
  np.testing.assert_allclose(result["cer"], 1 / 12)
  np.testing.assert_allclose(result["wer"], 1 / 4)
  np.testing.assert_allclose(result["exact_match"], 0.5)
  np.testing.assert_allclose(result["loss"], 3.0)


def test_a_word_is_as_sure_as_its_least_certain_letter():
  from htr.tasks import text_scores
  scores = [0.9, 0.8, 0.5, 0.99, 0.7, 0.6]  # "ab  cd": the spaces have scores too.
  assert text_scores.words("ab  cd", scores) == [{"text": "ab", "confidence": 0.8},
                                                {"text": "cd", "confidence": 0.6}]
  assert text_scores.words("", []) == []
  with pytest.raises(ValueError, match="2 character scores for 3"):
    text_scores.words("abc", [0.5, 0.5])
