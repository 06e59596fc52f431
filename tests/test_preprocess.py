"""Invariants of ink preprocessing, on generated lines (no real data in tests)."""

from __future__ import annotations

import numpy as np
import pytest

from htr.errors import InputError
from htr.ink import preprocess
from htr.ink.ink import Ink


def _line(seed: int = 0, x_height: float = 40.0, words: int = 6, tilt_deg: float = 0.0,
          hz: float = 100.0) -> Ink:
  """A cursive-like line in device units: core, ascender and descender loops, i-dots.

  Letters are loops or arches from the baseline up to x_height; ascenders ("d") add a stem
  up to 2.5 x_height, descenders ("q") one down to 1.5 x_height, in roughly
  English proportions.
  """
  rng = np.random.default_rng(seed)
  h, strokes, x0, t0 = x_height, [], 100.0, 5.0
  for _ in range(words):
    word = []
    for _ in range(rng.integers(3, 7)):
      u = np.linspace(0, 1, 25)
      if rng.random() < 0.5:  # "o": a loop.
        letter = np.stack([x0 + 0.3 * h * np.sin(2 * np.pi * u) + 0.4 * h * u,
                           -0.5 * h + 0.5 * h * np.cos(2 * np.pi * u)], axis=1)
      else:  # "n": an arch of straight strokes.
        letter = np.stack([x0 + 0.4 * h * u, -h * (1 - np.abs(1 - 2 * u))], axis=1)
      kind = rng.choice(3, p=[0.7, 0.2, 0.1])
      if kind:
        end = [None, -2.5 * h, 1.5 * h][kind]
        stem = np.linspace(0, 1, 10)[:, None] * [0.1 * h, end - letter[-1, 1]] + letter[-1]
        letter = np.concatenate([letter, stem, stem[::-1]])
      word.append(letter)
      x0 += 0.8 * h
      if rng.random() < 0.1:  # An i-dot: a one-point stroke.
        word.append(np.array([[x0 - 0.4 * h, -1.6 * h]]))
    for part in word:
      t = t0 + np.arange(len(part)) / hz
      t0 = t[-1] + 0.2
      strokes.append(np.concatenate([part, t[:, None]], axis=1))
    x0 += 1.5 * h
  ink = Ink.from_strokes(strokes)
  c, s = np.cos(np.deg2rad(tilt_deg)), np.sin(np.deg2rad(tilt_deg))
  xy = ink.points[:, :2] @ np.array([[c, s], [-s, c]])
  return ink.replace_points(np.concatenate([xy + [500.0, 700.0], ink.points[:, 2:]], axis=1))


def _core_height(ink: Ink, normalized: Ink) -> float:
  """The synthetic x-height (40 units) in normalised units."""
  distance = lambda p: np.hypot(*(p[5, :2] - p[0, :2]))
  return 40.0 * distance(normalized.points) / distance(ink.points)


def test_normalize_puts_core_height_near_one():
  # The synthetic line has more ascender ink than real text: its heights are ~0.9.
  for seed in range(5):
    ink = _line(seed)
    out = preprocess.normalize(ink)
    assert 0.75 < _core_height(ink, out) < 1.25
    assert out.points[:, 0].min() == 0.0
    assert out.points[0, 2] == 0.0
    assert abs(np.median(out.points[:, 1])) < 0.3
    assert out.points.dtype == np.float32


def test_normalize_height_is_robust_to_tilt_and_outliers():
  ink = _line(1, words=8)
  height = _core_height(ink, preprocess.normalize(ink))
  tilted = _line(1, words=8, tilt_deg=5.0)
  assert _core_height(tilted, preprocess.normalize(tilted)) == pytest.approx(height, rel=0.1)
  stray = np.array([[0.0, -3000.0, 0.0], [10.0, 4000.0, 0.1]], np.float32)
  noisy = Ink(np.concatenate([ink.points, stray + ink.points[-1]]),
              np.append(ink.stroke_lengths, 2))
  assert _core_height(noisy, preprocess.normalize(noisy)) == pytest.approx(height, rel=0.1)


def test_normalize_is_invariant_to_translation_scale_and_time_offset():
  ink = _line(2)
  ref = preprocess.normalize(ink).points
  moved = ink.points * [37.0, 37.0, 1.0] + [123.4, -56.7, 100.0]
  np.testing.assert_allclose(preprocess.normalize(ink.replace_points(moved)).points, ref,
                             atol=1e-4)


def test_normalize_is_invariant_to_sampling_rate():
  fast, slow = preprocess.normalize(_line(3, hz=100)), preprocess.normalize(_line(3, hz=10))
  assert np.ptp(fast.points[:, 0]) == pytest.approx(np.ptp(slow.points[:, 0]), rel=0.05)


def test_normalize_makes_time_non_decreasing():
  ink = Ink.from_strokes([np.array([[0, 0, 5.0], [1, 1, 4.0], [2, 0, 6.0]])])
  np.testing.assert_array_equal(preprocess.normalize(ink).points[:, 2], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("points", [
    [[3.0, 4.0, 1.0]],
    [[3.0, 4.0, 1.0], [3.0, 4.0, 1.5], [3.0, 4.0, 2.0]],
    [[0.0, 4.0, 1.0], [30.0, 4.0, 1.5]],  # Flat: no height at all.
])
def test_normalize_degenerate_inks_are_finite(points):
  ink = Ink(np.array(points), [len(points)])
  out = preprocess.normalize(ink)
  assert np.isfinite(out.points).all()
  assert np.isfinite(preprocess.features(out, preprocess.FEATURE_NAMES)).all()


def test_normalize_rejects_empty_and_nan():
  with pytest.raises(InputError, match="no points"):
    preprocess.normalize(Ink(np.zeros((0, 3)), np.zeros(0)))
  with pytest.raises(InputError, match="NaN or infinite"):
    preprocess.normalize(Ink(np.array([[0.0, np.nan, 0.0]]), [1]))


def test_remove_duplicates():
  points = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 2], [1, 0, 3], [2, 0, 4],  # Stroke 0.
                     [2, 0, 5],  # Stroke 1 starts where stroke 0 ends: kept.
                     [5, 5, 6], [5, 5, 7], [5, 5, 8]], np.float32)  # Stroke 2: one place.
  out = preprocess.remove_duplicates(Ink(points, [5, 1, 3]))
  np.testing.assert_array_equal(out.stroke_lengths, [3, 1, 1])
  np.testing.assert_array_equal(out.points[:, 2], [0, 2, 4, 5, 6])  # First of each run.


def _arc_steps(ink: Ink) -> np.ndarray:
  steps = np.hypot(*np.diff(ink.points[:, :2], axis=0).T)
  return steps[~ink.stroke_starts[1:]]


def test_resample_keeps_strokes_and_endpoints_and_spacing():
  ink = preprocess.normalize(_line(4))
  out = preprocess.resample(ink, 0.1)
  assert out.num_strokes == ink.num_strokes
  starts, ends = ink.stroke_starts, np.roll(ink.stroke_starts, -1)
  out_starts, out_ends = out.stroke_starts, np.roll(out.stroke_starts, -1)
  np.testing.assert_array_equal(out.points[out_starts], ink.points[starts])
  np.testing.assert_array_equal(out.points[out_ends], ink.points[ends])
  steps = _arc_steps(out)
  multi = np.repeat(out.stroke_lengths > 2, out.stroke_lengths)[1:][~out.stroke_starts[1:]]
  # Chords are at most the arc, which is <= 1.25 spacing when a stroke has > 1 segment.
  assert steps.max() < 0.15 and steps[multi].max() < 0.125
  assert np.mean(steps[multi]) == pytest.approx(0.1, rel=0.05)
  assert (np.diff(out.points[:, 2]) >= 0).all()
  np.testing.assert_array_equal(out.stroke_lengths[ink.stroke_lengths == 1], 1)


def test_resample_circle_is_uniform():
  phi = np.linspace(0, 2 * np.pi, 1000)
  ink = Ink.from_strokes([np.stack([np.cos(phi), np.sin(phi)], axis=1)])
  out = preprocess.resample(ink, 0.1)
  assert out.num_points == round(2 * np.pi / 0.1) + 1
  np.testing.assert_allclose(_arc_steps(out), 2 * np.pi / 63, rtol=1e-3)


def test_resample_straight_stroke_is_exact():
  ink = Ink.from_strokes([np.array([[0, 0, 0.0], [1, 0, 1.0]]), np.array([[5, 5, 2.0]]),
                          np.array([[0, 0, 3.0], [0, 0.25, 3.5], [0, 0.5, 5.0]])])
  out = preprocess.resample(ink, 0.1)
  np.testing.assert_array_equal(out.stroke_lengths, [11, 1, 6])
  np.testing.assert_allclose(out.points[:11, 0], np.linspace(0, 1, 11), atol=1e-6)
  np.testing.assert_allclose(out.points[:11, 2], np.linspace(0, 1, 11), atol=1e-6)
  np.testing.assert_allclose(out.points[12:, 2], [3, 3.2, 3.4, 3.8, 4.4, 5], atol=1e-6)


def test_resample_zero_length_stroke_becomes_one_point():
  ink = Ink(np.array([[1, 1, 0], [1, 1, 1], [2, 2, 2]], np.float32), [2, 1])
  out = preprocess.resample(ink, 0.1)
  np.testing.assert_array_equal(out.stroke_lengths, [1, 1])
  assert np.isfinite(out.points).all()


def test_resample_rejects_bad_spacing():
  with pytest.raises(InputError, match="spacing must be positive"):
    preprocess.resample(_line(), 0.0)


def test_features_shape_and_pen_state():
  ink = preprocess.resample(preprocess.normalize(_line(5)), 0.1)
  feats = preprocess.features(ink, preprocess.FEATURE_NAMES)
  assert feats.shape == (ink.num_points, len(preprocess.FEATURE_NAMES))
  assert feats.dtype == np.float32 and np.isfinite(feats).all()
  col = {n: feats[:, i] for i, n in enumerate(preprocess.FEATURE_NAMES)}
  np.testing.assert_array_equal(col["pen_up"], ink.stroke_starts)
  np.testing.assert_array_equal(col["stroke_end"][np.cumsum(ink.stroke_lengths) - 1], 1)
  assert col["stroke_end"].sum() == ink.num_strokes
  moving = ink.stroke_lengths[ink.stroke_ids] > 1
  np.testing.assert_allclose(np.hypot(col["cos"], col["sin"])[moving], 1, atol=1e-5)
  assert np.abs(col["curvature"]).max() <= 1
  assert 0 <= col["speed"].min() and col["speed"].max() <= preprocess.MAX_SPEED


def test_features_deltas_reconstruct_positions():
  ink = preprocess.normalize(_line(6))
  feats = preprocess.features(ink, ["dx", "dy", "dt"])
  np.testing.assert_array_equal(feats[0], 0)
  np.testing.assert_allclose(np.cumsum(feats[:, :2], axis=0) + ink.points[0, :2],
                             ink.points[:, :2], atol=1e-4)
  assert 0 <= feats[:, 2].min() and feats[:, 2].max() <= preprocess.MAX_DT


def test_features_clip_long_pauses():
  ink = Ink.from_strokes([np.array([[0, 0, 0.0], [1, 0, 0.01]]), np.array([[2, 0, 60.0]])])
  np.testing.assert_allclose(preprocess.features(ink, ["dt"])[:, 0], [0, 0.01, preprocess.MAX_DT])


def test_features_names():
  ink = _line()
  assert preprocess.features(ink, []).shape == (ink.num_points, 0)
  np.testing.assert_array_equal(preprocess.features(ink, ["y", "x"]), ink.points[:, 1::-1])
  with pytest.raises(InputError, match="unknown"):
    preprocess.features(ink, ["dx", "pressure"])


def test_single_point_strokes_and_inks_never_nan():
  ink = Ink.from_strokes([np.array([[1.0, 2.0, 0.0]]), np.array([[1.0, 2.0, 0.0]]),
                          np.array([[3.0, 1.0, 0.5]])])
  for out in (ink, preprocess.normalize(ink), preprocess.remove_duplicates(ink),
              preprocess.resample(ink, 0.1)):
    assert out.num_strokes == 3
    assert np.isfinite(preprocess.features(out, preprocess.FEATURE_NAMES)).all()
