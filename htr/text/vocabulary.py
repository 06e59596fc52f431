"""Token vocabularies of sequence-to-sequence labels: ids 0..3 are `<pad> <bos> <eos>
<unk>`, then the tokens.

A vocabulary knows how its labels split into tokens and how tokens join back. This
one splits plain text into characters and joins them with nothing (image-to-text
lines); `htr.text.latex.Vocabulary` splits LaTeX into commands and characters and
joins them with spaces (math).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Sequence

import numpy as np

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class Vocabulary:
  """Tokens <-> ids, the specials first.

  Attributes:
    tokens: every token in id order.
    separator: what `decode` puts between tokens.
  """

  separator = ""

  def __init__(self, tokens: Sequence[str]):
    tokens = tuple(tokens)
    if tokens[:len(SPECIALS)] != SPECIALS:
      raise ValueError(f"a vocabulary starts with {SPECIALS}, not {tokens[:4]}")
    if len(set(tokens)) != len(tokens):
      raise ValueError("a vocabulary has repeated tokens")
    self.tokens = tokens
    self._ids = {t: i for i, t in enumerate(tokens)}

  @staticmethod
  def split(text: str) -> list[str]:
    """The tokens of a label: its characters."""
    return list(text)

  @classmethod
  def from_labels(cls, labels: Iterable[str], min_count: int = 1) -> Vocabulary:
    """Tokens seen at least `min_count` times, most frequent first (ties by token)."""
    counts = collections.Counter(t for label in labels for t in cls.split(label))
    kept = sorted((t for t, n in counts.items() if n >= min_count and t not in SPECIALS),
                  key=lambda t: (-counts[t], t))
    return cls(SPECIALS + tuple(kept))

  def __len__(self) -> int:
    return len(self.tokens)

  def encode(self, text: str) -> np.ndarray:
    """int32 ids of the tokens of `text` (no <bos>/<eos>); unknown tokens -> <unk>."""
    return np.array([self._ids.get(t, UNK) for t in self.split(text)], np.int32)

  def decode(self, ids: Iterable[int]) -> str:
    """Tokens joined by `separator`, up to the first <eos>; <pad> and <bos> skipped."""
    out = []
    for i in ids:
      i = int(i)
      if i == EOS:
        break
      if i not in (PAD, BOS):
        out.append(self.tokens[i] if 0 <= i < len(self.tokens) else SPECIALS[UNK])
    return self.separator.join(out)

  def to_json(self) -> str:
    return json.dumps({"tokens": list(self.tokens)}, ensure_ascii=False)

  @classmethod
  def from_json(cls, text: str) -> Vocabulary:
    return cls(json.loads(text)["tokens"])

  def __eq__(self, other) -> bool:
    return type(other) is type(self) and other.tokens == self.tokens

  def __repr__(self) -> str:
    return f"{type(self).__name__}({len(self.tokens)} tokens)"
