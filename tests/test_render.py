"""Ink rendering: placement modes, pen width, anti-aliasing, errors."""

import numpy as np
import pytest

from htr.errors import InputError
from htr.ink import Ink
from htr.ink.render import render


def _square() -> Ink:
  return Ink.from_strokes([np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], float)])


def test_fit_box_keeps_aspect_and_centres():
  wide = Ink.from_strokes([np.array([[0, 0], [40, 0]], float), np.array([[0, 10], [40, 10]])])
  image = render(wide, size=(32, 64), pen_width=2.0, padding=2.0)
  assert image.shape == (32, 64) and image.dtype == np.uint8
  rows = np.flatnonzero(image.max(1) > 128)
  cols = np.flatnonzero(image.max(0) > 128)
  assert cols[0] <= 4 and cols[-1] >= 59  # The long side fills the box (minus margins).
  # 10/40 of the 58 px span, centred vertically.
  assert abs((rows[-1] - rows[0]) - 58 / 4) <= 2
  assert abs((rows[0] + rows[-1]) / 2 - 15.5) <= 1


def test_height_mode_follows_aspect_ratio():
  image = render(_square(), height=40, pen_width=3.0, padding=1.0)
  assert image.shape == (40, 40)
  tall = Ink.from_strokes([np.array([[0, 0], [5, 20]], float)])
  assert render(tall, height=40, pen_width=3.0, padding=1.0).shape[1] < 20


def test_scale_mode_and_pen_width():
  thin = render(_square(), scale=3.0, pen_width=1.0, padding=0.0)
  thick = render(_square(), scale=3.0, pen_width=4.0, padding=0.0)
  assert thin.shape == (31, 31) and thick.shape == (34, 34)
  # Ink grows with pen width (four sides of 30 px each).
  assert 0.8 < thin.sum() / 255 / 120 < 1.3
  assert 3.2 < thick.sum() / 255 / 120 < 4.8


def test_antialiased_and_dots_drawn():
  image = render(_square(), size=32, pen_width=1.5, padding=2.0)
  assert ((image > 0) & (image < 255)).sum() > 20  # Grey edge pixels.
  dot = Ink.from_strokes([np.array([[5.0, 5.0]])])
  assert render(dot, size=16, pen_width=4.0, padding=2.0).max() == 255


def test_errors():
  with pytest.raises(InputError):
    render(Ink.from_strokes([]), size=28)
  with pytest.raises(ValueError):
    render(_square(), size=28, height=28)
