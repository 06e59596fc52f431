"""Augmentations: reproducible, structure-preserving, identity at zero strength."""

from __future__ import annotations

import numpy as np
import pytest

from htr.data import registry
from htr.ink import augment
from htr.ink.ink import Ink

_TRANSFORMS = {
    "random_affine": augment.random_affine,
    "jitter": lambda ink, rng: augment.jitter(ink, rng, sigma=0.02),
    "time_stretch": lambda ink, rng: augment.time_stretch(ink, rng, low=0.7, high=1.4),
    "smooth_distortion": augment.smooth_distortion,
}
_IDENTITIES = {
    "random_affine": lambda ink, rng: augment.random_affine(
        ink, rng, scale=(1, 1), aspect=(1, 1), rotation_deg=0.0, shear=0.0),
    "jitter": lambda ink, rng: augment.jitter(ink, rng, sigma=0.0),
    "time_stretch": lambda ink, rng: augment.time_stretch(ink, rng, low=1.0, high=1.0),
    "smooth_distortion": lambda ink, rng: augment.smooth_distortion(ink, rng, amplitude=0.0),
}


def _ink(seed: int = 0) -> Ink:
  """A normalised-looking line: ~1 high, 20 long, 15 strokes of random walks."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(1, 40, 15)
  xy = np.cumsum(rng.normal(0, 0.05, (lengths.sum(), 2)), axis=0)
  xy[:, 0] += np.linspace(0, 20, lengths.sum())
  t = np.cumsum(rng.uniform(0, 0.02, lengths.sum()))
  return Ink(np.column_stack([xy, t]), lengths)


@pytest.mark.parametrize("name", _TRANSFORMS)
def test_every_augmentation_is_a_pipeline_op(name):
  """Config strings reach each one by name (smooth_distortion was not registered)."""
  ink = _ink()
  out = registry.build(f"{name}(p=1.0)")({"ink": ink}, np.random.default_rng(3))["ink"]
  assert out.points.shape == ink.points.shape
  assert not np.array_equal(out.points, ink.points)


@pytest.mark.parametrize("name", _TRANSFORMS)
def test_deterministic_given_seed_and_keeps_structure(name):
  transform, ink = _TRANSFORMS[name], _ink()
  a = transform(ink, np.random.default_rng(7))
  b = transform(ink, np.random.default_rng(7))
  c = transform(ink, np.random.default_rng(8))
  np.testing.assert_array_equal(a.points, b.points)
  assert not np.array_equal(a.points, c.points)
  assert not np.array_equal(a.points, ink.points)
  np.testing.assert_array_equal(a.stroke_lengths, ink.stroke_lengths)
  assert a.points.dtype == np.float32 and np.isfinite(a.points).all()


@pytest.mark.parametrize("name", _IDENTITIES)
def test_identity_at_zero_strength(name):
  ink = _ink(1)
  out = _IDENTITIES[name](ink, np.random.default_rng(0))
  np.testing.assert_allclose(out.points, ink.points, atol=1e-5)


@pytest.mark.parametrize("name", _TRANSFORMS)
@pytest.mark.parametrize("points", [[[0.5, 0.5, 0.0]], [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]])
def test_degenerate_inks_stay_finite(name, points):
  ink = Ink(np.array(points), [1] * len(points))
  out = _TRANSFORMS[name](ink, np.random.default_rng(0))
  assert out.num_points == len(points) and np.isfinite(out.points).all()


def test_spatial_transforms_keep_time_and_time_stretch_keeps_space():
  ink = _ink(2)
  for name in ("random_affine", "jitter", "smooth_distortion"):
    out = _TRANSFORMS[name](ink, np.random.default_rng(0))
    np.testing.assert_array_equal(out.points[:, 2], ink.points[:, 2])
  out = _TRANSFORMS["time_stretch"](ink, np.random.default_rng(0))
  np.testing.assert_array_equal(out.points[:, :2], ink.points[:, :2])


def test_time_stretch_is_monotonic_and_within_range():
  ink = _ink(3)
  for seed in range(10):
    out = augment.time_stretch(ink, np.random.default_rng(seed), low=0.5, high=2.0)
    t, t_in = out.points[:, 2].astype(np.float64), ink.points[:, 2].astype(np.float64)
    assert t[0] == t_in[0]
    ratio = np.diff(t) / np.maximum(np.diff(t_in), 1e-9)
    assert (np.diff(t) >= 0).all()
    assert 0.5 - 1e-3 <= ratio[np.diff(t_in) > 1e-4].min()
    assert ratio[np.diff(t_in) > 1e-4].max() <= 2.0 + 1e-3
  uniform = augment.time_stretch(ink, np.random.default_rng(0), low=1.5, high=1.5, segments=1)
  np.testing.assert_allclose(uniform.points[:, 2] - t_in[0], 1.5 * (t_in - t_in[0]), rtol=1e-5)


def test_random_affine_scale_only():
  ink = _ink(4)
  out = augment.random_affine(ink, np.random.default_rng(0), scale=(2.0, 2.0), aspect=(1, 1),
                              rotation_deg=0.0, shear=0.0)
  np.testing.assert_allclose(np.ptp(out.points[:, :2], axis=0),
                             2 * np.ptp(ink.points[:, :2], axis=0), rtol=1e-5)
  np.testing.assert_allclose(out.points[:, :2].min(0) + out.points[:, :2].max(0),
                             ink.points[:, :2].min(0) + ink.points[:, :2].max(0), atol=1e-4)


def test_random_affine_shear_slants_verticals():
  ink = Ink.from_strokes([np.array([[0.0, -1.0], [0.0, 1.0]])])
  for seed in range(5):
    out = augment.random_affine(ink, np.random.default_rng(seed), scale=(1, 1),
                                aspect=(1, 1), rotation_deg=0.0, shear=0.3)
    dx = out.points[1, 0] - out.points[0, 0]
    assert 0 < abs(dx) <= 0.6 + 1e-6  # Slant in x per unit y is at most 0.3.
    np.testing.assert_allclose(out.points[:, 1], [-1, 1])


def test_jitter_and_smooth_distortion_sizes():
  ink = _ink(5)
  noise = augment.jitter(ink, np.random.default_rng(0), sigma=0.05).points - ink.points
  assert np.std(noise[:, :2]) == pytest.approx(0.05, rel=0.15)
  shift = augment.smooth_distortion(ink, np.random.default_rng(0), amplitude=0.1).points
  shift = (shift - ink.points)[:, :2]
  assert 0 < np.abs(shift).max() < 1.0
  # Smooth along x: a slope < 1, so the x shift never folds the writing back.
  order = np.argsort(ink.points[:, 0])
  slope = np.abs(np.diff(shift[order], axis=0)) / np.diff(ink.points[order, :1], axis=0)
  assert slope.max() < 1.0


@pytest.mark.parametrize("call", [
    lambda ink, rng: augment.random_affine(ink, rng, scale=(1.1, 0.9)),
    lambda ink, rng: augment.jitter(ink, rng, sigma=-1.0),
    lambda ink, rng: augment.time_stretch(ink, rng, low=0.0, high=1.0),
    lambda ink, rng: augment.smooth_distortion(ink, rng, num_waves=0),
])
def test_bad_parameters_raise(call):
  with pytest.raises(ValueError):
    call(_ink(), np.random.default_rng(0))
