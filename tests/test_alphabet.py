"""Alphabet: ids 1..K with the blank at 0, round trips, clear errors."""

import numpy as np
import pytest

from htr.text.alphabet import IAM_ONDB, Alphabet
from htr.errors import InputError


def test_round_trip_and_blank_reserved():
  alphabet = Alphabet.named("iam_ondb")
  text = 'Mr. Gaitskell, "quoted" (1959) #'
  ids = alphabet.encode(text)
  assert ids.min() >= 1 and alphabet.num_classes == len(IAM_ONDB) + 1
  assert alphabet.decode(ids) == text
  assert alphabet.decode([0, *ids, 0, -1]) == text  # Blanks and padding are skipped.


def test_unknown_character_names_sample_and_character():
  with pytest.raises(InputError, match=r"line-7.*\['é'\]"):
    Alphabet("abc é"[:3]).encode("abé", sample_id="line-7")


def test_json_round_trip_and_batch_decode():
  alphabet = Alphabet("xyz")
  assert Alphabet.from_json(alphabet.to_json()) == alphabet
  assert alphabet.decode_batch(np.array([[1, 2, 3], [3, 3, 0]]), [2, 1]) == ["xy", "z"]


def test_repeated_characters_rejected():
  with pytest.raises(ValueError, match="repeated"):
    Alphabet("aba")


@pytest.mark.parametrize("spec", ["IAM_ONDB", "iam-ondb"])
def test_names_ignore_case_and_dashes(spec):
  assert Alphabet.named(spec) == Alphabet(IAM_ONDB)


def test_a_misspelt_name_is_refused_not_taken_as_characters():
  with pytest.raises(ValueError, match="'iamondb'; did you mean 'iam_ondb'"):
    Alphabet.named("iamondb")
  assert Alphabet.named("chars:iamondb").chars == "iamondb"
  assert Alphabet.named("0123456789").chars == "0123456789"
