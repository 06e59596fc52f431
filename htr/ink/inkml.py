"""W3C InkML (MathWriting, CROHME) reader and writer.

Only what recognition needs is read: the traces in document order (traceGroups, i.e.
symbol segmentations, are ignored) and the `<annotation>`s that are direct children of
`<ink>`. Real corpora differ in the details handled here: with or without the InkML
namespace, channels in any order or no `<traceFormat>` at all, time in ms or absent,
float coordinates, the spec's difference-coded values (`'`, `"`, `!`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import BinaryIO
from xml.sax import saxutils

import numpy as np

from htr.errors import InputError, InputTooLarge
from htr.ink.ink import Ink, validate
from htr.xml_source import MAX_BYTES, MAX_POINTS, Source, parse_xml, read_source

_XML = "http://www.w3.org/XML/1998/namespace"
NAMESPACE = "http://www.w3.org/2003/InkML"
# Seconds per unit of the T channel. InkML has no default; devices log milliseconds.
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, None: 1e-3}
# One trace value: an optional difference-order prefix, then a number. The spec allows
# values without separating blanks ("'23'-4"), hence a tokenizer rather than split().
_VALUE = re.compile(r"\s*([!'\"]?)\s*(-?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


@dataclasses.dataclass(frozen=True)
class InkmlDocument:
  """One `<ink>` document.

  Attributes:
    ink: the traces as strokes, in document order; t in seconds from the first point.
    annotations: text of the top-level `<annotation>`s by `type` (first one wins). An
      untyped annotation is taken as "truth" when no typed truth exists, as some CROHME
      files put their LaTeX there.
    symbols: the symbol segmentation (CROHME): each `<traceGroup>` that refers to traces
      itself (`<traceView traceDataRef=...>`), as (its truth annotation, the indices of
      its strokes in `ink`), in document order; a group whose label is missing has "".
  """

  ink: Ink
  annotations: dict[str, str]
  symbols: tuple[tuple[str, tuple[int, ...]], ...] = ()


def _local(tag: str) -> str:
  """`{http://www.w3.org/2003/InkML}trace` -> `trace`: namespaced or not, same file."""
  return tag.rpartition("}")[2]


def _channels(root, path) -> tuple[list[str], float | None]:
  """Channel names in the order of point values, and seconds per T unit (None: no T).

  Without a `<traceFormat>` (some CROHME files) points are X Y. Intermittent channels
  come after the regular ones, so X, Y and T (which must be regular) keep their places.
  """
  trace_format = next((e for e in root.iter() if _local(e.tag) == "traceFormat"), None)
  if trace_format is None:
    return ["X", "Y"], None
  names = [e.get("name", "") for e in trace_format.iter() if _local(e.tag) == "channel"]
  intermittent = {e.get("name") for group in trace_format
                  if _local(group.tag) == "intermittentChannels"
                  for e in group.iter() if _local(e.tag) == "channel"}
  if not {"X", "Y"} <= set(names) - intermittent:
    raise InputError(f"traceFormat channels {names} lack a regular X or Y", path=path)
  if "T" not in names or "T" in intermittent:
    return names, None
  units = next(e.get("units") for e in trace_format.iter()
               if _local(e.tag) == "channel" and e.get("name") == "T")
  if units not in _TIME_UNITS:
    raise InputError(f"unknown units {units!r} of the T channel", path=path)
  return names, _TIME_UNITS[units]


def _decode_differences(rows: list[list[tuple[str, float]]]) -> np.ndarray:
  """Resolves `!` explicit, `'` first- and `"` second-difference values, per channel.

  A prefix holds for later values of its channel until another prefix (InkML 3.2.1).
  """
  out = np.zeros((len(rows), len(rows[0])), np.float64)
  mode = ["!"] * len(rows[0])
  for i, row in enumerate(rows):
    for c, (prefix, value) in enumerate(row):
      mode[c] = prefix or mode[c]
      previous = out[i - 1, c] if i else 0.0
      if mode[c] == "!":
        out[i, c] = value
      elif mode[c] == "'":
        out[i, c] = previous + value
      else:  # The last velocity, plus the value.
        out[i, c] = previous + (previous - out[i - 2, c] if i > 1 else 0.0) + value
  return out


def _coded_values(point: str) -> list[tuple[str, float]] | None:
  """`"'23'-4"` -> [("'", 23.0), ("'", -4.0)]; None if some of it is not a number."""
  values, pos = [], 0
  while pos < len(point):
    match = _VALUE.match(point, pos)
    if not match or match.end() == pos:
      return None
    values.append((match[1], float(match[2].replace(" ", ""))))
    pos = match.end()
  return values


def _parse_trace(text: str, n_used: int, n_max: int, path, trace_id) -> np.ndarray:
  """A trace's text -> float64 `[points, n_used]`.

  Args:
    text: the trace's content.
    n_used: how many leading channels are kept (up to the last of X, Y, T).
    n_max: how many channels a point may have (with intermittent ones). Points may omit
      trailing channels that are not used: 80 MfrDB files in CROHME declare an F
      channel they never write.
    path: for errors.
    trace_id: for errors.
  """
  points = text.split(",")
  if len(points) > 1 and not points[-1].strip():
    points.pop()  # A trailing comma, as some exporters write.
  coded = any(ch in text for ch in "!'\"")
  rows = [_coded_values(p) if coded else p.split() for p in points]
  for i, row in enumerate(rows):
    if row is None:
      raise InputError(f"trace {trace_id}: cannot read point {i} {points[i].strip()!r}",
                       path=path)
    if not n_used <= len(row) <= n_max:
      expected = f"{n_used} to {n_max}" if n_max > n_used else n_used
      raise InputError(f"trace {trace_id}: point {i} has {len(row)} values, expected "
                       f"{expected}", path=path)
  rows = [row[:n_used] for row in rows]
  if coded:
    return _decode_differences(rows)
  try:
    return np.array(rows, np.float64)
  except ValueError as e:
    raise InputError(f"trace {trace_id}: {e} (boolean, '*' and '?' values are not "
                     "supported)", path=path) from None


def read_inkml(source: Source, *, name: str | None = None, max_points: int = MAX_POINTS,
               max_bytes: int = MAX_BYTES) -> InkmlDocument:
  """Reads an InkML file (path or bytes) into strokes and annotations.

  Args:
    source: a path or the file's bytes.
    name: the name error messages use for bytes input.
    max_points: inks with more points are refused.
    max_bytes: larger files are refused before parsing.
  """
  data, path = read_source(source, name=name, max_bytes=max_bytes)
  root = parse_xml(data, path=path)
  namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else NAMESPACE
  if _local(root.tag) != "ink" or namespace != NAMESPACE:
    raise InputError(f"not InkML: the root element is <{root.tag}>, not <ink>", path=path)
  names, time_scale = _channels(root, path)
  used = ["X", "Y"] + (["T"] if time_scale is not None else [])
  columns = [names.index(c) for c in used]
  traces = [e for e in root.iter() if _local(e.tag) == "trace"]
  if not traces:
    raise InputError("no traces", path=path)
  strokes, total, stroke_of_trace = [], 0, {}
  for index, trace in enumerate(traces):
    text = trace.text or ""
    if not text.strip():  # No ink, as an empty IAM-OnDB <Stroke/>: nothing to keep.
      continue
    stroke_of_trace[_trace_id(trace, index)] = len(strokes)
    # A trace has at least as many points as commas (one may trail): refuse before
    # parsing, which costs ~100x the file's size in memory.
    if total + text.count(",") > max_points:
      raise InputTooLarge(f"more than {max_points} points", path=path)
    values = _parse_trace(text, max(columns) + 1, len(names), path,
                          trace.get("id", str(index)))
    total += len(values)
    if total > max_points:
      raise InputTooLarge(f"more than {max_points} points", path=path)
    strokes.append(values[:, columns])
  if not strokes:
    raise InputError(f"all {len(traces)} traces are empty", path=path)
  if time_scale is not None:
    t0 = strokes[0][0, 2]
    for stroke in strokes:  # Rebased in float64: T may be epoch milliseconds.
      stroke[:, 2] = (stroke[:, 2] - t0) * time_scale
  ink = Ink.from_strokes(strokes)
  return InkmlDocument(validate(ink, path=path, max_points=max_points), _annotations(root),
                       _symbols(root, stroke_of_trace))


def _trace_id(trace, index: int) -> str:
  """A trace's `xml:id` (or `id`), else its position, as CROHME's references use."""
  return trace.get(f"{{{_XML}}}id") or trace.get("id") or str(index)


def _symbols(root, stroke_of_trace: dict[str, int]) -> tuple[tuple[str, tuple[int, ...]], ...]:
  symbols = []
  for group in (e for e in root.iter() if _local(e.tag) == "traceGroup"):
    refs = [v.get("traceDataRef") for v in group if _local(v.tag) == "traceView"]
    if not refs:
      continue  # A group of groups ("Segmentation"): its symbols are its children.
    label = next(((a.text or "").strip() for a in group if _local(a.tag) == "annotation"
                  and a.get("type", "truth") == "truth"), "")
    symbols.append((label, tuple(stroke_of_trace[r] for r in refs if r in stroke_of_trace)))
  return tuple(symbols)


def _annotations(root) -> dict[str, str]:
  annotations, untyped = {}, None
  for element in root:
    if _local(element.tag) != "annotation":
      continue
    text = (element.text or "").strip()
    kind = element.get("type")
    if kind is None:
      untyped = text if untyped is None else untyped
    else:
      annotations.setdefault(kind, text)
  if untyped is not None and "truth" not in annotations:
    annotations["truth"] = untyped
  return annotations


def _format(values: np.ndarray) -> list[str]:
  """Shortest decimal strings that read back to the same float32 values."""
  return [np.format_float_positional(v, trim="-") for v in values.astype(np.float32)]


def write_inkml(ink: Ink, annotations: Mapping[str, str],
                path_or_file: str | os.PathLike | BinaryIO) -> None:
  """Writes UTF-8 InkML with channels X Y T (T in seconds) that `read_inkml` reads back.

  Coordinates and times are written exactly (float32), so an ink whose first point has
  t = 0 (as every reader here returns) round-trips bit for bit.
  """
  lines = [f'<ink xmlns="{NAMESPACE}">']
  for kind, text in annotations.items():
    lines.append(f"  <annotation type={saxutils.quoteattr(kind)}>"
                 f"{saxutils.escape(text)}</annotation>")
  lines += ["  <traceFormat>", '    <channel name="X" type="decimal"/>',
            '    <channel name="Y" type="decimal"/>',
            '    <channel name="T" type="decimal" units="s"/>', "  </traceFormat>"]
  for i, stroke in enumerate(ink.strokes()):
    x, y, t = (_format(stroke[:, c]) for c in range(3))
    points = ", ".join(f"{a} {b} {c}" for a, b, c in zip(x, y, t))
    lines.append(f'  <trace id="{i}">{points}</trace>')
  lines.append("</ink>\n")
  data = "\n".join(lines).encode("utf-8")
  if isinstance(path_or_file, (str, os.PathLike)):
    with open(path_or_file, "wb") as f:
      f.write(data)
  else:
    path_or_file.write(data)
