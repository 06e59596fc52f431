"""Segmenting a rendered line of separated characters."""

import dataclasses

import numpy as np
import pytest

from htr.errors import InputError
from htr.image import canvas, segment
from htr.ink import synthetic
from htr.ink.render import render


def _line(text: str, seed: int = 0, font: str = "futural") -> np.ndarray:
  """uint8 black-on-white image of `text` (characters separated by spaces)."""
  style = synthetic.sample_writer(np.random.default_rng(seed))
  style = dataclasses.replace(style, font=font, alt_chars="", slant=0.1, tilt=0.0,
                              distortion=0.02, word_spacing=1.0)
  ink = synthetic.write_line(text, style, np.random.default_rng(seed))
  return 255 - render(ink, height=64, pen_width=3.0, padding=4.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_part_characters_are_merged_in_order(seed):
  text = 'i j = 5 ? % : ! " ; A'
  image = _line(text, seed)
  characters = segment.segment(image)
  assert len(characters) == len(text.split())
  lefts = [c.box[1] for c in characters]
  assert lefts == sorted(lefts)
  # The first character is the whole i: its box reaches from the dot to the baseline.
  i_box, five_box = characters[0].box, characters[3].box
  assert i_box[2] - i_box[0] > 0.7 * (five_box[2] - five_box[0])


def test_characters_read_as_emnist_style_glyphs():
  """What `htr classify --line` hands the model: each character canvas-preprocessed."""
  characters = segment.segment(_line("4 2 b"))
  images = np.stack([canvas.preprocess(c.image) for c in characters])
  boxes = [c.box for c in characters]
  assert images.shape == (3, 28, 28) and images.dtype == np.float32 and len(boxes) == 3
  assert images.max() <= 1.0 and (images.reshape(3, -1).max(1) > 0.9).all()
  # Each character's own ink only: boxes do not overlap.
  assert all(a[3] <= b[1] for a, b in zip(boxes, boxes[1:]))


def test_empty_line_is_an_error():
  with pytest.raises(InputError, match="empty"):
    segment.segment(np.full((40, 200), 255, np.uint8))
