"""The ink preprocessing of `preprocess.py` in jax.numpy, for exported graphs.

An exported model takes raw pen points from a client and must prepare them
exactly as training did; the numpy version cannot run inside a SavedModel, so
this is its port, op for op (tests/test_preprocess_jax.py holds them equal).
Differences forced by a graph with static shapes:
- An ink is a padded `PaddedInk`: points past `length` are padding and every
  reduction masks them; compaction (remove_duplicates) is a cumulative sum and a
  scatter that drops out-of-range rows, as in greedy CTC decoding.
- `resample` writes into a buffer of a fixed number of points (`max_points`):
  its output length depends on the ink, the buffer's size cannot. Longer inks
  are cut there (`length` says how much is real).
- Geometry is float32 (numpy computes in float64): points are moved to the first
  point's origin first, so large absolute coordinates lose no precision.
Functions work on one ink; `jax.vmap` batches them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from htr import opspec
from htr.ink import preprocess


class PaddedInk(NamedTuple):
  """One ink in fixed-size arrays.

  Attributes:
    points: float32 `[N, 3]` x, y, t; rows from `length` on are padding.
    starts: bool `[N]`, True at the first point of every stroke (False in padding).
    length: int32 `[]` number of real points.
    cut: int32 `[]` points a resampling had no room for (0: nothing lost).
  """

  points: jax.Array
  starts: jax.Array
  length: jax.Array
  cut: jax.Array | int = 0

  @property
  def valid(self) -> jax.Array:
    return jnp.arange(self.points.shape[0]) < self.length


def from_points(points: jax.Array, length: jax.Array) -> PaddedInk:
  """`[N, 4]` (x, y, t, stroke index) + length -> PaddedInk.

  A stroke starts at the first point and wherever the stroke index changes, so
  clients may number strokes any way they like (0, 1, 2... or ids).
  """
  length = jnp.clip(jnp.asarray(length, jnp.int32), 0, points.shape[0])
  stroke = points[:, 3]
  changed = jnp.concatenate([jnp.ones((1,), bool), stroke[1:] != stroke[:-1]])
  ink = PaddedInk(points[:, :3].astype(jnp.float32), changed, length)
  return ink._replace(starts=changed & ink.valid)


def _shift_left(x: jax.Array, fill) -> jax.Array:
  """x[i + 1] at i, `fill` at the end."""
  return jnp.concatenate([x[1:], jnp.full((1,) + x.shape[1:], fill, x.dtype)])


def _ends(ink: PaddedInk) -> jax.Array:
  """bool `[N]`: True at the last point of every stroke."""
  return ink.valid & (_shift_left(ink.starts, True) | ~_shift_left(ink.valid, False))


def _segment_lengths(ink: PaddedInk) -> jax.Array:
  """Distance from the previous point of the same stroke (0 at starts and padding)."""
  xy = ink.points[:, :2]
  step = jnp.concatenate([jnp.zeros((1, 2), xy.dtype), xy[1:] - xy[:-1]])
  return jnp.where(ink.valid & ~ink.starts, jnp.hypot(step[:, 0], step[:, 1]), 0.0)


def _compact(ink: PaddedInk, keep: jax.Array) -> PaddedInk:
  """The kept points moved to the front, in order; the rest become padding."""
  n = keep.shape[0]
  slot = jnp.where(keep, jnp.cumsum(keep) - 1, n)
  points = jnp.zeros_like(ink.points).at[slot].set(ink.points, mode="drop")
  starts = jnp.zeros_like(ink.starts).at[slot].set(ink.starts, mode="drop")
  return PaddedInk(points, starts, jnp.sum(keep, dtype=jnp.int32), ink.cut)


def _count_at_most(sorted_values: jax.Array, queries: jax.Array) -> jax.Array:
  """`searchsorted(sorted_values, queries, side="right")` by a fixed-trip binary search.

  jnp.searchsorted (and so jnp.interp) rejects a polymorphic array length under
  jax2tf; 32 halvings cover any int32 length.
  """
  n = sorted_values.shape[0]
  lo = jnp.zeros(queries.shape, jnp.int32)
  hi = jnp.full(queries.shape, n, jnp.int32)

  def halve(_, bounds):
    lo, hi = bounds
    mid = (lo + hi) // 2
    active = lo < hi
    right = sorted_values[jnp.minimum(mid, n - 1)] <= queries
    return jnp.where(active & right, mid + 1, lo), jnp.where(active & ~right, mid, hi)

  return jax.lax.fori_loop(0, 32, halve, (lo, hi))[0]


def _interp(x: jax.Array, xp: jax.Array, fp: jax.Array) -> jax.Array:
  """`np.interp` (clamped at both ends) for increasing `xp` of any length."""
  i = jnp.clip(_count_at_most(xp, x), 1, xp.shape[0] - 1)
  x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
  dx = x1 - x0
  out = f0 + jnp.where(dx > 0, (x - x0) / jnp.where(dx > 0, dx, 1.0), 0.0) * (f1 - f0)
  return jnp.where(x <= xp[0], fp[0], jnp.where(x >= xp[-1], fp[-1], out))


def _masked_median(values: jax.Array, mask: jax.Array) -> jax.Array:
  ordered = jnp.sort(jnp.where(mask, values, jnp.inf))
  m = jnp.maximum(jnp.sum(mask), 1)
  return 0.5 * (ordered[(m - 1) // 2] + ordered[m // 2])


def _weighted_quantiles(values: jax.Array, weights: jax.Array, valid: jax.Array,
                        qs: Sequence[float]) -> jax.Array:
  """`[K, Q]`: `preprocess._weighted_quantiles` over the valid values only.

  Padding gets weight 0 and the largest valid value, so it sorts last and
  interpolating into it returns that value, as numpy's clamping does.
  """
  values = jnp.where(valid, values, jnp.max(jnp.where(valid, values, -jnp.inf)))
  order = jnp.argsort(values, stable=True)
  weights = jnp.where(valid, weights, 0.0)[:, order]
  cum = jnp.cumsum(weights, axis=1) - 0.5 * weights
  targets = jnp.asarray(qs, jnp.float32)[None] * jnp.sum(weights, axis=1, keepdims=True)
  return jax.vmap(lambda q, c: _interp(q, c, values[order]))(targets, cum)


def remove_duplicates(ink: PaddedInk) -> PaddedInk:
  """`preprocess.remove_duplicates`: drops repeats of the previous point within a stroke."""
  xy = ink.points[:, :2]
  moved = jnp.concatenate([jnp.ones((1,), bool), jnp.any(xy[1:] != xy[:-1], axis=1)])
  return _compact(ink, ink.valid & (moved | ink.starts))


def normalize(ink: PaddedInk) -> PaddedInk:
  """`preprocess.normalize`: x from 0, core zone centred on y=0 with height 1, t from 0."""
  valid = ink.valid
  origin = ink.points[0]
  points = jnp.where(valid[:, None], ink.points - origin, 0.0)
  ink = ink._replace(points=points)
  x, y, t = points.T
  segments = _segment_lengths(ink)
  moving = segments > 0
  any_moving = jnp.any(moving)
  segments = jnp.where(any_moving, jnp.minimum(
      segments, preprocess._MAX_SEGMENT_RATIO * _masked_median(segments, moving)), segments)
  weights = 0.5 * (segments + _shift_left(segments, 0.0))
  mean = jnp.sum(weights) / jnp.maximum(ink.length, 1)
  weights = jnp.where(valid, weights + jnp.where(any_moving, 1e-3 * mean, 1.0), 0.0)

  x_lo, x_left, x_mid, x_right, x_hi = _weighted_quantiles(
      x, weights[None], valid, [0.01, 0.25, 0.5, 0.75, 0.99])[0]
  left = x < x_mid
  quantiles = _weighted_quantiles(
      y, jnp.stack([weights, weights * left, weights * ~left]), valid, [0.01, 0.5, 0.99])
  y_lo, y_hi, y_left, y_right = quantiles[0, 0], quantiles[0, 2], quantiles[1, 1], quantiles[2, 1]
  max_slope = float(preprocess._MAX_SLOPE)
  slope = jnp.where(x_right > x_left, jnp.clip(
      (y_right - y_left) / jnp.where(x_right > x_left, x_right - x_left, 1.0),
      -max_slope, max_slope), 0.0)
  low, high = _weighted_quantiles(y - slope * (x - x_mid), weights[None], valid,
                                  preprocess._CORE_QUANTILES)[0]
  extent = jnp.maximum(x_hi - x_lo, y_hi - y_lo)
  height = jnp.maximum(preprocess._IQR_TO_CORE * (high - low),
                       preprocess._MIN_HEIGHT_FRACTION * extent)
  height = jnp.where(height > 0, height, 1.0)
  x_min = jnp.min(jnp.where(valid, x, jnp.inf))
  t = jax.lax.cummax(t)
  out = jnp.stack([(x - x_min) / height, (y - 0.5 * (low + high)) / height, t - t[0]], axis=1)
  return ink._replace(points=jnp.where(valid[:, None], out, 0.0))


def resample(ink: PaddedInk, spacing: float, max_points: int) -> PaddedInk:
  """`preprocess.resample` into `max_points` slots: uniform arc-length spacing per stroke."""
  n = ink.points.shape[0]
  valid = ink.valid
  index = jnp.arange(n)
  arc = jnp.cumsum(_segment_lengths(ink))
  stroke = jnp.cumsum(ink.starts) - 1  # Stroke number of every point.
  num_strokes = jnp.sum(ink.starts)
  start_of = jnp.zeros(n, jnp.int32).at[jnp.where(ink.starts, stroke, n)].set(index, mode="drop")
  end_of = jnp.zeros(n, jnp.int32).at[jnp.where(_ends(ink), stroke, n)].set(index, mode="drop")
  real_stroke = index < num_strokes
  stroke_len = jnp.where(real_stroke, arc[end_of] - arc[start_of], 0.0)
  # The global axis of numpy's single interp: each stroke offset by 1 past the last;
  # padding continues it upwards so it stays sorted.
  axis = arc + stroke
  axis = jnp.where(valid, axis, axis[jnp.maximum(ink.length - 1, 0)] + 1.0 + index)

  num_segments = jnp.where(stroke_len > 0, jnp.maximum(1, jnp.round(stroke_len / spacing)), 0)
  num_segments = num_segments.astype(jnp.int32)
  out_lengths = jnp.where(real_stroke, num_segments + 1, 0)
  out_ends = jnp.cumsum(out_lengths)
  k = jnp.arange(max_points)
  out_stroke = jnp.minimum(_count_at_most(out_ends, k), n - 1)
  within = k - (out_ends - out_lengths)[out_stroke]
  segments_k = num_segments[out_stroke]
  frac = within / jnp.maximum(segments_k, 1)
  target = axis[start_of[out_stroke]] + frac * stroke_len[out_stroke]
  out = jax.vmap(lambda c: _interp(target, axis, ink.points[:, c]), out_axes=1)(
      jnp.arange(3))
  # Endpoints exactly (the end wins for a zero-length stroke, as in numpy).
  out = jnp.where((within == 0)[:, None], ink.points[start_of[out_stroke]], out)
  out = jnp.where((within == segments_k)[:, None], ink.points[end_of[out_stroke]], out)
  length = jnp.minimum(out_ends[-1], max_points).astype(jnp.int32)
  real = k < length
  return PaddedInk(jnp.where(real[:, None], out, 0.0), real & (within == 0), length,
                   ink.cut + (out_ends[-1] - length).astype(jnp.int32))


class _Geometry:
  """`preprocess._Geometry` on a PaddedInk: shared per-point quantities."""

  def __init__(self, ink: PaddedInk):
    self.ink = ink
    self.points = ink.points

  @functools.cached_property
  def deltas(self) -> jax.Array:
    return jnp.concatenate([jnp.zeros((1, 3), self.points.dtype),
                            self.points[1:] - self.points[:-1]])

  @functools.cached_property
  def neighbours(self) -> tuple[jax.Array, jax.Array]:
    n = self.points.shape[0]
    i = jnp.arange(n)
    start = jax.lax.cummax(jnp.where(self.ink.starts, i, 0))
    end = jax.lax.cummin(jnp.where(_ends(self.ink), i, n - 1), reverse=True)
    return jnp.maximum(i - 1, start), jnp.minimum(i + 1, end)

  @functools.cached_property
  def tangent(self) -> jax.Array:
    prev, next_ = self.neighbours
    d = self.points[next_, :2] - self.points[prev, :2]
    norm = jnp.hypot(d[:, 0], d[:, 1])[:, None]
    return jnp.where(norm > 0, d / jnp.where(norm > 0, norm, 1.0), 0.0)

  def curvature(self) -> jax.Array:
    prev, next_ = self.neighbours
    a = self.points[:, :2] - self.points[prev, :2]
    b = self.points[next_, :2] - self.points[:, :2]
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return jnp.arctan2(cross, jnp.sum(a * b, axis=1)) / jnp.pi

  def speed(self) -> jax.Array:
    prev, next_ = self.neighbours
    d = self.points[next_] - self.points[prev]
    dist, dt = jnp.hypot(d[:, 0], d[:, 1]), d[:, 2]
    return jnp.minimum(jnp.where(dt > 0, dist / jnp.where(dt > 0, dt, 1.0), 0.0),
                       preprocess.MAX_SPEED)


_FEATURES: dict[str, Callable[[_Geometry], jax.Array]] = {
    "x": lambda g: g.points[:, 0],
    "y": lambda g: g.points[:, 1],
    "dx": lambda g: g.deltas[:, 0],
    "dy": lambda g: g.deltas[:, 1],
    "dt": lambda g: jnp.clip(g.deltas[:, 2], 0.0, preprocess.MAX_DT),
    "pen_up": lambda g: g.ink.starts.astype(jnp.float32),
    "stroke_end": lambda g: _ends(g.ink).astype(jnp.float32),
    "cos": lambda g: g.tangent[:, 0],
    "sin": lambda g: g.tangent[:, 1],
    "curvature": _Geometry.curvature,
    "speed": _Geometry.speed,
}
assert set(_FEATURES) == set(preprocess.FEATURE_NAMES), "keep the two feature sets equal"


def features(ink: PaddedInk, names: Sequence[str]) -> jax.Array:
  """float32 `[N, len(names)]` as `preprocess.features`, zeros in padding rows."""
  geometry = _Geometry(ink)
  out = jnp.stack([_FEATURES[name](geometry).astype(jnp.float32) for name in names], axis=1)
  return jnp.where(ink.valid[:, None], out, 0.0)


# Ops of a `pp_predict` spec and their graph versions; ops that only unpack or
# select record fields have nothing to do on points that arrive as arrays.
_PASS_THROUGH = ("decode_ink", "keep")


def build(spec: str, max_points: int
          ) -> Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
  """The graph version of an ink `pp_predict` spec: (points [N, 4], length) -> features.

  Returns a function of one ink giving (`inputs [M, F]`, `input_length`,
  `points_cut`); M is `max_points` after a resample, else N, and `points_cut`
  counts the resampled points that did not fit (callers must not ignore it).

  Raises:
    ValueError: for an op without a graph version, or a spec without `features`.
  """
  steps: list[Callable[[PaddedInk], Any]] = []
  ops = [(name, kwargs) for name, kwargs in opspec.parse(spec) if name not in _PASS_THROUGH]
  if not ops or ops[-1][0] != "features":
    raise ValueError(f"an exportable ink spec ends with features(...): {spec!r}")
  for name, kwargs in ops:
    if name == "remove_duplicates":
      steps.append(remove_duplicates)
    elif name == "normalize":
      steps.append(normalize)
    elif name == "resample":
      steps.append(functools.partial(resample, max_points=max_points, **kwargs))
    elif name == "features":
      steps.append(functools.partial(features, **kwargs))
    else:
      raise ValueError(f"ink op {name!r} of {spec!r} has no graph version "
                       f"(htr/ink/preprocess_jax.py); it cannot be exported")

  def run(points: jax.Array, length: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    ink = from_points(points, length)
    for step in steps[:-1]:
      ink = step(ink)
    return steps[-1](ink), ink.length, jnp.asarray(ink.cut, jnp.int32)

  return run
