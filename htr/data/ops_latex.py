"""Ops on LaTeX labels: text -> <bos> token ids <eos> for sequence-to-sequence training,
and the map of which symbol each cell of the image shows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from htr.text.latex import BOS, EOS, PAD, UNK, Vocabulary
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


@register("symbol_map")
def get_symbol_map(vocab: Sequence[str], stride: int, key: str = "stroke_tokens",
                   placement_key: str = "ink_placement"):
  """int32 `symbol_map` [ceil(H / stride), ceil(W / stride)]: the token whose ink covers
  each `stride`-pixel cell of `image` (the one with most ink there), <pad> for blank cells,
  -1 (not scored) where that symbol is unknown: <unk> in the record (a stroke in no
  symbol group) or outside `vocab`.

  Dense supervision for an encoder whose grid has that stride (as CA-FCN, Liao et al.
  2019, trains a character map): each cell learns the glyph it shows from the first
  step, where a decoder's loss reaches a glyph only through attention still looking for
  it. Needs the ink, its strokes' tokens (`example[key]`: one per stroke, space
  separated, as the `synthetic_math` and `crohme` builders write them) and where
  `render_ink` put the ink (`placement_key`).
  """
  ids_of = {token: i for i, token in enumerate(vocab)}

  def op(example: Example) -> Example:
    ink = example["ink"]
    # Split on spaces only: `<unk>` is one token here, not LaTeX's `< u n k >`.
    ids = np.array([ids_of.get(t, UNK) for t in as_text(example[key]).split()], np.int64)
    if len(ids) != ink.num_strokes:
      raise InputError(f"{len(ids)} stroke tokens for {ink.num_strokes} strokes in "
                       f"{key!r}", sample_id=example.get("id"))
    scale, dx, dy = example[placement_key]
    height, width = example["image"].shape[:2]
    rows, cols = -(-height // stride), -(-width // stride)
    points, owner = _along_strokes(ink.points[:, :2] * scale + [dx, dy], ink.stroke_ids,
                                   step=stride / 4)
    cells = np.clip(np.floor(points / stride).astype(np.int64), 0, [cols - 1, rows - 1])
    votes = np.zeros((rows * cols, len(vocab)), np.int32)
    np.add.at(votes, (cells[:, 1] * cols + cells[:, 0], ids[owner]), 1)
    winner = votes.argmax(1)
    symbols = np.where(~votes.any(1), PAD, np.where(winner == UNK, -1, winner))
    return {**example, "symbol_map": symbols.astype(np.int32).reshape(rows, cols)}
  return op


def _along_strokes(xy: np.ndarray, stroke: np.ndarray, step: float
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(points every <= `step` along each stroke's segments, and the stroke of each): a
  fast pen leaves points further apart than a cell."""
  same = stroke[1:] == stroke[:-1]
  start, end = xy[:-1][same], xy[1:][same]
  n = np.maximum(1, np.ceil(np.hypot(*(end - start).T) / step)).astype(np.int64)
  t = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
  between = np.repeat(start, n, 0) + np.repeat(end - start, n, 0) * t[:, None]
  return (np.concatenate([between, xy]),
          np.concatenate([np.repeat(stroke[:-1][same], n), stroke]))
