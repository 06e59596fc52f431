"""Ops that turn a real handwritten symbol's ink (crohme_symbols) into a training example
of the character task: drawn and brought to the EMNIST convention, as a drawing page's
canvas is (htr/image/canvas.py), and labelled with its class."""

from __future__ import annotations

import numpy as np

from htr.data.registry import Example, register
from htr.errors import InputError
from htr.image import canvas
from htr.ink import render
from htr.ink.records import as_text, record_to_ink
from htr.text import charsets


@register("render_glyph", random=True)
def get_render_glyph(pen_width: tuple[float, float] = (0.04, 0.12), size: int = 112):
  """`ink` record -> float32 `image` [28, 28, 1] in the EMNIST convention. The pen is
  drawn log-uniformly in `pen_width` (a fraction of the drawing's `size`), as canvas
  drawings vary."""
  lo, hi = pen_width

  def op(example: Example, rng: np.random.Generator) -> Example:
    ink = record_to_ink(example["ink"])
    width = size * float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    try:
      image = canvas.emnist_style(render.render(ink, size=size, pen_width=width))
    except InputError as e:
      raise InputError(e.reason, sample_id=as_text(example.get("id", "?"))) from None
    return {**example, "image": image[..., None]}
  return op


@register("char_label")
def get_char_label(classes: str = "chars94", key: str = "char"):
  """The character in `key` -> int32 `label`: its index in the named class list."""
  index = {c: i for i, c in enumerate(charsets.named(classes))}

  def op(example: Example) -> Example:
    char = as_text(example[key])
    if char not in index:
      raise InputError(f"{char!r} is not one of the {classes} classes",
                       sample_id=as_text(example.get("id", "?")))
    return {**example, "label": np.int32(index[char])}
  return op
