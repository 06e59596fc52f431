"""Random ink transforms for training-time augmentation.

Each takes an `np.random.Generator` and draws the same number of values from
it whatever the ink (except `jitter`, which draws per point), so a pipeline
reseeded per example is reproducible. Transforms keep point count and stroke
lengths, are vectorised over all points, and are the identity at zero
strength. Distances are in line heights: apply them after `normalize`.
"""

from __future__ import annotations

import numpy as np

from htr.ink.ink import Ink


def _check_range(name: str, bounds: tuple[float, float]) -> tuple[float, float]:
  low, high = map(float, bounds)
  if not 0 < low <= high:
    raise ValueError(f"{name} must be a range 0 < low <= high, got {bounds}")
  return low, high


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], size=None):
  """Symmetric in ratio: a factor and its inverse are equally likely."""
  low, high = bounds
  return np.exp(rng.uniform(np.log(low), np.log(high), size))


def random_affine(ink: Ink, rng: np.random.Generator, *,
                  scale: tuple[float, float] = (0.9, 1.1),
                  aspect: tuple[float, float] = (0.9, 1.1),
                  rotation_deg: float = 3.0,
                  shear: float = 0.3) -> Ink:
  """Random size, width/height ratio, rotation and slant, about the ink's centre.

  Writers differ mostly in these global ways. `shear` is the largest change of
  slant in x per unit of upward y (0.3 is about 17 degrees); `aspect` multiplies
  width over height (split between the two axes, so it does not change the
  size); factors are drawn log-uniformly, angles and slant uniformly.
  """
  s = _log_uniform(rng, _check_range("scale", scale))
  a = _log_uniform(rng, _check_range("aspect", aspect))
  theta = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
  k = rng.uniform(-shear, shear)
  # y grows downward, so upright strokes lean right when x decreases with y.
  slant = np.array([[1.0, -k], [0.0, 1.0]])
  cos, sin = np.cos(theta), np.sin(theta)
  rotation = np.array([[cos, -sin], [sin, cos]])
  matrix = np.diag([s * np.sqrt(a), s / np.sqrt(a)]) @ rotation @ slant
  if ink.num_points == 0:
    return ink
  points = ink.points.astype(np.float64)
  centre = 0.5 * (points[:, :2].min(0) + points[:, :2].max(0))
  points[:, :2] = (points[:, :2] - centre) @ matrix.T + centre
  return ink.replace_points(points.astype(np.float32))


def jitter(ink: Ink, rng: np.random.Generator, *, sigma: float) -> Ink:
  """Independent gaussian noise of std `sigma` (line heights) on every x and y.

  Mimics digitiser noise and tremor; keep sigma well below the resampling
  spacing or the writing direction features become noise.
  """
  if sigma < 0:
    raise ValueError(f"jitter sigma must be >= 0, got {sigma}")
  noise = rng.normal(0.0, 1.0, (ink.num_points, 2)) * sigma
  points = ink.points.astype(np.float64)
  points[:, :2] += noise
  return ink.replace_points(points.astype(np.float32))


def time_stretch(ink: Ink, rng: np.random.Generator, *, low: float, high: float,
                 segments: int = 4) -> Ink:
  """Random writing speed: time is stretched by a factor in [low, high] per segment.

  The ink's duration is cut into `segments` equal spans, each slowed down or
  sped up by its own log-uniform factor, so the tempo varies along the line;
  the warp is piecewise linear and increasing, so point order, the start time
  and non-decreasing times are kept. `segments=1` is a uniform speed change.
  """
  if segments < 1:
    raise ValueError(f"time_stretch segments must be >= 1, got {segments}")
  factors = _log_uniform(rng, _check_range("time_stretch", (low, high)), segments)
  points = ink.points.astype(np.float64)
  t = points[:, 2]
  if ink.num_points == 0 or not np.ptp(t) > 0:
    return ink
  knots = np.linspace(t.min(), t.max(), segments + 1)
  warped = np.concatenate([[knots[0]], knots[0] + np.cumsum(factors * np.diff(knots))])
  points[:, 2] = np.interp(t, knots, warped)
  return ink.replace_points(points.astype(np.float32))


def smooth_distortion(ink: Ink, rng: np.random.Generator, *, amplitude: float = 0.1,
                      wavelength: tuple[float, float] = (2.0, 8.0),
                      num_waves: int = 3) -> Ink:
  """A smooth random displacement that varies along the line (a function of x).

  The y shift makes the baseline wander; the x shift locally widens and narrows
  the writing, as a writer's letter width drifts along a line. Each shift is a
  sum of `num_waves` sinusoids with log-uniform wavelengths (line heights),
  random phases and gaussian amplitudes of total std `amplitude` (line heights).
  Keep amplitude * 2 pi / min(wavelength) below ~1 so the x shift never folds
  the writing back on itself.
  """
  if amplitude < 0 or num_waves < 1:
    raise ValueError(f"smooth_distortion needs amplitude >= 0 and num_waves >= 1, got "
                     f"{amplitude} and {num_waves}")
  freq = 2 * np.pi / _log_uniform(rng, _check_range("wavelength", wavelength), (2, num_waves))
  phase = rng.uniform(0.0, 2 * np.pi, (2, num_waves))
  amp = rng.normal(0.0, amplitude / np.sqrt(num_waves), (2, num_waves))
  points = ink.points.astype(np.float64)
  x = points[:, :1]  # [N, 1], broadcast against the waves.
  shift = np.stack([np.sin(x * freq[i] + phase[i]) @ amp[i] for i in range(2)], axis=1)
  points[:, :2] += shift
  return ink.replace_points(points.astype(np.float32))
