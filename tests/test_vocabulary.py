"""Token vocabularies: characters for text lines, LaTeX tokens for math, one id scheme."""

import numpy as np
import pytest

from htr.data import registry
from htr.errors import InputError
from htr.text import latex
from htr.text.vocabulary import BOS, EOS, PAD, SPECIALS, UNK, Vocabulary


def test_a_character_vocabulary_splits_and_joins_characters():
  vocab = Vocabulary.from_labels(["a b", "ab"])
  assert vocab.tokens == SPECIALS + ("a", "b", " ")
  ids = vocab.encode("ba c")
  assert list(ids) == [5, 4, 6, UNK]
  assert vocab.decode([BOS, *ids[:3], EOS, 4, PAD]) == "ba "
  assert Vocabulary.from_json(vocab.to_json()) == vocab


def test_latex_and_character_vocabularies_differ_only_in_how_they_split():
  chars, tokens = Vocabulary.from_labels(["x^{2}"]), latex.Vocabulary.from_labels(["x^{2}"])
  assert chars.tokens == tokens.tokens  # Here every LaTeX token is one character...
  assert chars != tokens  # ...but they are not the same vocabulary.
  assert latex.Vocabulary.split(r"\frac{a}{b}")[0] == r"\frac"
  assert chars.decode(chars.encode("x^{2}")) == "x^{2}"
  assert tokens.decode(tokens.encode("x^{2}")) == "x ^ { 2 }"


def test_encode_chars_op_names_the_sample_and_characters_it_cannot_write():
  vocab = SPECIALS + tuple("abc ")
  op = registry.build(f"encode_chars(vocab={vocab!r})")
  out = op({"id": "s1", "text": b"ab c"}, np.random.default_rng(0))
  assert list(out["tokens"]) == [BOS, 4, 5, 7, 6, EOS] and out["text"] == "ab c"
  with pytest.raises(InputError, match=r"s1.*'dx'"):
    op({"id": "s1", "text": "abxd"}, np.random.default_rng(0))


def test_page_transcription_conventions_become_the_text_the_ink_shows():
  op = registry.build("transcription")
  read = lambda text: op({"id": "l1", "text": text}, np.random.default_rng(0))["text"]
  assert read("March 21^st 1905.") == "March 21st 1905."
  assert read("ᗅ ᗞear ᑕlark\r") == "A Dear Clark"
  assert read("cafe\u0301") == "café"  # NFC.
  with pytest.raises(InputError, match=r"l1.*struck or illegible"):
    read("the ⟦illegible⟧ word")
