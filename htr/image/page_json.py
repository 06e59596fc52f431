"""A recognised page as JSON: what the htr command and the server return for a page, and
read back (to reuse a segmentation, or to compare runs).

JSON carries everything in the page model, unlike PAGE-XML and ALTO, which each drop
something (ALTO has no line confidence, PAGE no word without a box). Lines are nested in
their regions, as every page tool shows them, and carry their global `reading_order`, so
an order that goes back and forth between regions survives. The shape is `JSON_SCHEMA`
(JSON Schema 2020-12); an abridged example:

    {"schema": "htr.page/1", "image": "letter.jpg", "width": 2480, "height": 3508,
     "text": "Dear Sir,\\nthank you ...",
     "regions": [{"id": "block1", "type": "", "box": [200, 300, 2200, 900],
                  "polygon": null,
                  "lines": [{"id": "l1", "reading_order": 0, "text": "Dear Sir,",
                             "confidence": 0.93, "type": "handwritten",
                             "box": [210, 300, 800, 380],
                             "polygon": [[210, 300], [800, 300], [800, 380], [210, 380]],
                             "baseline": [[210, 365], [800, 368]],
                             "words": [{"text": "Dear", "confidence": 0.97,
                                        "box": [210, 300, 420, 380]}, ...]}]}]}

Coordinates are page pixels (origin top left, y down) rounded to 0.01; boxes are
[left, top, right, bottom]; polygons are open rings of [x, y]; confidences are 0..1 or
null when unknown; `text` is the lines' texts in reading order joined by newlines.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from htr.errors import InputError
from htr.image.page_model import Line, Page, Region, Word, lines_box, polygon_box

SCHEMA_ID = "htr.page/1"

_POINTS = {"type": "array", "items": {"type": "array", "items": {"type": "number"},
                                      "minItems": 2, "maxItems": 2}}
_BOX = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
_CONFIDENCE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_WORD = {"type": "object", "required": ["text", "confidence", "box"],
         "properties": {"text": {"type": "string"}, "confidence": _CONFIDENCE,
                        "box": {"oneOf": [_BOX, {"type": "null"}]}}}
_LINE = {"type": "object",
         "required": ["id", "reading_order", "text", "confidence", "type", "box", "polygon",
                      "baseline", "words"],
         "properties": {"id": {"type": "string"},
                        "reading_order": {"type": "integer", "minimum": 0},
                        "text": {"type": "string"}, "confidence": _CONFIDENCE,
                        "type": {"type": "string"}, "box": _BOX,
                        "polygon": {**_POINTS, "minItems": 3},
                        "baseline": {**_POINTS, "minItems": 2},
                        "words": {"type": "array", "items": _WORD}}}
_REGION = {"type": "object", "required": ["id", "type", "box", "polygon", "lines"],
           "properties": {"id": {"type": "string"}, "type": {"type": "string"},
                          "box": {"oneOf": [_BOX, {"type": "null"}]},
                          "polygon": {"oneOf": [{**_POINTS, "minItems": 3},
                                                {"type": "null"}]},
                          "lines": {"type": "array", "items": _LINE}}}
JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "A recognised page: regions of lines in reading order, with text and confidences",
    "type": "object",
    "required": ["schema", "image", "width", "height", "text", "regions"],
    "properties": {"schema": {"const": SCHEMA_ID}, "image": {"type": "string"},
                   "width": {"type": "integer", "minimum": 0},
                   "height": {"type": "integer", "minimum": 0},
                   "text": {"type": "string"},
                   "regions": {"type": "array", "items": _REGION}},
}


def _round(values) -> list:
  return np.round(np.asarray(values, np.float64), 2).tolist()


def _word_dict(word: Word) -> dict:
  return {"text": word.text, "confidence": word.confidence,
          "box": None if word.box is None else _round(word.box)}


def _line_dict(line: Line) -> dict:
  return {"id": line.id, "reading_order": int(line.order), "text": line.text,
          "confidence": line.confidence, "type": line.type, "box": _round(line.box),
          "polygon": _round(line.polygon), "baseline": _round(line.baseline),
          "words": [_word_dict(word) for word in line.words]}


def _region_dict(region: Region, lines: tuple[Line, ...]) -> dict:
  if region.polygon is not None:
    box = _round(polygon_box(region.polygon))
  else:
    box = _round(lines_box(lines)) if lines else None
  return {"id": region.id, "type": region.type, "box": box,
          "polygon": None if region.polygon is None else _round(region.polygon),
          "lines": [_line_dict(line) for line in lines]}


def to_dict(page: Page) -> dict:
  """`page` as a JSON-ready dict of `JSON_SCHEMA`'s shape (for a server's response)."""
  lines = sorted(page.lines, key=lambda l: l.order)
  return {"schema": SCHEMA_ID, "image": os.path.basename(page.image),
          "width": int(page.width), "height": int(page.height),
          "text": "\n".join(line.text for line in lines),
          "regions": [_region_dict(region, region_lines)
                      for region, region_lines in page.regions_with_lines()]}


def to_json(page: Page, *, indent: int | None = 1) -> str:
  """`page` as JSON text (UTF-8 characters as they are, not \\u escapes)."""
  return json.dumps(to_dict(page), ensure_ascii=False, indent=indent)


# ---- Reading back --------------------------------------------------------------------


def _field(obj, key: str, kind, where: str, path: str):
  if not isinstance(obj, dict) or key not in obj:
    raise InputError(f"{where}: no {key!r}", path=path)
  value = obj[key]
  if kind is not None and not isinstance(value, kind):
    raise InputError(f"{where}: {key!r} is {value!r}", path=path)
  return value


def _array(value, width: int, what: str, path: str) -> np.ndarray:
  """A list of `width`-number lists as float32 `[N, width]`."""
  try:
    array = np.asarray(value, np.float32)
  except (TypeError, ValueError):
    array = None
  if array is None or array.ndim != 2 or array.shape[1] != width or \
      not np.isfinite(array).all():
    raise InputError(f"{what} is not a list of [{', '.join('xy' if width == 2 else 'ltrb')}]"
                     " numbers", path=path)
  return array


def _word(obj, where: str, path: str) -> Word:
  box = _field(obj, "box", (list, type(None)), where, path)
  return Word(_field(obj, "text", str, where, path),
              _field(obj, "confidence", (int, float, type(None)), where, path),
              None if box is None else tuple(float(v) for v in
                                             _array([box], 4, f"{where} box", path)[0]))


def _line(obj, region: str, where: str, path: str) -> Line:
  where = f"{where}: line {_field(obj, 'id', str, where, path)}"
  polygon = _array(_field(obj, "polygon", list, where, path), 2, f"{where} polygon", path)
  baseline = _array(_field(obj, "baseline", list, where, path), 2, f"{where} baseline", path)
  if len(polygon) < 3 or len(baseline) < 2:
    raise InputError(f"{where}: a polygon needs 3 points and a baseline 2", path=path)
  return Line(obj["id"], polygon, baseline, _field(obj, "text", str, where, path),
              _field(obj, "type", str, where, path),
              _field(obj, "reading_order", int, where, path), region,
              _field(obj, "confidence", (int, float, type(None)), where, path),
              tuple(_word(w, f"{where} word {k}", path)
                    for k, w in enumerate(_field(obj, "words", list, where, path))))


def from_json(source: str | bytes | dict, *, name: str | None = None) -> Page:
  """JSON written by `to_json` (text, bytes or the parsed dict) -> Page, its lines sorted
  by `reading_order` and renumbered 0..N-1.

  Raises:
    InputError: not JSON, another schema, a missing or malformed field; naming `name`
      and where in the document.
  """
  path = name or "<page json>"
  if isinstance(source, (str, bytes)):
    try:
      source = json.loads(source)
    except (ValueError, UnicodeDecodeError) as e:
      raise InputError(f"not JSON: {e}", path=path) from None
  if _field(source, "schema", str, "page", path) != SCHEMA_ID:
    raise InputError(f"schema {source['schema']!r}, not {SCHEMA_ID!r}", path=path)
  regions, lines = [], []
  for k, obj in enumerate(_field(source, "regions", list, "page", path)):
    region_id = _field(obj, "id", str, f"region {k}", path)
    where = f"region {region_id}"
    polygon = _field(obj, "polygon", (list, type(None)), where, path)
    regions.append(Region(region_id, None if polygon is None else
                          _array(polygon, 2, f"{where} polygon", path),
                          _field(obj, "type", str, where, path)))
    lines += [_line(line, region_id, where, path)
              for line in _field(obj, "lines", list, where, path)]
  lines.sort(key=lambda l: l.order)
  lines = [dataclasses.replace(line, order=i) for i, line in enumerate(lines)]
  return Page(_field(source, "image", str, "page", path),
              _field(source, "width", int, "page", path),
              _field(source, "height", int, "page", path), tuple(lines), "json",
              tuple(regions))
