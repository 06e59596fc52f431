"""The Ink type: pen strokes as one flat point array plus stroke lengths.

A flat `[N, 3]` array (rather than a list of per-stroke arrays) keeps every
preprocessing step vectorised over all points of a line at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from htr.errors import InputError, InputTooLarge


@dataclasses.dataclass(frozen=True)
class Ink:
  """Strokes of (x, y, t) points; y grows downward, t in seconds.

  Attributes:
    points: float32 `[N, 3]` array of x, y, t for all strokes, concatenated.
    stroke_lengths: int32 `[S]` number of points of each stroke; sums to N.
  """

  points: np.ndarray
  stroke_lengths: np.ndarray

  def __post_init__(self):
    with np.errstate(over="ignore"):  # Beyond float32 becomes inf; `validate` names it.
      points = np.asarray(self.points, np.float32).reshape(-1, 3)
    lengths = np.asarray(self.stroke_lengths, np.int32).reshape(-1)
    if lengths.sum() != len(points) or (lengths <= 0).any():
      raise InputError(
          f"stroke lengths {lengths.tolist()[:8]} do not partition {len(points)} points")
    object.__setattr__(self, "points", points)
    object.__setattr__(self, "stroke_lengths", lengths)

  @classmethod
  def from_strokes(cls, strokes: Sequence[np.ndarray]) -> Ink:
    """Builds an Ink from per-stroke `[n_i, 2 or 3]` arrays (t defaults to order)."""
    strokes = [np.asarray(s, np.float64).reshape(len(s), -1) for s in strokes if len(s)]
    if not strokes:
      return cls(np.zeros((0, 3), np.float32), np.zeros((0,), np.int32))
    if strokes[0].shape[1] == 2:
      n = sum(len(s) for s in strokes)
      t = np.arange(n, dtype=np.float64) / 100.0  # 100 Hz: a typical digitiser rate.
      points = np.concatenate([np.concatenate(strokes), t[:, None]], axis=1)
    else:
      points = np.concatenate(strokes)
    return cls(points, np.array([len(s) for s in strokes], np.int32))

  @property
  def num_points(self) -> int:
    return len(self.points)

  @property
  def num_strokes(self) -> int:
    return len(self.stroke_lengths)

  @property
  def stroke_ids(self) -> np.ndarray:
    """int32 `[N]`: the index of the stroke each point belongs to."""
    return np.repeat(np.arange(self.num_strokes, dtype=np.int32), self.stroke_lengths)

  @property
  def stroke_starts(self) -> np.ndarray:
    """bool `[N]`: True at the first point of every stroke."""
    starts = np.zeros(self.num_points, bool)
    starts[np.cumsum(self.stroke_lengths) - self.stroke_lengths] = True
    return starts

  def strokes(self) -> list[np.ndarray]:
    """The points split per stroke (views, not copies)."""
    return np.split(self.points, np.cumsum(self.stroke_lengths)[:-1])

  def replace_points(self, points: np.ndarray) -> Ink:
    """Same strokes, new coordinates (for transforms that keep point count)."""
    return Ink(points, self.stroke_lengths)

  def bbox(self) -> tuple[float, float, float, float]:
    """(min_x, min_y, max_x, max_y)."""
    lo, hi = self.points[:, :2].min(0), self.points[:, :2].max(0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


# x and y beyond this are refused (time stamps, in column 2, may be epoch milliseconds).
MAX_COORDINATE = 1e9


def validate(ink: Ink, *, path=None, sample_id=None, max_points: int = 200_000) -> Ink:
  """Raises InputError for inks no model should see: empty, non-finite, absurdly long."""
  if ink.num_points == 0:
    raise InputError("ink has no points", path=path, sample_id=sample_id)
  if not np.isfinite(ink.points).all():
    bad = int((~np.isfinite(ink.points)).any(1).sum())
    raise InputError(f"ink has {bad} points with NaN or infinite coordinates (or beyond "
                     "float32's +-3.4e38)", path=path, sample_id=sample_id)
  if (far := float(np.abs(ink.points[:, :2]).max())) > MAX_COORDINATE:
    raise InputError(f"ink has a coordinate of {far:.3g}, beyond +-{MAX_COORDINATE:.0e}"
                     " (no digitiser writes such values; float32 features would overflow)",
                     path=path, sample_id=sample_id)
  if ink.num_points > max_points:
    raise InputTooLarge(f"ink has {ink.num_points} points, more than the limit {max_points}",
                     path=path, sample_id=sample_id)
  return ink
