"""Teacher-forced accuracy by kind of LaTeX token (htr/token_kinds.py)."""

import numpy as np
import pytest

from htr import token_kinds
from htr.text import latex


def test_token_kinds_separate_what_the_grammar_predicts_from_what_needs_the_image():
  kinds = {t: token_kinds.token_kind(t) for t in
           ["{", "}", "^", "_", "<eos>", "7", "x", "\\alpha", "\\frac", "+", "\\{", "("]}
  assert kinds == {"{": "layout", "}": "layout", "^": "layout", "_": "layout",
                   "<eos>": "end", "7": "digit", "x": "letter", "\\alpha": "command",
                   "\\frac": "command", "+": "sign", "\\{": "sign", "(": "sign"}


def test_accuracy_by_kind_skips_padding_and_weighs_each_kind():
  vocab = latex.Vocabulary.from_labels(["x ^ { 2 }"])
  ids = {t: vocab.tokens.index(t) for t in ("x", "^", "{", "2", "}")}
  target = np.array([[ids["x"], ids["^"], ids["{"], ids["2"], ids["}"], latex.EOS,
                      latex.PAD, latex.PAD]])
  predicted = target.copy()
  predicted[0, 0] = ids["2"]   # The letter missed,
  predicted[0, 6] = ids["x"]   # and a prediction over padding does not count.
  report = token_kinds.accuracy_by_kind([predicted], [target], vocab.tokens)
  assert report["letter"] == {"accuracy": 0.0, "share": pytest.approx(1 / 6)}
  assert report["layout"] == {"accuracy": 1.0, "share": pytest.approx(3 / 6)}
  assert report["digit"]["accuracy"] == report["end"]["accuracy"] == 1.0
