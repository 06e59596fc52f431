"""Lines of ink drawn together as one page image, with each line's geometry: an outline
polygon, a baseline, and the reading order the lines are given in.

IAM-OnDB's forms are the use: each line file keeps its strokes at their place on the
whiteboard, so a form's lines drawn together are the page as written (real handwriting,
real layout), and a line detector can learn from it what ALTO and PAGE-XML pages teach.
Any lines of ink placed on a page (synthetic ones) can be drawn the same way.

The geometry is taken from the strokes, not from the pixels:
  outline: the ink's upper and lower envelope over columns `step` pixels wide (columns
    with no ink, between words, are interpolated from their neighbours), widened by the
    pen and `pad` pixels. It hugs the line as kraken's and Transkribus' polygons do, and
    unlike a convex hull it stays out of the next line where a line drifts or curves.
  baseline: a straight line through the strokes' lowest points (bottoms of letters,
    which sit on the baseline, and of descenders, which do not), fitted robustly:
    Theil-Sen, then iterated least squares on the points within a band around it,
    the band's lower half narrower so that descenders drop out; a word or two too
    short to fix a slope gets a level baseline.
Coordinates are page pixels (pixel centres at integers, as ALTO and PAGE-XML count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from htr.errors import InputError
from htr.image.page_model import Line, Page
from htr.ink import render as render_lib
from htr.ink.ink import Ink

SCALE = 0.2  # Pixels per IAM-OnDB whiteboard unit: a form ~1,250 px wide, lines ~70 px high.
MAX_WIDTH = 1600  # Pages that would be wider are drawn smaller.
PEN_WIDTH = 2.5  # Stroke diameter in pixels.
MARGIN = 24  # Paper around the ink, in pixels.
MAX_PIXELS = 16_000_000  # Larger pages are refused: lines that far apart are bad coordinates.
_WINDOW = 4  # A lowest point is the lowest of the points this many either side on its stroke.


def densify(xy: np.ndarray, stroke_lengths: np.ndarray, spacing: float) -> np.ndarray:
  """`[M, 2]`: the strokes' points with points added along every segment longer than
  `spacing`, so that no stretch of drawn ink lies far from a point (the pen samples a
  fast stroke, or a tracking glitch, sparsely)."""
  xy = np.asarray(xy, np.float64)
  starts = np.zeros(len(xy), bool)
  starts[np.cumsum(stroke_lengths) - stroke_lengths] = True
  segment = np.diff(xy, axis=0)
  pieces = np.where(starts[1:], 1, np.maximum(1, np.ceil(np.hypot(*segment.T) / spacing)))
  pieces = pieces.astype(int)
  # Segment i from point i contributes points i + k / pieces[i], k = 0..pieces[i]-1
  # (a pen-up "segment" only its start).
  index = np.repeat(np.arange(len(segment)), pieces)
  fraction = (np.arange(len(index)) - np.repeat(np.cumsum(pieces) - pieces, pieces)) \
      / np.repeat(pieces, pieces)
  fraction = np.where(starts[1:][index], 0.0, fraction)
  inner = xy[index] + fraction[:, None] * segment[index]
  return np.concatenate([inner, xy[-1:]])


def outline(xy: np.ndarray, *, step: float, pad: float) -> np.ndarray:
  """float32 `[2K, 2]`: the outline of ink at `[N, 2]` pixel coordinates (`densify`
  them first): the top edge left to right, then the bottom edge right to left (a simple
  polygon: x only grows along the top and shrinks along the bottom)."""
  x, y = np.asarray(xy, np.float64).T
  left, right = x.min() - pad, x.max() + pad
  count = max(1, int(np.ceil((right - left) / step)))
  edges = np.linspace(left, right, count + 1)
  column = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, count - 1)
  top = np.full(count, np.inf)
  bottom = np.full(count, -np.inf)
  np.minimum.at(top, column, y)
  np.maximum.at(bottom, column, y)
  # Each column reaches into its neighbours: a stroke crossing a column boundary counts
  # on both sides, so the outline does not notch between two columns.
  top = np.minimum(top, np.minimum(np.r_[np.inf, top[:-1]], np.r_[top[1:], np.inf]))
  bottom = np.maximum(bottom, np.maximum(np.r_[-np.inf, bottom[:-1]],
                                         np.r_[bottom[1:], -np.inf]))
  inked = np.isfinite(top)
  centres = (edges[:-1] + edges[1:]) / 2
  top = np.interp(centres, centres[inked], top[inked]) - pad
  bottom = np.interp(centres, centres[inked], bottom[inked]) + pad
  xs = np.r_[left, centres[1:-1], right] if count > 1 else np.array([left, right])
  if count == 1:
    top, bottom = np.repeat(top, 2), np.repeat(bottom, 2)
  upper = np.column_stack([xs, top])
  lower = np.column_stack([xs, bottom])[::-1]
  return np.concatenate([upper, lower]).astype(np.float32)


def lowest_points(xy: np.ndarray, stroke_lengths: np.ndarray) -> np.ndarray:
  """`[M, 2]`: the points of each stroke that are lowest (largest y) among their
  neighbours `_WINDOW` either side, once per run of equal y; a stroke's last point
  counts only if its stroke went down to it."""
  xy = np.asarray(xy, np.float64)
  found = []
  for stroke in np.split(xy, np.cumsum(stroke_lengths)[:-1]):
    if len(stroke) < 3:
      continue  # Dots: i-dots and full stops, off the baseline as often as on it.
    y = stroke[:, 1]
    padded = np.pad(y, _WINDOW, constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * _WINDOW + 1)
    lowest = (y >= windows.max(1)) & (np.r_[True, y[1:] != y[:-1]])
    lowest[0] &= y[0] > y[1]  # A stroke starting at its bottom: a start, not a turn.
    found.append(stroke[lowest])
  return np.concatenate(found) if found else np.zeros((0, 2))


def ink_height(xy: np.ndarray, *, column: float = 16.0) -> float:
  """A line's height from ascenders to descenders, in the units of `xy`: the 90th
  percentile of its ink's height within columns `column` wide, which a line drifting
  up or down across the page does not inflate, as it would the whole ink's height."""
  x, y = np.asarray(xy, np.float64).T
  _, index = np.unique(np.floor((x - x.min()) / column), return_inverse=True)
  top = np.full(index.max() + 1, np.inf)
  bottom = np.full(index.max() + 1, -np.inf)
  np.minimum.at(top, index, y)
  np.maximum.at(bottom, index, y)
  return float(np.percentile(bottom - top, 90))


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
  """(slope, intercept): the median of pairwise slopes, then the median intercept."""
  i, j = np.triu_indices(len(x), 1)
  dx = x[j] - x[i]
  far = np.abs(dx) > 1e-6
  slope = float(np.median((y[j] - y[i])[far] / dx[far])) if far.any() else 0.0
  return slope, float(np.median(y - slope * x))


def baseline(xy: np.ndarray, stroke_lengths: np.ndarray, *, height: float) -> np.ndarray:
  """float32 `[2, 2]`: a straight baseline across the ink's width, fitted through its
  lowest points: Theil-Sen, then least squares on the points from `height`/4 above to
  `height`/8 below the line, three times; `height` is the line's ink height. A line
  shorter than 3 heights, or with fewer than 8 lowest points (a word or two), gets a
  level baseline through their median: a handful of points fixes no slope."""
  xy = np.asarray(xy, np.float64)
  points = lowest_points(xy, stroke_lengths)
  if len(points) < 2:
    points = xy[np.argsort(xy[:, 1])[-max(2, len(xy) // 10):]]  # Its lowest tenth.
  left, right = xy[:, 0].min(), xy[:, 0].max()
  x, y = points.T
  if right - left < 3 * height or len(points) < 8:
    slope, intercept = 0.0, float(np.median(y))
  else:
    # Theil-Sen is quadratic in the points: at most 400 of them fix the slope.
    sample = np.linspace(0, len(points) - 1, min(len(points), 400)).astype(int)
    slope, intercept = _theil_sen(x[sample], y[sample])
    for _ in range(3):
      residual = y - (slope * x + intercept)
      near = (residual > -height / 4) & (residual < height / 8)
      if near.sum() < 2 or np.ptp(x[near]) < 1e-6:
        break
      slope, intercept = np.polyfit(x[near], y[near], 1)
  return np.array([[left, slope * left + intercept], [right, slope * right + intercept]],
                  np.float32)


def page_placement(lines: Sequence[Ink], *, scale: float = SCALE, max_width: int = MAX_WIDTH,
                pen_width: float = PEN_WIDTH, margin: float = MARGIN
                ) -> tuple[float, np.ndarray, tuple[int, int]]:
  """(pixels per ink unit, the ink's top-left corner, (H, W)) of the page `render_page`
  draws, without drawing it: to check lines before drawing them.

  Raises:
    InputError: no lines, a line without points, or a page over MAX_PIXELS.
  """
  if not lines:
    raise InputError("no lines to draw")
  if any(ink.num_points == 0 for ink in lines):
    raise InputError("a line without points")
  every = np.concatenate([ink.points[:, :2] for ink in lines]).astype(np.float64)
  lo, extent = every.min(0), np.ptp(every, 0)
  room = max_width - 2 * margin - pen_width
  if extent[0] * scale > room:
    scale = room / extent[0]
  width, height = np.ceil(extent * scale + 2 * margin + pen_width)
  if width * height > MAX_PIXELS:
    raise InputError(f"the page would be {width:.0f}x{height:.0f} pixels (more than "
                     f"{MAX_PIXELS:,}): its lines lie too far apart")
  return float(scale), lo, (int(height), int(width))


def render_page(lines: Sequence[Ink], *, ids: Sequence[str], texts: Sequence[str],
                region: str = "", scale: float = SCALE, max_width: int = MAX_WIDTH,
                pen_width: float = PEN_WIDTH, margin: float = MARGIN,
                supersample: int = 2) -> tuple[np.ndarray, Page]:
  """Lines of ink, in their common coordinates, drawn as one page.

  Args:
    lines: each line's ink (x, y in one coordinate system, y down), in reading order.
    ids, texts: each line's id and transcription.
    region: the region id the lines share (the form's id).
    scale: pixels per ink unit, made smaller for a page wider than `max_width`.
    pen_width: the stroke diameter in pixels.
    margin: pixels of paper around the ink.
    supersample: `render`'s sub-pixels per pixel side.

  Returns:
    (uint8 `[H, W]` image, dark ink on white paper; the Page: one line per ink with its
    outline, baseline, text, type "handwritten", order and region; `image` is "").

  Raises:
    InputError: no lines, a line without points, or a page over MAX_PIXELS
      (`page_placement`).
  """
  if len(ids) != len(lines) or len(texts) != len(lines):
    raise InputError(f"{len(lines)} lines, {len(ids)} ids and {len(texts)} texts: expected "
                     "as many of each")
  scale, lo, _ = page_placement(lines, scale=scale, max_width=max_width,
                             pen_width=pen_width, margin=margin)
  ink = Ink(np.concatenate([ink.points for ink in lines]),
            np.concatenate([ink.stroke_lengths for ink in lines]))
  drawn = render_lib.render(ink, scale=scale, pen_width=pen_width,
                            padding=margin, supersample=supersample)
  height, width = drawn.shape
  # `render` puts ink point p at p * scale + offset (pixel corners at integers), with
  # offset = margin + pen / 2 - lo * scale; pixel centres sit half a pixel in.
  offset = margin + pen_width / 2 - lo * scale - 0.5
  clip = [width - 1, height - 1]
  page_lines = []
  for order, (line_id, text, line_ink) in enumerate(zip(ids, texts, lines)):
    xy = line_ink.points[:, :2].astype(np.float64) * scale + offset
    line_height = max(ink_height(xy), pen_width)
    step = max(8.0, line_height / 3)
    polygon = outline(densify(xy, line_ink.stroke_lengths, step / 4), step=step,
                      pad=pen_width / 2 + 3)
    line_baseline = baseline(xy, line_ink.stroke_lengths, height=line_height)
    page_lines.append(Line(line_id, np.clip(polygon, 0, clip),
                           np.clip(line_baseline, 0, clip), text, "handwritten", order,
                           region))
  return 255 - drawn, Page("", width, height, tuple(page_lines), "")
