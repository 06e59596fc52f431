"""Reading order of a page's text lines from their boxes alone, by recursive XY-cut, and the
metric it is judged by.

A detector returns lines in no particular order; a reader wants columns left to right,
each top to bottom, with a heading spanning the columns read before them. XY-cut finds
that from whitespace: a node of lines is split into columns at its widest vertical gap,
or into bands at its horizontal gaps, recursively. Letters are not newspapers, so the
cuts are refined, each rule bought by a failure on the real pages of shared/data/pages:

- Boxes are shrunk before gaps are looked for (by `tolerance` of their height, in y, and
  of the median line height, in x), so skewed lines whose boxes overlap a little still
  leave a gap between them.
- A vertical gap is a gutter only if both sides are columns: they sit side by side
  (their vertical extents overlap by half a line) and each is at least 1.5 lines tall.
  A right-aligned date above "Dear Sir," is cut horizontally instead (else the date would
  be read last), and a date beside a printed "San Francisco" stays in their row.
- A heading or footer across the columns hides the gutter. A few lines (a fifth at most)
  crossing an x where otherwise there would be a gutter are cut out as their own bands,
  if every stretch between them splits into columns.
- Horizontal cuts do not cut every gap: consecutive bands are kept together as long as
  they still split into columns, so the rows of a two-column body stay one node (read
  column by column) while a full-width line becomes its own band.
- Lines of the later column that start above the earlier column (an off-centre heading
  beside the first line) are read first.
- Lines in one band with no cut are read in rows: by vertical centre, with lines side by
  side (disjoint in x) left to right; lines overlapping in x are never one row, however
  much their boxes overlap (typewriting with tall descenders does).

Marginal notes (a column narrower than 0.4 of its neighbour) are read in the left-to-right
order too, or after the main column with `marginalia_last`; a one-line note is not a
column and is read within its row. Left to right is the default because the real pages'
ground truth reads narrow letterhead columns that way.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Hashable, Sequence

import numpy as np

from htr.image.page_model import Line, Page, Region

TOLERANCE = 0.25  # Fraction of a box's height ignored at its top and bottom when cutting.
MARGINALIA_RATIO = 0.4  # A column narrower than this fraction of its neighbour is marginal.
MIN_COLUMN = 1.5  # A column is at least this many median line heights tall.
SPANNING = 0.2  # At most this fraction of a node's lines may span its columns.
BLOCK_GAP = 1.0  # Whitespace (in median line heights) that starts a new block in a column.


@dataclasses.dataclass(frozen=True)
class _Cut:
  """Settings shared by one XY-cut run."""

  boxes: np.ndarray  # [N, 4] float64 (left, top, right, bottom).
  line_height: float  # Median box height: the unit of every tolerance.
  tolerance: float
  marginalia_last: bool


def _check_boxes(boxes) -> np.ndarray:
  boxes = np.asarray(boxes, np.float64)
  if boxes.size == 0:
    return boxes.reshape(0, 4)
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError(f"boxes must be [N, 4] (left, top, right, bottom), got {boxes.shape}")
  if not np.isfinite(boxes).all():
    raise ValueError("boxes hold NaN or infinite coordinates")
  if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
    raise ValueError("boxes must have right >= left and bottom >= top")
  return boxes


def _gaps(low: np.ndarray, high: np.ndarray) -> list[tuple[float, float]]:
  """Empty stretches between the union of intervals [low, high], in increasing order."""
  order = np.argsort(low, kind="stable")
  gaps, end = [], high[order[0]]
  for i in order[1:]:
    if low[i] > end:
      gaps.append((float(end), float(low[i])))
    end = max(end, high[i])
  return gaps


def _shrunk_y(cut: _Cut, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  top, bottom = cut.boxes[idx, 1], cut.boxes[idx, 3]
  margin = cut.tolerance * (bottom - top)
  return top + margin, bottom - margin


def _column_split(cut: _Cut, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
  """(left, right) at the widest vertical gap whose two sides are columns (side by side,
  each at least MIN_COLUMN lines tall), or None."""
  margin = cut.tolerance * cut.line_height
  left_edge, right_edge = cut.boxes[idx, 0] + margin, cut.boxes[idx, 2] - margin
  right_edge = np.maximum(right_edge, left_edge)
  for start, end in sorted(_gaps(left_edge, right_edge), key=lambda g: g[0] - g[1]):
    left, right = idx[right_edge <= start], idx[left_edge >= end]
    top = max(cut.boxes[left, 1].min(), cut.boxes[right, 1].min())
    bottom = min(cut.boxes[left, 3].max(), cut.boxes[right, 3].max())
    shortest = min(np.ptp(cut.boxes[side][:, [1, 3]]) for side in (left, right))
    if bottom - top >= 0.5 * cut.line_height and shortest >= MIN_COLUMN * cut.line_height:
      return left, right
  return None


def _bands(cut: _Cut, idx: np.ndarray) -> list[np.ndarray]:
  """`idx` cut at every horizontal gap, top to bottom."""
  top, bottom = _shrunk_y(cut, idx)
  bottom = np.maximum(bottom, top)
  cuts = [(start + end) / 2 for start, end in _gaps(top, bottom)]
  which = np.searchsorted(np.asarray(cuts), (top + bottom) / 2)
  return [idx[which == k] for k in range(len(cuts) + 1) if (which == k).any()]


def _rows(cut: _Cut, idx: np.ndarray) -> list[int]:
  """Lines no cut separates, in rows: by vertical centre, a line joining the row above when
  its centre lies inside that row's first box and it overlaps no line of the row in x
  (lines above one another are never one row, however much their boxes overlap);
  each row left to right."""
  boxes = cut.boxes
  centre = (boxes[idx, 1] + boxes[idx, 3]) / 2
  rows: list[list[int]] = []
  for i in idx[np.argsort(centre, kind="stable")]:
    beside = rows and all(boxes[i, 0] >= boxes[j, 2] or boxes[i, 2] <= boxes[j, 0]
                          for j in rows[-1])
    if beside and (boxes[i, 1] + boxes[i, 3]) / 2 <= boxes[rows[-1][0], 3]:
      rows[-1].append(int(i))
    else:
      rows.append([int(i)])
  return [i for row in rows for i in sorted(row, key=lambda j: boxes[j, 0])]


def _is_marginal(cut: _Cut, narrow: np.ndarray, wide: np.ndarray) -> bool:
  narrow_width = np.ptp(cut.boxes[narrow][:, [0, 2]])
  return narrow_width < MARGINALIA_RATIO * np.ptp(cut.boxes[wide][:, [0, 2]]) and \
      len(narrow) < len(wide)


def _join(cut: _Cut, upper: list[int], lower: list[int]) -> bool:
  """Whether two single-column blocks, one above the other, are one block: their x-ranges
  overlap and little whitespace parts them."""
  a, b = cut.boxes[upper], cut.boxes[lower]
  overlap = min(a[:, 2].max(), b[:, 2].max()) - max(a[:, 0].min(), b[:, 0].min())
  return overlap > 0 and b[:, 1].min() - a[:, 3].max() <= BLOCK_GAP * cut.line_height


def _low_coverage(cut: _Cut, idx: np.ndarray) -> list[float]:
  """x positions inside the node's x-range crossed by few lines (at most a fifth, at
  least one), fewest first: where a gutter would be if it were not for a heading."""
  margin = cut.tolerance * cut.line_height
  left, right = cut.boxes[idx, 0] + margin, np.maximum(cut.boxes[idx, 2] - margin,
                                                       cut.boxes[idx, 0] + margin)
  edges = np.unique(np.concatenate([left, right]))
  middles = (edges[:-1] + edges[1:]) / 2
  coverage = ((left[None, :] <= middles[:, None]) & (right[None, :] >= middles[:, None])).sum(1)
  low = np.flatnonzero((coverage >= 1) & (coverage <= SPANNING * len(idx)))
  widths = edges[low + 1] - edges[low]
  ranked = sorted(zip(coverage[low], -widths, middles[low]))
  return [x for _, _, x in ranked]


def _spanning_split(cut: _Cut, idx: np.ndarray) -> list[np.ndarray] | None:
  """Columns that a few lines span (a heading, a footer, a caption across the columns):
  the node cut above and below each spanning line, top to bottom, if every stretch
  between spanning lines splits into columns; else None. (Full-width lines of a letter
  also cross any gap, but the short lines between them are no columns.)"""
  margin = cut.tolerance * cut.line_height
  centre = (cut.boxes[:, 1] + cut.boxes[:, 3]) / 2
  for x in _low_coverage(cut, idx)[:3]:
    spans = (cut.boxes[idx, 0] + margin <= x) & (cut.boxes[idx, 2] - margin >= x)
    spanning = idx[spans][np.argsort(centre[idx[spans]], kind="stable")]
    rest = idx[~spans]
    segment = np.searchsorted(centre[spanning], centre[rest])
    stretches = [rest[segment == k] for k in range(len(spanning) + 1)]
    if not all(_column_split(cut, s) is not None for s in stretches if len(s)):
      continue
    groups = []
    for k, stretch in enumerate(stretches):
      groups += [stretch] if len(stretch) else []
      groups += [spanning[k:k + 1]] if k < len(spanning) else []
    return groups
  return None


def _merged_bands(cut: _Cut, idx: np.ndarray) -> list[np.ndarray]:
  """`idx` cut at its horizontal gaps, consecutive bands kept together while they still
  split into columns together (the rows of a two-column body)."""
  bands = _bands(cut, idx)
  groups, current = [], bands[0]
  for band in bands[1:]:
    union = np.concatenate([current, band])
    if _column_split(cut, union) is not None:
      current = union
    else:
      groups.append(current)
      current = band
  groups.append(current)
  return groups


def _xy_cut(cut: _Cut, idx: np.ndarray) -> tuple[list[list[int]], bool]:
  """(blocks in reading order, whether `idx` is one column with no cut inside)."""
  if len(idx) == 1:
    return [[int(idx[0])]], True
  split = _column_split(cut, idx)
  if split is not None:
    first, second = split
    if cut.marginalia_last and _is_marginal(cut, first, second):
      first, second = second, first
    # What starts above the column read first is read before it (a heading off-centre).
    above = cut.boxes[second, 1] < cut.boxes[first, 1].min() - 0.5 * cut.line_height
    if above.any():
      rest = np.setdiff1d(idx, second[above])
      return _xy_cut(cut, second[above])[0] + _xy_cut(cut, rest)[0], False
    return _xy_cut(cut, first)[0] + _xy_cut(cut, second)[0], False
  groups = _spanning_split(cut, idx)
  if groups is None:
    groups = _merged_bands(cut, idx)
  if len(groups) == 1:
    return [_rows(cut, idx)], True
  blocks: list[list[int]] = []
  previous_simple = False
  for group in groups:
    group_blocks, simple = _xy_cut(cut, group)
    if simple and previous_simple and _join(cut, blocks[-1], group_blocks[0]):
      blocks[-1] = blocks[-1] + group_blocks[0]
    else:
      blocks.extend(group_blocks)
    previous_simple = simple
  return blocks, False


def xy_cut(boxes, *, tolerance: float = TOLERANCE,
           marginalia_last: bool = False) -> list[np.ndarray]:
  """Blocks of lines (columns, paragraphs, marginal notes) in reading order.

  Args:
    boxes: `[N, 4]` (left, top, right, bottom) of each line, in page pixels.
    tolerance: the fraction of each box's height ignored at its top and bottom (and of the
      median line height at its sides) when looking for gaps, so that skewed lines whose
      boxes overlap slightly can still be cut apart.
    marginalia_last: read a narrow column beside a wider one after it, wherever it sits.

  Returns:
    One int array of box indices per block, each in reading order; their concatenation
    is `reading_order(boxes)`.
  """
  boxes = _check_boxes(boxes)
  if not len(boxes):
    return []
  heights = boxes[:, 3] - boxes[:, 1]
  cut = _Cut(boxes, float(max(np.median(heights), 1.0)), tolerance, marginalia_last)
  blocks, _ = _xy_cut(cut, np.arange(len(boxes)))
  return [np.asarray(block, np.int64) for block in blocks]


def reading_order(boxes, **kwargs) -> np.ndarray:
  """The indices of `boxes` in reading order (a permutation, like `np.argsort`): columns
  left to right, top to bottom within each. Keyword arguments are `xy_cut`'s."""
  blocks = xy_cut(boxes, **kwargs)
  return np.concatenate(blocks) if blocks else np.zeros(0, np.int64)


def pair_order_accuracy(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
  """The fraction of pairs of items that `predicted` puts in the same relative order as
  `truth` (1.0 for fewer than two items). Both list the same items (ids or indices),
  each once, in reading order. Unlike exact match it grades a nearly right page as nearly
  right, and unlike an edit distance one misplaced line costs in proportion to how far
  it moved."""
  predicted, truth = list(predicted), list(truth)
  if len(set(truth)) != len(truth) or collections.Counter(predicted) != \
      collections.Counter(truth):
    raise ValueError("predicted and truth must hold the same items, each once; got "
                     f"{len(predicted)} and {len(truth)} items")
  n = len(truth)
  if n < 2:
    return 1.0
  rank = {item: i for i, item in enumerate(predicted)}
  ranks = np.array([rank[item] for item in truth])
  correct = np.triu(ranks[:, None] < ranks[None, :], 1).sum()
  return float(correct / (n * (n - 1) / 2))


def with_reading_order(page: Page, **kwargs) -> Page:
  """`page` with its lines ordered by XY-cut and grouped into one region per block
  (ids "block1", "block2"... with no polygon: writers draw the box of their lines), as
  the page family does for detected lines, which come with neither. Keyword arguments
  are `xy_cut`'s."""
  if not page.lines:
    return dataclasses.replace(page, regions=(), ordered=True)
  blocks = xy_cut(np.array([line.box for line in page.lines]), **kwargs)
  lines: list[Line] = []
  for number, block in enumerate(blocks, 1):
    for i in block:
      lines.append(dataclasses.replace(page.lines[i], order=len(lines),
                                       region=f"block{number}"))
  regions = tuple(Region(f"block{number}") for number in range(1, len(blocks) + 1))
  return dataclasses.replace(page, lines=tuple(lines), regions=regions, ordered=True)
