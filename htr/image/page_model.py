"""The model of a page that every page format is read into and written from: regions of
text lines, each line with its polygon, baseline, box, reading order, text, type and
confidence, and optionally its words.

It is its own module so that the readers (`pages.py`), the writers (`page_writers.py`,
`page_json.py`) and reading order (`reading_order.py`) share one definition without
importing each other. Geometry is in page pixels, origin top-left, y pointing down.
"""

from __future__ import annotations

import dataclasses

import numpy as np

Box = tuple[float, float, float, float]  # (left, top, right, bottom) in page pixels.


@dataclasses.dataclass(frozen=True)
class Word:
  """One word of a recognised line.

  Attributes:
    text: the word, without spaces, NFC.
    confidence: the recogniser's confidence in 0..1, if it gives one.
    box: (left, top, right, bottom), when the recogniser localises words (CTC
      alignments do; a seq2seq decoder does not).
  """

  text: str
  confidence: float | None = None
  box: Box | None = None


@dataclasses.dataclass(frozen=True)
class Line:
  """One text line of a page.

  Attributes:
    id: the line's id in the file.
    polygon: float32 `[N, 2]` x, y outline in page pixels (an open ring).
    baseline: float32 `[M, 2]` x, y polyline, left to right (M >= 2).
    text: the transcription ("" if none), NFC.
    type: "handwritten", "typewritten", "printed", "signature"... ("" if untyped).
    order: the line's reading-order index within the page.
    region: the id of the region holding it.
    confidence: the file's (or the recogniser's) confidence for the text, if any.
    words: the line's words in reading order, when they are known; their texts
      joined by single spaces are the line's text.
  """

  id: str
  polygon: np.ndarray
  baseline: np.ndarray
  text: str
  type: str
  order: int
  region: str
  confidence: float | None = None
  words: tuple[Word, ...] = ()

  @property
  def box(self) -> Box:
    """(left, top, right, bottom) of the polygon."""
    return polygon_box(self.polygon)


@dataclasses.dataclass(frozen=True)
class Region:
  """A block of lines: a column, a paragraph, a marginal note, a letterhead.

  Lines name their region by id rather than regions holding lines, so that reading
  order stays one sequence over the page (`Page.lines`) that no format's nesting
  can scramble; `Page.regions_with_lines` gives the nested view.

  Attributes:
    id: the region's id in the file.
    polygon: float32 `[N, 2]` outline, or None when the file draws none (eScriptorium's
      "dummy" blocks); writers then use the box around its lines.
    type: "paragraph", "marginalia", "heading"... ("" if untyped).
  """

  id: str
  polygon: np.ndarray | None = None
  type: str = ""


@dataclasses.dataclass(frozen=True)
class Page:
  """A page image's regions and lines, in reading order.

  Attributes:
    image: the image file, as the XML names it, joined to the XML's folder.
    width, height: the page size in pixels.
    lines: every line, sorted by `Line.order`.
    format: "alto", "page" or "json": what it was read from ("" if built in memory).
    regions: the regions the file declares, in reading order (lines may also name
      regions that are not declared here; writers then draw a box around them).
    ordered: whether `lines` are in a reading order the file states; False for a
      PAGE-XML file without `ReadingOrder` or line `readingOrder` (its lines are then
      in document order, which PAGE does not define as an order). ALTO's order is its
      document order, JSON's its `reading_order` fields.
  """

  image: str
  width: int
  height: int
  lines: tuple[Line, ...]
  format: str
  regions: tuple[Region, ...] = ()
  ordered: bool = True

  def regions_with_lines(self) -> list[tuple[Region, tuple[Line, ...]]]:
    """Each region with its lines, in reading order: regions by their first line, then
    declared regions without lines. A line's region missing from `regions` becomes a
    Region without a polygon (the writers draw the box of its lines)."""
    declared = {region.id: region for region in self.regions}
    grouped: dict[str, list[Line]] = {}
    for line in sorted(self.lines, key=lambda l: l.order):
      grouped.setdefault(line.region, []).append(line)
    result = [(declared.get(key, Region(key)), tuple(lines)) for key, lines in grouped.items()]
    return result + [(region, ()) for region in self.regions if region.id not in grouped]


def polygon_box(points: np.ndarray) -> Box:
  """(left, top, right, bottom) around `[N, 2]` points."""
  (left, top), (right, bottom) = np.asarray(points).min(0), np.asarray(points).max(0)
  return float(left), float(top), float(right), float(bottom)


def box_polygon(box: Box) -> np.ndarray:
  """The four corners of a box, clockwise from the top left, as float32 `[4, 2]`."""
  left, top, right, bottom = box
  return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)


def lines_box(lines: tuple[Line, ...] | list[Line]) -> Box:
  """The box around several lines' polygons (a region drawn around its lines)."""
  return polygon_box(np.concatenate([line.polygon for line in lines]))
