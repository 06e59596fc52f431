"""Character alphabets for CTC: id 0 is the blank, characters are 1..K."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence

import numpy as np

from htr.errors import InputError

# Every character of the IAM-OnDB transcriptions.
IAM_ONDB = (" !\"#%&'()*+,-./0123456789:;?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_"
            "abcdefghijklmnopqrstuvwxyz")

_NAMED = {"iam_ondb": IAM_ONDB}
_LITERAL = "chars:"  # Prefix of an alphabet given as its characters.

BLANK = 0


class Alphabet:
  """Maps text to CTC label ids and back.

  Attributes:
    chars: the characters, in id order (id = position + 1).
  """

  def __init__(self, chars: str):
    if len(set(chars)) != len(chars):
      raise ValueError(f"alphabet has repeated characters: {chars!r}")
    self.chars = chars
    self._ids = {c: i + 1 for i, c in enumerate(chars)}

  @classmethod
  def named(cls, spec: str) -> Alphabet:
    """A named alphabet (`iam_ondb`, any case, `-` for `_`) or the characters themselves
    (`chars:0123456789`, or without the prefix when the string is not close to a name).

    Raises:
      ValueError: for a string that looks like a misspelt name: taken as characters, it
        would make a model with a handful of classes that can read no label.
    """
    if spec.startswith(_LITERAL):
      return cls(spec[len(_LITERAL):])
    key = spec.lower().replace("-", "_")
    if key in _NAMED:
      return cls(_NAMED[key])
    if close := difflib.get_close_matches(key, _NAMED, n=1, cutoff=0.7):
      raise ValueError(f"unknown alphabet name {spec!r}; did you mean {close[0]!r}? (an "
                       f"alphabet of exactly these characters is written '{_LITERAL}{spec}')")
    return cls(spec)

  @property
  def num_classes(self) -> int:
    """Output size of a CTC model: the characters plus the blank."""
    return len(self.chars) + 1

  def encode(self, text: str, *, sample_id: str | None = None) -> np.ndarray:
    try:
      return np.array([self._ids[c] for c in text], np.int32)
    except KeyError:
      unknown = sorted({c for c in text if c not in self._ids})
      raise InputError(f"text {text!r} has characters outside the alphabet: {unknown}",
                       sample_id=sample_id) from None

  def decode(self, ids: Iterable[int]) -> str:
    """Ids to text; the blank and padding (<= 0) are skipped."""
    return "".join(self.chars[i - 1] for i in ids if 0 < i <= len(self.chars))

  def decode_batch(self, ids: np.ndarray, lengths: Sequence[int]) -> list[str]:
    return [self.decode(row[:n]) for row, n in zip(np.asarray(ids), lengths)]

  def to_json(self) -> str:
    return json.dumps({"chars": self.chars, "blank": BLANK})

  @classmethod
  def from_json(cls, text: str) -> Alphabet:
    return cls(json.loads(text)["chars"])

  def __eq__(self, other) -> bool:
    return isinstance(other, Alphabet) and other.chars == self.chars

  def __repr__(self) -> str:
    return f"Alphabet({len(self.chars)} chars)"
