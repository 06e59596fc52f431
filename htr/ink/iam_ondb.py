"""IAM-OnDB files: lineStrokes XML (one text line of whiteboard ink) and ascii transcriptions.

A line file is `<WhiteboardCaptureSession>` > `<StrokeSet>` > `<Stroke>` > `<Point x y
time>` in ISO-8859-1, integer whiteboard units with y down. Times are seconds on a
session clock (e.g. 12924790.73): they are rebased to the line's first point in float64,
because at that magnitude float32 cannot tell apart points 10 ms apart.
"""

from __future__ import annotations

import os

import numpy as np

from htr.errors import InputError, InputTooLarge
from htr.ink.ink import Ink, validate
from htr.xml_source import MAX_BYTES, MAX_POINTS, Source, parse_xml, read_source

ROOT = "WhiteboardCaptureSession"


class _StrokeCollector:
  """ElementTree parser target keeping only Point attributes: no tree, early size check.

  Only start tags are handled (a third faster): a Point belongs to the last Stroke opened.
  """

  def __init__(self, path: str | None, max_points: int):
    self.path, self.max_points = path, max_points
    self.root = None
    self.points: list[tuple[str, str, str]] = []
    self.lengths: list[int] = []
    self.in_stroke = False

  def start(self, tag, attrib):
    if tag == "Point":
      if not self.in_stroke:
        where = f"after stroke {len(self.lengths)}" if self.lengths else "before any"
        raise InputError(f"a <Point> outside any <Stroke> ({where})", path=self.path)
      self.lengths[-1] += 1
      values = attrib.get("x"), attrib.get("y"), attrib.get("time")
      if None in values:
        missing = [k for k, v in zip(("x", "y", "time"), values) if v is None]
        raise InputError(f"{self.where(len(self.points))} has no {'/'.join(missing)} "
                         "attribute", path=self.path)
      self.points.append(values)
      if len(self.points) > self.max_points:
        raise InputTooLarge(f"more than {self.max_points} points", path=self.path)
    elif self.root is None:
      self.root = tag
      if tag != ROOT:
        raise InputError(f"not an IAM-OnDB lineStrokes file: the root element is <{tag}>",
                         path=self.path)
    elif tag == "Stroke":
      self.lengths.append(0)
      self.in_stroke = True

  def end(self, tag):
    if tag == "Stroke":
      self.in_stroke = False

  def close(self):
    return self

  def where(self, index: int) -> str:
    """Names the point with this flat index (1-based, as a person counts in a file)."""
    ends = np.cumsum(self.lengths)
    stroke = int(np.searchsorted(ends, index, side="right"))
    start = ends[stroke - 1] if stroke else 0
    return f"stroke {stroke + 1}, point {index - start + 1}"


def read_line_strokes(source: Source, *, name: str | None = None,
                      max_points: int = MAX_POINTS, max_bytes: int = MAX_BYTES) -> Ink:
  """Reads one lineStrokes XML file (path or bytes) into an Ink, t from the first point.

  Args:
    source: a path, or the file's bytes (e.g. read from a tar member).
    name: the name error messages use for bytes input (e.g. the member's path).
    max_points: lines with more points are refused.
    max_bytes: larger files are refused before parsing.
  """
  data, path = read_source(source, name=name, max_bytes=max_bytes)
  strokes = parse_xml(data, path=path, target=_StrokeCollector(path, max_points))
  if not strokes.points:
    raise InputError("no strokes with points", path=path)
  try:
    values = np.array(strokes.points, np.float64)
  except ValueError:
    for i, point in enumerate(strokes.points):  # Slow, but only to name the bad point.
      try:
        np.array(point, np.float64)
      except ValueError as e:
        raise InputError(f"{strokes.where(i)}: {e}", path=path) from None
    raise
  values[:, 2] -= values[0, 2]
  lengths = [n for n in strokes.lengths if n]  # An empty <Stroke/> holds no ink.
  return validate(Ink(values, lengths), path=path, max_points=max_points)


def write_line_strokes(ink: Ink, path: str | os.PathLike, *, time_offset: float = 0.0,
                       crlf: bool = False) -> None:
  """Writes an Ink as IAM-OnDB lineStrokes XML (ISO-8859-1, whiteboard header).

  Args:
    ink: the strokes; t in seconds.
    path: the file to write.
    time_offset: added to every time, as the real files count from a session clock.
    crlf: CRLF line endings, as in part of the real corpus.
  """
  x0, y0, x1, y1 = ink.bbox()
  lines = ['<?xml version="1.0" encoding="ISO-8859-1"?>', f"<{ROOT}>",
           "  <WhiteboardDescription>", '    <SensorLocation corner="top_left"/>',
           f'    <DiagonallyOppositeCoords x="{x1:.0f}" y="{y1:.0f}"/>',
           f'    <VerticallyOppositeCoords x="{x0:.0f}" y="{y1:.0f}"/>',
           f'    <HorizontallyOppositeCoords x="{x1:.0f}" y="{y0:.0f}"/>',
           "  </WhiteboardDescription>", "  <StrokeSet>"]
  for stroke in ink.strokes():
    times = (stroke[:, 2].astype(np.float64) + time_offset).tolist()
    lines.append(f'    <Stroke colour="black" start_time="{times[0]!r}" '
                 f'end_time="{times[-1]!r}">')
    for (x, y, _), t in zip(stroke, times):
      lines.append(f'      <Point x="{np.format_float_positional(x, trim="-")}" '
                   f'y="{np.format_float_positional(y, trim="-")}" time="{t!r}"/>')
    lines.append("    </Stroke>")
  lines += ["  </StrokeSet>", f"</{ROOT}>", ""]
  with open(path, "wb") as f:
    f.write(("\r\n" if crlf else "\n").join(lines).encode("iso-8859-1"))


def read_transcription(source: Source, *, name: str | None = None,
                       max_bytes: int = MAX_BYTES) -> list[str]:
  """The non-empty lines of the `CSR:` section, stripped: line k labels `<form>-k`.

  Args:
    source: a path, or the file's bytes.
    name: the name error messages use for bytes input.
    max_bytes: larger files are refused.
  """
  data, path = read_source(source, name=name, max_bytes=max_bytes)
  lines = data.decode("iso-8859-1").splitlines()  # Also splits CRLF, as ~1,600 files use.
  start = next((i for i, line in enumerate(lines) if line.strip().startswith("CSR:")), None)
  if start is None:
    raise InputError("no CSR: section", path=path)
  first = lines[start].strip()[len("CSR:"):]
  return [line.strip() for line in [first, *lines[start + 1:]] if line.strip()]
