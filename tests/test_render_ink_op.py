"""The render_ink op: image shape, value range, pen-width variation, determinism."""

import numpy as np

from htr.data import registry
from htr.ink import Ink


def _example():
  t = np.linspace(0, 2 * np.pi, 40)[:, None]
  circle = np.concatenate([30 + 10 * np.cos(t), 10 + 10 * np.sin(t)], 1)
  bar = np.array([[45.0, 0.0], [45.0, 20.0]])
  return {"id": "x", "ink": Ink.from_strokes([circle, bar])}


def test_image_at_fixed_height_with_its_width():
  op = registry.build("render_ink(height=32, pen_width=2.0)")
  out = op(_example(), np.random.default_rng(0))
  image = out["image"]
  assert image.dtype == np.float32 and image.shape[0] == 32 and image.shape[2] == 1
  assert out["image_width"] == image.shape[1] and out["image_width"].dtype == np.int32
  assert 0.0 <= image.min() and image.max() == 1.0
  assert ((image > 0) & (image < 1)).any()  # Anti-aliased.
  # Aspect ratio kept: the ink is 25 x 20 units, plus 3 px margins.
  assert abs(image.shape[1] - (32 - 6) * 25 / 20 - 6) <= 1
  again = op(_example(), np.random.default_rng(5))
  np.testing.assert_array_equal(again["image"], image)  # Fixed pen: deterministic.


def test_pen_width_variation():
  op = registry.build("render_ink(height=32, pen_width=(1.0, 4.0), stroke_jitter=0.3)")
  ink_amounts = [op(_example(), np.random.default_rng(s))["image"].sum() for s in range(8)]
  assert max(ink_amounts) > 1.8 * min(ink_amounts)
  same = [op(_example(), np.random.default_rng(3))["image"] for _ in range(2)]
  np.testing.assert_array_equal(*same)


def test_max_width():
  op = registry.build("render_ink(height=32, max_width=30)")
  assert op(_example(), np.random.default_rng(0))["image"].shape == (32, 30, 1)
