"""Ops on transcriptions: decoding bytes and encoding text to label ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from htr.data.registry import Example, register
from htr.errors import InputError
from htr.ink.records import as_text
from htr.text import transcription
from htr.text.alphabet import Alphabet
from htr.text.vocabulary import BOS, EOS, UNK, Vocabulary


@register("encode_text")
def get_encode_text(alphabet: str = "iam_ondb", key: str = "text"):
  """Text -> int32 `labels` (CTC ids); unknown characters raise InputError."""
  table = Alphabet.named(alphabet)

  def op(example: Example) -> Example:
    text = as_text(example[key])
    return {**example, key: text, "labels": table.encode(text, sample_id=example.get("id"))}
  return op


@register("encode_chars")
def get_encode_chars(vocab: Sequence[str], key: str = "text"):
  """Text -> int32 `tokens` [n + 2] = <bos> character ids <eos>, for encoder-decoders.

  `vocab` is the task's token list (see `Task.data_fields`); a character outside it
  raises InputError naming the sample, as `encode_text` does for CTC.
  """
  table = Vocabulary(vocab)

  def op(example: Example) -> Example:
    text = as_text(example[key])
    ids = table.encode(text)
    if np.any(ids == UNK):
      unknown = sorted({c for c, i in zip(text, ids) if i == UNK})
      raise InputError(f"characters {''.join(unknown)!r} of {text!r} are not in the "
                       "vocabulary", sample_id=example.get("id"))
    return {**example, key: text, "tokens": np.concatenate([[BOS], ids, [EOS]]).astype(np.int32)}
  return op


@register("keep")
def get_keep(keys: tuple[str, ...]):
  """Drops every key but `keys` (raw records are large: keep batches lean)."""
  def op(example: Example) -> Example:
    return {k: example[k] for k in keys}
  return op


@register("transcription")
def get_transcription(key: str = "text", superscript: str = "^"):
  """A page transcription's conventions -> the text the ink shows: NFC, decorative
  look-alike code points as their letters, the `superscript` marker dropped (`21^st` is
  written 21st, raised). Struck or illegible text (`⟦…⟧`) raises InputError: the ink is
  there, its letters are not, so the line cannot teach or score a reader."""
  def op(example: Example) -> Example:
    text = transcription.shown(as_text(example[key]), superscript)
    if "⟦" in text or "⟧" in text:
      raise InputError(f"text {text!r} marks struck or illegible ink (⟦…⟧)",
                       sample_id=example.get("id"))
    return {**example, key: text}
  return op
