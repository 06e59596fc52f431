"""Character n-gram LM: normalisation, hand-computed smoothing, files, English vs noise."""

import numpy as np
import pytest

from htr.decode import lm as lm_lib
from htr.errors import InputError


@pytest.fixture(scope="module")
def english():
  return lm_lib.train_from_wordfreq(5, num_lines=3000, vocabulary_size=5000)


@pytest.mark.parametrize("context", ["", "th", "the hou", "zzzzzzzz", "qü€", "I think"])
def test_distribution_sums_to_one(english, context):
  log_probs = english.log_probs(context)
  assert log_probs.shape == (english.vocab_size,)
  assert log_probs[lm_lib.BOS] == -np.inf
  assert np.all(np.isfinite(log_probs[1:]))
  np.testing.assert_allclose(np.exp(log_probs).sum(), 1.0, rtol=1e-9)


def test_unigram_kneser_ney_by_hand():
  # Counts: a 2, b 1, end of line 2; n1 = 1, n2 = 2 -> D = 1 / 5; 4 predictable symbols.
  lm = lm_lib.CharNgramLM.train(["ab", "a"], order=1)
  np.testing.assert_allclose(lm.discounts, [0.2])
  np.testing.assert_allclose(np.exp(lm.log_prob("", "a")), 1.8 / 5 + 0.2 * 3 / 5 / 4)
  np.testing.assert_allclose(np.exp(lm.log_prob("", "\n")), 1.8 / 5 + 0.2 * 3 / 5 / 4)
  np.testing.assert_allclose(np.exp(lm.log_prob("", "?")), 0.2 * 3 / 5 / 4)  # unknown


def test_context_beyond_order_is_ignored(english):
  np.testing.assert_array_equal(english.log_probs("xyz the h"), english.log_probs("the h"))
  assert english.log_prob("", "T") != english.log_prob("the h", "T")


def test_save_load_round_trip(english, tmp_path):
  path = tmp_path / "lm.npz"
  english.save(path)
  loaded = lm_lib.CharNgramLM.load(path)
  assert (loaded.order, loaded.chars) == (english.order, english.chars)
  for context in ["", "the qu", "Zx"]:
    np.testing.assert_array_equal(loaded.log_probs(context), english.log_probs(context))


def test_english_scores_above_noise(english):
  rng = np.random.default_rng(0)
  for text in ["the house is on the hill", "I think it is a good idea."]:
    noise = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz "), len(text)))
    assert english.score(text) > english.score(noise) + 2 * len(text)


def test_bad_input():
  with pytest.raises(InputError, match="no text"):
    lm_lib.CharNgramLM.train([], order=3)
  with pytest.raises(InputError, match="order must be >= 1"):
    lm_lib.CharNgramLM.train(["abc"], order=0)


def test_load_rejects_other_files(tmp_path):
  path = tmp_path / "not_an_lm.npz"
  np.savez(path, x=np.zeros(3))
  with pytest.raises(InputError, match="not_an_lm"):
    lm_lib.CharNgramLM.load(path)


def test_cache_overflow_keeps_answers_for_cached_contexts(monkeypatch):
  from htr.decode import lm as lm_module
  model = lm_module.CharNgramLM.train(["the cat sat", "a dog ran"], order=3)
  expected = model.batch_log_probs(["th", "do", "ca"])
  monkeypatch.setattr(lm_module, "_CACHE_SIZE", 3)
  model._cache.clear()
  model.batch_log_probs(["th", "do"])
  np.testing.assert_allclose(model.batch_log_probs(["th", "ca", "sa"])[:2], expected[[0, 2]])
