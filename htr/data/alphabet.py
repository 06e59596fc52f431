"""Character alphabets for CTC: id 0 is the blank, characters are 1..K."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np

from htr.errors import InputError

# Every character of the IAM-OnDB transcriptions (formats/IAM-OnDB.md).
IAM_ONDB = (" !\"#%&'()*+,-./0123456789:;?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_"
            "abcdefghijklmnopqrstuvwxyz")

_NAMED = {"iam_ondb": IAM_ONDB}

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
  def named(cls, name_or_chars: str) -> Alphabet:
    """`iam_ondb`, or the characters themselves."""
    return cls(_NAMED.get(name_or_chars, name_or_chars))

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
