"""htr.ink.page_render: lines of ink drawn as a page, with outlines and baselines."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from htr.errors import InputError
from htr.ink import page_render
from htr.ink.ink import Ink


def _sloped_line(slope: float, letters: int = 24, seed: int = 0) -> Ink:
  """Letters as 'u' strokes 30 units high sitting on y = 200 + slope * x, every fourth
  with a descender 25 units below the baseline, and a dot above every fifth."""
  rng = np.random.default_rng(seed)
  strokes = []
  for i in range(letters):
    x0 = 40.0 * i
    x = x0 + np.linspace(0, 30, 16)
    depth = np.where(i % 4 == 3, 55.0, 30.0) * np.sin(np.linspace(0, np.pi, 16))
    strokes.append(np.column_stack([x, 170 + slope * x + depth + rng.normal(0, 0.3, 16)]))
    if i % 5 == 0:
      strokes.append(np.array([[x0 + 15, 150 + slope * x0]]))
  return Ink.from_strokes(strokes)


@pytest.mark.parametrize("slope", [0.0, 0.08, -0.12])
def test_baseline_follows_the_letters_not_the_descenders(slope):
  ink = _sloped_line(slope)
  xy = ink.points[:, :2]
  got = page_render.baseline(xy, ink.stroke_lengths, height=page_render.ink_height(xy))
  (x0, y0), (x1, y1) = got
  assert (x1 - x0) > 900 and abs((y1 - y0) / (x1 - x0) - slope) < 0.01
  assert abs(y0 - (200 + slope * x0)) < 2  # On the bottoms of the letters.


def test_a_short_word_gets_a_level_baseline():
  ink = _sloped_line(0.3, letters=3)  # Too few letters to tell a slope.
  xy = ink.points[:, :2]
  got = page_render.baseline(xy, ink.stroke_lengths, height=page_render.ink_height(xy))
  assert got[0, 1] == got[1, 1]


def test_render_page_outlines_hold_all_ink_and_stay_apart():
  lines = [_sloped_line(0.02, seed=k).replace_points(
      _sloped_line(0.02, seed=k).points + [0, 150 * k, 0]) for k in range(3)]
  pixels, page = page_render.render_page(lines, ids=["a", "b", "c"], texts=["x", "y", "z"],
                                         region="form", scale=1.0)
  assert pixels.shape == (page.height, page.width) and pixels.dtype == np.uint8
  assert pixels.max() == 255 and pixels.min() < 64  # Dark ink on white paper.
  masks = []
  for line in page.lines:
    mask = Image.new("1", (page.width, page.height), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in line.polygon.tolist()], fill=1)
    masks.append(np.asarray(mask))
  assert not ((pixels < 200) & ~np.any(masks, axis=0)).any()
  assert not (masks[0] & masks[1]).any() and not (masks[1] & masks[2]).any()
  assert [line.order for line in page.lines] == [0, 1, 2]


def test_lines_too_far_apart_are_refused():
  far = _sloped_line(0.0).replace_points(_sloped_line(0.0).points + [0, 1e6, 0])
  with pytest.raises(InputError, match="too far apart"):
    page_render.render_page([_sloped_line(0.0), far], ids=["a", "b"], texts=["", ""])
