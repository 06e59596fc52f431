"""Vectorised ink preprocessing: normalise, deduplicate, resample, featurise.

Every function works on the flat point array of an `Ink` at once (cumulative
sums with per-stroke offsets, `np.interp` over all strokes, index arithmetic
at stroke boundaries), never with Python loops over points or strokes: a
630-point line goes through normalize, remove_duplicates, resample and features
in ~0.4 ms on one CPU core. Geometry is computed in float64, returned as float32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from htr.errors import InputError
from htr.ink.ink import Ink

# The y quantiles, weighted by ink length, that bound the core (x-height) zone.
# Ascenders and descenders are a minority of the ink of a text line, so the
# middle half of it lies inside the core zone and ignores them.
_CORE_QUANTILES = (0.25, 0.75)
# Core height / inter-quartile range, calibrated on IAM-OnDB lines: after
# normalisation the band where their y density exceeds half its peak (the core
# zone) is 0.95 high (median of 92 lines; 5%..95%: 0.8..1.1).
_IQR_TO_CORE = 1.6
# Lines are de-tilted (for the height estimate only) by at most this slope:
# larger estimates come from the shape of short inks, not from a tilted line.
_MAX_SLOPE = np.tan(np.deg2rad(10.0))
# Segments longer than this many times the median segment count as this long:
# a digitiser glitch or a stray straight line is a few long segments, not ink.
_MAX_SEGMENT_RATIO = 5.0
# The height estimate is at least this fraction of the ink's largest extent
# (1%..99% quantiles), so a flat ink ("-", "...") is not blown up by a near-zero
# quartile range.
_MIN_HEIGHT_FRACTION = 0.01
# Caps for features that are unbounded on real data.
MAX_DT = 1.0  # Seconds: a long pause is just "a pause", not a huge input.
MAX_SPEED = 50.0  # Line heights per second: far above real handwriting.


def _segment_lengths(ink: Ink) -> np.ndarray:
  """float64 `[N]`: distance from the previous point of the same stroke (0 at starts)."""
  xy = ink.points[:, :2].astype(np.float64)
  lengths = np.zeros(ink.num_points)
  lengths[1:] = np.hypot(*np.diff(xy, axis=0).T)
  lengths[ink.stroke_starts] = 0.0
  return lengths


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray,
                        qs: Sequence[float]) -> np.ndarray:
  """`[K, Q]` quantiles of `values [N]` with each value counted `weights [K, N]` times.

  One sort serves several weightings (e.g. the whole ink and each half of it).
  """
  order = np.argsort(values, kind="stable")  # Ties in a fixed order (the graph port agrees).
  weights = weights[:, order]
  cum = np.cumsum(weights, axis=1) - 0.5 * weights
  targets = np.asarray(qs)[None] * weights.sum(axis=1, keepdims=True)
  return np.stack([np.interp(q, c, values[order]) for q, c in zip(targets, cum)])


def _check_usable(ink: Ink) -> None:
  if ink.num_points == 0:
    raise InputError("ink has no points")
  if not np.isfinite(ink.points).all():
    raise InputError("ink has NaN or infinite coordinates")


def normalize(ink: Ink) -> Ink:
  """Puts x at 0, the core zone's centre at y=0, its height at 1 and t at 0.

  The height estimate is the inter-quartile range of y, weighted by ink length
  (each point counts half of its two adjacent segments, a segment at most five
  times the median one) and measured about the line's tilt, times a constant
  calibrated on IAM-OnDB. Why this and not something simpler:
  - The bounding box height is dominated by ascenders, descenders and stray
    strokes; the middle half of the ink is almost all core zone (x-height).
  - Weighting by length rather than counting points makes the estimate
    independent of pen speed, digitiser rate, repeated points and resampling.
  - A whiteboard line tilted by 3 degrees drifts by more than its x-height
    over its length, so quartiles are taken of y minus a robust slope (from
    the medians of the left and right halves of the ink); the ink itself is
    not rotated.
  - Median stroke height depends on how a writer splits words into strokes
    (a cursive word is one tall stroke, an "i" dot has no height).
  The same scale is applied to x and y (aspect is kept); degenerate inks
  (one point, all points equal) are only translated.

  Raises:
    InputError: if the ink is empty or has non-finite coordinates.
  """
  _check_usable(ink)
  points = ink.points.astype(np.float64)
  x, y, t = points.T
  segments = _segment_lengths(ink)
  moving = segments > 0
  if moving.any():
    segments = np.minimum(segments, _MAX_SEGMENT_RATIO * np.median(segments[moving]))
  weights = np.zeros(ink.num_points)
  weights[:-1] += 0.5 * segments[1:]
  weights[1:] += 0.5 * segments[1:]
  # Every point counts a little, so that inks of dots alone still have quantiles.
  weights += 1e-3 * weights.mean() if moving.any() else 1.0

  # Robust tilt from the medians of the left and right halves of the ink; the
  # halves' x medians are the quartiles of x.
  x_lo, x_left, x_mid, x_right, x_hi = _weighted_quantiles(
      x, weights[None], [0.01, 0.25, 0.5, 0.75, 0.99])[0]
  left = x < x_mid
  (y_lo, _, y_hi), (_, y_left, _), (_, y_right, _) = _weighted_quantiles(
      y, np.stack([weights, weights * left, weights * ~left]), [0.01, 0.5, 0.99])
  slope = 0.0
  if x_right > x_left:
    slope = float(np.clip((y_right - y_left) / (x_right - x_left), -_MAX_SLOPE, _MAX_SLOPE))

  low, high = _weighted_quantiles(y - slope * (x - x_mid), weights[None], _CORE_QUANTILES)[0]
  extent = max(x_hi - x_lo, y_hi - y_lo)
  height = max(_IQR_TO_CORE * (high - low), _MIN_HEIGHT_FRACTION * extent)
  if not height > 0:  # All points equal: nothing to scale.
    height = 1.0
  t = np.maximum.accumulate(t)
  out = np.stack([(x - x.min()) / height, (y - 0.5 * (low + high)) / height, t - t[0]], axis=1)
  return ink.replace_points(out.astype(np.float32))


def remove_duplicates(ink: Ink) -> Ink:
  """Drops points at the same (x, y) as the previous point of their stroke.

  IAM-OnDB repeats points while the pen rests; they carry no shape, add zero-length
  segments (undefined directions) and lengthen sequences. The first point of each
  stroke is always kept, so no stroke disappears.
  """
  if ink.num_points == 0:
    return ink
  xy = ink.points[:, :2]
  keep = np.ones(ink.num_points, bool)
  keep[1:] = (xy[1:] != xy[:-1]).any(axis=1)
  starts = ink.stroke_starts
  keep |= starts
  lengths = np.add.reduceat(keep.astype(np.int32), np.flatnonzero(starts))
  return Ink(ink.points[keep], lengths)


def resample(ink: Ink, spacing: float) -> Ink:
  """Re-samples every stroke at uniform arc-length `spacing`, keeping its endpoints.

  Uniform spacing makes the sequence independent of writing speed and digitiser
  rate, and its length proportional to the amount of ink. Each stroke of length L
  gets max(1, round(L / spacing)) equal segments: within 0.75..1.25 `spacing` if
  L >= 1.5 `spacing`, else the stroke is reduced to its two endpoints. t is
  interpolated along the arc. Strokes of zero length become a single point.
  All strokes are done by one `np.interp` over a global arc-length axis in which
  each stroke is offset past the end of the previous one.
  """
  if not (np.isfinite(spacing) and spacing > 0):
    raise InputError(f"resample spacing must be positive, got {spacing}")
  if ink.num_points == 0:
    return ink
  starts = np.flatnonzero(ink.stroke_starts)
  ends = starts + ink.stroke_lengths - 1
  arc = np.cumsum(_segment_lengths(ink))  # Running arc length over the whole ink.
  stroke_len = arc[ends] - arc[starts]
  # A gap of 1 between strokes keeps the global axis strictly increasing across them.
  offsets = np.arange(ink.num_strokes, dtype=np.float64)
  axis = arc + np.repeat(offsets, ink.stroke_lengths)

  num_segments = np.where(stroke_len > 0, np.maximum(1, np.round(stroke_len / spacing)), 0)
  num_segments = num_segments.astype(np.int64)
  out_lengths = num_segments + 1
  out_starts = np.cumsum(out_lengths) - out_lengths
  stroke = np.repeat(np.arange(ink.num_strokes), out_lengths)
  k = np.arange(out_lengths.sum()) - out_starts[stroke]
  frac = k / np.maximum(num_segments[stroke], 1)
  target = axis[starts][stroke] + frac * stroke_len[stroke]

  points = ink.points.astype(np.float64)
  out = np.stack([np.interp(target, axis, points[:, c]) for c in range(3)], axis=1)
  # Endpoints exactly, not up to rounding in the interpolation.
  out[out_starts] = points[starts]
  out[out_starts + num_segments] = points[ends]
  return Ink(out.astype(np.float32), out_lengths.astype(np.int32))


class _Geometry:
  """Per-point quantities shared by several features, each computed once on demand."""

  def __init__(self, ink: Ink):
    self.ink = ink
    self.points = ink.points.astype(np.float64)

  @functools.cached_property
  def deltas(self) -> np.ndarray:
    """`[N, 3]` difference from the previous point (any stroke), 0 at the first point."""
    return np.diff(self.points, axis=0, prepend=self.points[:1])

  @functools.cached_property
  def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the previous and next point, clamped to the point's own stroke."""
    starts = np.repeat(np.cumsum(self.ink.stroke_lengths) - self.ink.stroke_lengths,
                       self.ink.stroke_lengths)
    ends = starts + np.repeat(self.ink.stroke_lengths, self.ink.stroke_lengths) - 1
    i = np.arange(self.ink.num_points)
    return np.maximum(i - 1, starts), np.minimum(i + 1, ends)

  @functools.cached_property
  def tangent(self) -> np.ndarray:
    """`[N, 2]` unit writing direction (central difference in the stroke); 0 if none."""
    prev, next_ = self.neighbours
    d = self.points[next_, :2] - self.points[prev, :2]
    norm = np.hypot(*d.T)[:, None]
    return np.divide(d, norm, out=np.zeros_like(d), where=norm > 0)

  def curvature(self) -> np.ndarray:
    """Signed turning angle / pi between the incoming and outgoing segment.

    0 at stroke ends and where a segment has zero length; positive turns
    clockwise on screen (y grows downward). On uniformly resampled ink it is
    proportional to the curvature times the spacing.
    """
    prev, next_ = self.neighbours
    a = self.points[:, :2] - self.points[prev, :2]
    b = self.points[next_, :2] - self.points[:, :2]
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    dot = (a * b).sum(axis=1)
    # atan2(0, 0) is 0, which is the wanted value for a missing segment.
    return np.arctan2(cross, dot) / np.pi

  def speed(self) -> np.ndarray:
    """Pen speed (units per second) over the point's neighbours, 0 where dt is 0."""
    prev, next_ = self.neighbours
    d = self.points[next_] - self.points[prev]
    dist, dt = np.hypot(d[:, 0], d[:, 1]), d[:, 2]
    speed = np.divide(dist, dt, out=np.zeros_like(dist), where=dt > 0)
    return np.minimum(speed, MAX_SPEED)


_FEATURES: dict[str, Callable[[_Geometry], np.ndarray]] = {
    "x": lambda g: g.points[:, 0],
    "y": lambda g: g.points[:, 1],
    "dx": lambda g: g.deltas[:, 0],
    "dy": lambda g: g.deltas[:, 1],
    "dt": lambda g: np.clip(g.deltas[:, 2], 0.0, MAX_DT),
    "pen_up": lambda g: g.ink.stroke_starts.astype(np.float64),
    "stroke_end": lambda g: np.roll(g.ink.stroke_starts, -1).astype(np.float64),
    "cos": lambda g: g.tangent[:, 0],
    "sin": lambda g: g.tangent[:, 1],
    "curvature": _Geometry.curvature,
    "speed": _Geometry.speed,
}
FEATURE_NAMES = tuple(_FEATURES)


def features(ink: Ink, names: Sequence[str]) -> np.ndarray:
  """float32 `[N, len(names)]`: the named per-point features, the model's inputs.

  Names (FEATURE_NAMES):
    x, y: the coordinates (normalised: y down, x grows along the line).
    dx, dy: offset from the previous point; at a stroke's first point, the pen-up
      jump from the previous stroke's end; 0 at the ink's first point.
    dt: time since the previous point, clipped to [0, MAX_DT] seconds.
    pen_up: 1 at the first point of every stroke (the pen was just lifted), else 0.
    stroke_end: 1 at the last point of every stroke (the pen lifts next), else 0.
    cos, sin: unit writing direction from the neighbouring points of the stroke;
      (0, 0) for single-point strokes.
    curvature: signed turning angle at the point, in [-1, 1] (units of pi radians).
    speed: line heights per second (on normalised ink), clipped to MAX_SPEED.

  Raises:
    InputError: for a name not in FEATURE_NAMES.
  """
  unknown = [n for n in names if n not in _FEATURES]
  if unknown:
    raise InputError(f"unknown ink features {unknown}; known: {list(FEATURE_NAMES)}")
  geometry = _Geometry(ink)
  out = np.zeros((ink.num_points, len(names)), np.float32)
  for j, name in enumerate(names):
    out[:, j] = _FEATURES[name](geometry)
  return out
