"""A line of separated handwritten characters -> one image per character.

Connected components of the ink are the first guess at characters. Some
characters are several components (the dot of i and j, the bars of '=', the
parts of ':', ';', '!', '?', '%', the ticks of '"'), so components are merged:
those that overlap horizontally (one above the other) are one character, and
two small marks side by side near the top of the line are a double quote.
Touching characters are not split: the input must leave gaps between them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from htr.image import canvas

_INK_THRESHOLD = 0.35  # Of the strongest ink: what counts as a stroke pixel.
_MIN_OVERLAP = 0.5  # Of the narrower box: stacked parts of one character overlap this much.
_SLACK = 0.1  # Of the line height: how far beside its stem a dot may sit.
_MIN_PIXELS = 0.02  # Of the median component's pixel count: smaller ones are specks.
_MARGIN = 2  # Pixels of anti-aliased edge kept around each character's strokes.


@dataclasses.dataclass(frozen=True)
class Character:
  """One segmented character.

  Attributes:
    image: float32 crop of the ink map (white on black, [0, 1]) of its box,
      with the pixels of other characters inside the box cleared.
    box: (top, left, bottom, right) in the input image, bottom/right exclusive.
  """

  image: np.ndarray
  box: tuple[int, int, int, int]


def _merge(boxes: np.ndarray, height: float) -> np.ndarray:
  """Group id of each component box `[n, 4]` (top, left, bottom, right), sorted by left."""
  n = len(boxes)
  group = np.arange(n)

  def root(i):
    while group[i] != i:
      i = group[i]
    return i

  top, left, bottom, right = boxes.T
  overlap = np.minimum(right[:, None], right[None]) - np.maximum(left[:, None], left[None])
  narrow = np.minimum(right - left, (right - left)[:, None])
  stacked = overlap >= _MIN_OVERLAP * narrow - _SLACK * height
  np.fill_diagonal(stacked, False)
  # Double quotes: two short marks side by side, close together, high on the line.
  middle = (top + bottom) / 2
  mark = ((bottom - top) < 0.6 * height) & (middle < np.median(middle)) & ~stacked.any(1)
  gap = -overlap
  quote = mark[:, None] & mark[None] & (gap < 0.5 * height)
  np.fill_diagonal(quote, False)
  for i, j in zip(*np.nonzero(np.triu(stacked | quote))):
    a, b = root(i), root(j)
    group[max(a, b)] = min(a, b)  # The root stays the leftmost member.
  return np.array([root(i) for i in range(n)])


def segment(image) -> list[Character]:
  """The characters of a one-line image, left to right.

  Args:
    image: anything `canvas.to_gray` accepts (any size, channels, polarity).

  Raises:
    InputError: for non-images and for images without ink.
  """
  ink = canvas.ink_map(image)
  labels, n = ndimage.label(ink > _INK_THRESHOLD, structure=np.ones((3, 3)))
  pixels = np.bincount(labels.ravel(), minlength=n + 1)[1:]
  slices = ndimage.find_objects(labels)
  boxes = np.array([(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in slices])
  keep = pixels >= _MIN_PIXELS * np.median(pixels)
  boxes, ids = boxes[keep], np.arange(1, n + 1)[keep]
  order = np.argsort(boxes[:, 1], kind="stable")
  boxes, ids = boxes[order], ids[order]
  group = _merge(boxes, float(np.max(boxes[:, 2] - boxes[:, 0])))
  characters = []
  for g in np.unique(group):  # Roots are the leftmost member: left-to-right order.
    members = group == g
    top, left = boxes[members, :2].min(0)
    bottom, right = boxes[members, 2:].max(0)
    # A margin for the anti-aliased edges around the thresholded pixels.
    window = np.s_[max(top - _MARGIN, 0):bottom + _MARGIN, max(left - _MARGIN, 0):right + _MARGIN]
    own = ndimage.binary_dilation(np.isin(labels[window], ids[members]), iterations=_MARGIN)
    characters.append(Character(np.where(own, ink[window], 0.0).astype(np.float32),
                                (int(top), int(left), int(bottom), int(right))))
  return characters
