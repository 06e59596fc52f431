"""Ops on transcriptions: decoding bytes and encoding text to label ids."""

from __future__ import annotations

from htr.text.alphabet import Alphabet
from htr.data.registry import Example, register
from htr.ink.records import as_text


@register("encode_text")
def get_encode_text(alphabet: str = "iam_ondb", key: str = "text"):
  """Text -> int32 `labels` (CTC ids); unknown characters raise InputError."""
  table = Alphabet.named(alphabet)

  def op(example: Example) -> Example:
    text = as_text(example[key])
    return {**example, key: text, "labels": table.encode(text, sample_id=example.get("id"))}
  return op


@register("keep")
def get_keep(keys: tuple[str, ...]):
  """Drops every key but `keys` (raw records are large: keep batches lean)."""
  def op(example: Example) -> Example:
    return {k: example[k] for k in keys}
  return op
