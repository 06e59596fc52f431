"""Ink rendering: placement modes, pen width, anti-aliasing, errors."""

import numpy as np
import pytest

from htr.errors import InputError
from htr.ink import Ink
from htr.ink.render import render, typical_stroke_height


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
  with pytest.raises(InputError, match="without points"):
    render(Ink.from_strokes([]), size=28)
  with pytest.raises(ValueError, match="exactly one of size, height, scale"):
    render(_square(), size=28, height=28)


def _formula() -> Ink:
  """A wide two-stroke ink with a sharp corner (a '<') and a long line."""
  return Ink.from_strokes([np.array([[10, 0], [0, 5], [10, 10]], float),
                           np.array([[15, 5], [95, 5]], float)])


def test_per_stroke_pen_widths():
  # The margin is the padding plus half the widest pen: equal margins, equal placement.
  thin = render(_formula(), height=32, pen_width=1.0, padding=3.0)
  thick = render(_formula(), height=32, pen_width=3.0, padding=2.0)
  mixed = render(_formula(), height=32, pen_width=np.array([1.0, 3.0]), padding=2.0)
  assert thin.shape == mixed.shape == thick.shape
  left = slice(0, 20)  # Only the '<', drawn with the thin pen.
  np.testing.assert_array_equal(mixed[:, left], thin[:, left])
  assert thin.sum() < mixed.sum() < thick.sum()


def test_sharp_corners_are_round():
  image = render(Ink.from_strokes([np.array([[0, 0], [20, 10], [0, 20]], float)]),
                 scale=2.0, pen_width=6.0, padding=0.0)
  # The corner at (20, 10) is covered out to the pen radius beyond the vertex.
  assert image[:, -2:].max() > 128


def test_max_width_shrinks_wide_inks():
  free = render(_formula(), height=32, pen_width=2.0)
  capped = render(_formula(), height=32, pen_width=2.0, max_width=64)
  assert free.shape[1] > 64 and capped.shape == (32, 64)
  assert render(_formula(), height=32, pen_width=2.0, max_width=1000).shape == free.shape


def test_max_width_also_holds_for_flat_inks():
  """A flat ink has no height to scale by: it must still fit `max_width`."""
  minus = Ink.from_strokes([np.array([[0, 0], [3000, 0]], float)])
  assert render(minus, height=32, max_width=64).shape == (32, 64)


@pytest.mark.parametrize("far", [1e8, 1e30, 3e38])
def test_inks_spanning_too_far_are_refused(far):
  ink = Ink.from_strokes([np.array([[0, 5], [far, 5]], float)])
  with pytest.raises(InputError, match="would render to"):
    render(ink, scale=1.0)
  with pytest.raises(InputError, match="would render to"):
    render(ink, height=64)


def test_dense_digitiser_points_render_like_sparse_ones():
  t = np.linspace(0, np.pi, 2000)[:, None]
  dense = Ink.from_strokes([np.concatenate([10 * np.cos(t), 10 * np.sin(t)], 1)])
  sparse = Ink.from_strokes([np.concatenate([10 * np.cos(t[::50]), 10 * np.sin(t[::50])], 1)])
  a = render(dense, scale=3.0, pen_width=2.0).astype(float)
  b = render(sparse, scale=3.0, pen_width=2.0).astype(float)
  assert a.shape == b.shape and np.abs(a - b).mean() < 4


def _glyphs(size: float, rows: int) -> Ink:
  """`rows` rows of three `size`-high vertical strokes and one flat bar under each row,
  like a stack of fractions."""
  strokes = []
  for row in range(rows):
    top = row * 2.5 * size
    strokes += [np.array([[x, top], [x, top + size]]) for x in (0.0, 10.0, 20.0)]
    strokes.append(np.array([[0.0, top + 1.5 * size], [25.0, top + 1.5 * size]]))
  return Ink.from_strokes(strokes)


def test_typical_stroke_height_leaves_out_flat_strokes():
  assert typical_stroke_height(_glyphs(8.0, rows=3)) == pytest.approx(8.0)
  dot = Ink.from_strokes([np.array([[1.0, 1.0]])])
  assert typical_stroke_height(dot) == 0.0


def _drawn_height(image: np.ndarray) -> int:
  """Pixels spanned by the top glyph of the column with most ink (its first run)."""
  rows = np.flatnonzero(image[:, image.sum(0).argmax()] > 128)
  gaps = np.flatnonzero(np.diff(rows) > 1)
  return (rows[gaps[0]] if len(gaps) else rows[-1]) - rows[0]


def test_stroke_height_gives_one_glyph_size_until_the_ink_must_shrink():
  one_row, three_rows = _glyphs(8.0, rows=1), _glyphs(8.0, rows=3)
  # Fitted to the height, the same glyph is drawn ~3x larger alone than in a stack.
  alone, stacked = render(one_row, height=64), render(three_rows, height=64)
  assert _drawn_height(alone) > 2 * _drawn_height(stacked)
  for ink in (one_row, _glyphs(3.0, rows=1), _glyphs(50.0, rows=1)):
    image = render(ink, height=64, pen_width=1.0, stroke_height=12.0)
    assert image.shape[0] == 64 and abs(_drawn_height(image) - 12) <= 2
    rows = np.flatnonzero(image.max(1) > 128)  # Centred vertically.
    assert abs((rows[0] + rows[-1]) / 2 - 31.5) <= 2
  # Five rows of 12 px glyphs (and their gaps) do not fit 64 px: the ink shrinks to fit.
  stacked = render(_glyphs(8.0, rows=5), height=64, pen_width=1.0, stroke_height=12.0)
  rows = np.flatnonzero(stacked.max(1) > 128)
  assert rows[0] <= 4 and rows[-1] >= 59 and _drawn_height(stacked) < 12
