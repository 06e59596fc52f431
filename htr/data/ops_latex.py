"""Ops on LaTeX labels: text -> <bos> token ids <eos> for sequence-to-sequence training."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from htr.text.latex import BOS, EOS, UNK, Vocabulary
from htr.data.registry import Example, register
from htr.errors import InputError
from htr.ink.records import as_text


@register("encode_latex")
def get_encode_latex(vocab: Sequence[str], key: str = "normalized_label",
                     allow_unknown: bool = True):
  """`example[key]` (LaTeX) -> int32 `tokens` [n + 2] = <bos> ids <eos>.

  `vocab` is the task's token list (the trainer fills it in from the task, see
  `Task.data_fields`): the ids are those of the checkpoint's vocabulary. Tokens
  outside it become <unk>, or raise InputError with `allow_unknown=False`.
  """
  table = Vocabulary(vocab)

  def op(example: Example) -> Example:
    text = as_text(example[key])
    ids = table.encode(text)
    if not allow_unknown and np.any(ids == UNK):
      raise InputError(f"label {text!r} has tokens outside the vocabulary",
                       sample_id=example.get("id"))
    return {**example, key: text, "tokens": np.concatenate([[BOS], ids, [EOS]]).astype(np.int32)}
  return op
