"""Canvas preprocessing: the same glyph drawn any way gives the same 28x28 image."""

import numpy as np
import pytest
from PIL import Image

from htr.errors import InputError
from htr.image import canvas
from htr.ink import Ink, synthetic
from htr.ink.render import render


def _glyph(char: str = "5") -> Ink:
  style = synthetic.sample_writer(np.random.default_rng(3))
  return synthetic.write_line(char, style, np.random.default_rng(4))


def _place(ink: Ink, shape, box, pen_width) -> np.ndarray:
  """uint8 white-on-black `shape` canvas with the glyph rendered into `box` (t, l, h, w)."""
  top, left, h, w = box
  out = np.zeros(shape, np.uint8)
  out[top:top + h, left:left + w] = render(ink, size=(h, w), pen_width=pen_width, padding=2)
  return out


def _close(a, b, tolerance=0.06):
  assert a.shape == b.shape == (28, 28) and a.dtype == b.dtype == np.float32
  assert np.abs(a - b).mean() < tolerance, np.abs(a - b).mean()


def test_output_is_emnist_convention():
  out = canvas.preprocess(_place(_glyph("A"), (120, 160), (10, 20, 100, 100), 6))
  assert 0.0 <= out.min() and out.max() == pytest.approx(1.0)
  on = out > 0.3
  rows, cols = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
  assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21)
  com = np.array([(out.sum(1) * np.arange(28)).sum(), (out.sum(0) * np.arange(28)).sum()])
  np.testing.assert_allclose(com / out.sum(), 13.5, atol=1.0)


def test_translation_scale_and_polarity_invariance():
  ink = _glyph()
  reference = canvas.preprocess(_place(ink, (200, 200), (20, 20, 100, 100), 6))
  _close(canvas.preprocess(_place(ink, (200, 200), (90, 85, 100, 100), 6)), reference, 0.01)
  _close(canvas.preprocess(_place(ink, (400, 300), (50, 80, 200, 200), 12)), reference)
  _close(canvas.preprocess(255 - _place(ink, (200, 200), (20, 20, 100, 100), 6)), reference,
         0.01)


def test_dtypes_and_channels_agree():
  white_on_black = _place(_glyph(), (150, 120), (20, 10, 100, 100), 6)
  reference = canvas.preprocess(white_on_black)
  black_on_white = 255 - white_on_black
  rgb = np.stack([black_on_white] * 3, -1)
  variants = [
      rgb,
      np.concatenate([rgb, np.full_like(black_on_white, 255)[..., None]], -1),  # Opaque RGBA.
      # A drawing canvas: transparent black background, opaque black ink.
      np.stack([np.zeros_like(white_on_black)] * 3 + [white_on_black], -1),
      black_on_white.astype(np.float32) / 255,
      black_on_white.astype(np.float64),  # Floats on a 0..255 scale.
      black_on_white[..., None],
      white_on_black.astype(np.uint16) * 257,
      white_on_black > 127,
      Image.fromarray(black_on_white),
  ]
  for variant in variants:
    _close(canvas.preprocess(variant), reference, 0.03)


@pytest.mark.parametrize("mode", ["16-bit PNG", "float TIFF", "palette PNG", "LA PNG"])
def test_image_files_of_any_depth_read_alike(tmp_path, mode):
  """Files go through pil_to_array; Pillow's convert("L") clipped 16-bit values to 255."""
  white_on_black = _place(_glyph(), (150, 120), (20, 10, 100, 100), 6)
  reference = canvas.preprocess(white_on_black)
  dark_ink = 40000 - white_on_black.astype(np.int32) * 137  # Ink 5,065 on 40,000.
  path = tmp_path / "glyph.png"
  if mode == "16-bit PNG":
    Image.fromarray(dark_ink.astype(np.uint16)).save(path)
  elif mode == "float TIFF":
    path = tmp_path / "glyph.tif"
    Image.fromarray(1 - white_on_black.astype(np.float32) / 255).save(path)
  elif mode == "palette PNG":
    Image.fromarray(255 - white_on_black).convert("P").save(path)
  else:
    Image.fromarray(np.stack([255 - white_on_black, np.full_like(white_on_black, 255)],
                             -1), "LA").save(path)
  with Image.open(path) as image:
    image.load()
    array = canvas.pil_to_array(image)
  _close(canvas.preprocess(array), reference, 0.03)


def test_empty_canvas_is_an_error():
  for empty in (np.zeros((64, 64), np.uint8), np.full((50, 40, 3), 255, np.uint8),
                np.full((30, 30), 0.5, np.float32), np.zeros((20, 20, 4), np.uint8)):
    with pytest.raises(InputError, match="empty"):
      canvas.preprocess(empty)


@pytest.mark.parametrize("bad", [
    np.zeros((2, 28, 28, 1)), np.zeros(28), np.zeros((28, 28, 2)), "image.png", None,
    np.array([[1, 2]], dtype=object), np.zeros((1, 28)), np.full((28, 28), np.nan)])
def test_bad_input_is_an_error(bad):
  with pytest.raises(InputError):
    canvas.preprocess(bad)


def test_emnist_style_small_and_lopsided_glyphs():
  dot = np.zeros((9, 9), np.float32)
  dot[3:6, 3:6] = 1.0
  out = canvas.emnist_style(dot)
  assert (out > 0.5).sum() > 100  # Scaled up to the 20x20 box, like EMNIST would.
  bar = np.zeros((4, 60), np.uint8)
  bar[1:3] = 255
  out = canvas.emnist_style(bar)
  assert (out.max(0) > 0.5).sum() == 20 and out.max() == pytest.approx(1.0)
  with pytest.raises(InputError, match="no ink"):
    canvas.emnist_style(np.zeros((5, 5)))
