"""Page ground truth: ALTO (v2-v4, eScriptorium, kraken) and PAGE-XML (2010-2019,
Transkribus) read into one model of a page (`page_model.py`): regions of text lines, each
line with its polygon, baseline, box, text, type, reading order, confidence and words.

Both formats describe the same things in different places (shared/formats/PAGES.md):
elements are matched by namespace family and local name, never by prefix; coordinates
are clipped to the page; ALTO line types are resolved through their tags' labels; PAGE
reading order comes from `ReadingOrder` for regions and `custom="readingOrder {index:N;}"`
for lines (a file with neither is read in document order, with `Page.ordered` False); an
ALTO BASELINE that is a single number (before ALTO 4.2) becomes a horizontal line across
the box. Text is NFC-normalised; line text is always taken from the lines, never from a
region's joined copy. Words are PAGE `Word`s, or ALTO `String`s when a line holds
several (or `SP`s); a line in one String, as eScriptorium writes them, has no words.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata

import numpy as np

from htr.errors import InputError
from htr.image.page_model import Line, Page, Region, Word, polygon_box
from htr.xml_source import MAX_BYTES, parse_xml, read_source

ALTO_NAMESPACES = ("http://www.loc.gov/standards/alto/ns-v2#",
                   "http://www.loc.gov/standards/alto/ns-v3#",
                   "http://www.loc.gov/standards/alto/ns-v4#")
PAGE_NAMESPACE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
_CUSTOM = re.compile(r"(\w+)\s*\{([^}]*)\}")


def _local(tag: str) -> tuple[str, str]:
  namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
  return namespace, name


def _children(element, name: str) -> list:
  return [e for e in element if _local(e.tag)[1] == name]


def _descendants(element, name: str) -> list:
  return [e for e in element.iter() if _local(e.tag)[1] == name]


def _number(value: str | None, what: str, path: str) -> float:
  try:
    number = float(value)
  except (TypeError, ValueError):
    raise InputError(f"{what} is {value!r}, not a number", path=path) from None
  if not np.isfinite(number):
    raise InputError(f"{what} is {value!r}", path=path)
  return number


def _points(text: str | None, what: str, path: str, width: int, height: int) -> np.ndarray:
  """'x y x y ...' (ALTO) or 'x,y x,y ...' (PAGE) -> float32 [N, 2], clipped to the page;
  the first point repeated at the end (once or more, after clipping) is dropped, so that
  reading what a writer wrote gives the same points."""
  values = (text or "").replace(",", " ").split()
  if len(values) < 4 or len(values) % 2:
    raise InputError(f"{what} has {len(values)} coordinates; expected pairs, at least 2",
                     path=path)
  points = np.array([_number(v, what, path) for v in values], np.float32).reshape(-1, 2)
  points = np.clip(points, 0, [max(width - 1, 0), max(height - 1, 0)]).astype(np.float32)
  while len(points) > 2 and np.array_equal(points[0], points[-1]):  # Closed, even twice.
    points = points[:-1]
  return points


def _custom(text: str | None) -> dict[str, list[dict[str, str]]]:
  """PAGE's `custom="readingOrder {index:0;} textStyle {...}"` -> {key: [fields, ...]}."""
  parsed: dict[str, list[dict[str, str]]] = {}
  for key, body in _CUSTOM.findall(text or ""):
    fields = dict(item.split(":", 1) for item in body.split(";") if ":" in item)
    parsed.setdefault(key, []).append({k.strip(): v.strip() for k, v in fields.items()})
  return parsed


def _text(value: str | None) -> str:
  return unicodedata.normalize("NFC", (value or "").replace("\r", "")).strip()


def _line_type(label: str) -> str:
  """segmOnto labels ("DefaultLine:Handwritten", "DefaultLine:Print") -> "handwritten",
  "printed", ...; other labels lower-cased as they are."""
  kind = label.rpartition(":")[2].strip().lower()
  return {"print": "printed"}.get(kind, kind)


def _box_polygon(hpos: float, vpos: float, width: float, height: float) -> np.ndarray:
  return np.array([[hpos, vpos], [hpos + width, vpos], [hpos + width, vpos + height],
                   [hpos, vpos + height]], np.float32)


def _level_baseline(polygon: np.ndarray, y: float) -> np.ndarray:
  """A horizontal baseline at `y` across the polygon, for lines the file gives none."""
  return np.array([[polygon[:, 0].min(), y], [polygon[:, 0].max(), y]], np.float32)


def _alto_polygon(element, where: str, width: int, height: int) -> np.ndarray | None:
  """A TextLine's or TextBlock's own `Shape/Polygon`, else its HPOS/VPOS/WIDTH/HEIGHT box,
  else None (a block's polygon is its Shape's, never one of its lines')."""
  shape = next(iter(_children(element, "Shape")), None)
  polygon_element = next(iter(_children(shape, "Polygon")), None) if shape is not None \
      else None
  if polygon_element is not None:
    return _points(polygon_element.get("POINTS"), "Polygon POINTS", where, width, height)
  box = [element.get(k) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
  if all(v is not None for v in box):
    return np.clip(_box_polygon(*(_number(v, "box", where) for v in box)), 0,
                   [max(width - 1, 0), max(height - 1, 0)]).astype(np.float32)
  return None


def _alto_baseline(element, polygon: np.ndarray, where: str, width: int,
                   height: int) -> np.ndarray:
  text = element.get("BASELINE")
  if text is None:
    return _level_baseline(polygon, float(polygon[:, 1].max()))
  if len(text.replace(",", " ").split()) == 1:  # ALTO < 4.2: a y offset.
    return _level_baseline(polygon, float(np.clip(_number(text, "BASELINE", where), 0,
                                                  height - 1)))
  return _points(text, "BASELINE", where, width, height)


def _alto_words(element, where: str) -> tuple[Word, ...]:
  """A line's `String`s as words, when the file splits the line into words (more than
  one String, or SP elements); a whole line in one String (eScriptorium) has none."""
  strings = _children(element, "String")
  if len(strings) < 2 and not _children(element, "SP"):
    return ()
  words = []
  for string in strings:
    text = _text(string.get("CONTENT"))
    if not text:
      continue
    confidence = string.get("WC")
    box = [string.get(k) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
    if all(v is not None for v in box):
      left, top, w, h = (_number(v, "String box", where) for v in box)
      box = (left, top, left + w, top + h)
    words.append(Word(text, None if confidence is None else
                      _number(confidence, "String WC", where),
                      box if all(v is not None for v in box) else None))
  return tuple(words)


def _alto_line(element, order: int, region: str, labels: dict[str, str], path: str,
               width: int, height: int) -> Line:
  line_id = element.get("ID", f"line{order}")
  where = f"{path}: TextLine {line_id}"
  polygon = _alto_polygon(element, where, width, height)
  if polygon is None:
    raise InputError("a TextLine without a Polygon or a box", path=where)
  strings = _children(element, "String")
  text = " ".join(_text(s.get("CONTENT")) for s in strings if _text(s.get("CONTENT")))
  confidences = [_number(s.get("WC"), "String WC", where) for s in strings
                 if s.get("WC") is not None]
  return Line(line_id, polygon, _alto_baseline(element, polygon, where, width, height),
              text, _tag_type(element, labels), order, region,
              float(np.mean(confidences)) if confidences else None,
              _alto_words(element, where))


def _tag_type(element, labels: dict[str, str]) -> str:
  """The type of the first of an element's TAGREFS that has a label."""
  tags = (element.get("TAGREFS") or "").split()
  return next((_line_type(labels[t]) for t in tags if labels.get(t)), "")


def _read_alto(root, path: str) -> Page:
  page_element = next(iter(_descendants(root, "Page")), None)
  if page_element is None:
    raise InputError("ALTO without a Page element", path=path)
  width = int(_number(page_element.get("WIDTH"), "Page WIDTH", path))
  height = int(_number(page_element.get("HEIGHT"), "Page HEIGHT", path))
  unit = next((e.text for e in _descendants(root, "MeasurementUnit")), "pixel") or "pixel"
  if unit.strip() != "pixel":
    raise InputError(f"MeasurementUnit {unit.strip()!r}: only pixel coordinates are read",
                     path=path)
  file_name = next((e.text for e in _descendants(root, "fileName")), None)
  labels = {tag.get("ID"): tag.get("LABEL", "") for tag in _descendants(root, "OtherTag")}
  lines, regions = [], []
  for block in _descendants(root, "TextBlock"):
    block_id = block.get("ID", "")
    regions.append(Region(block_id, _alto_polygon(block, f"{path}: TextBlock {block_id}",
                                                  width, height), _tag_type(block, labels)))
    for element in _children(block, "TextLine"):
      lines.append(_alto_line(element, len(lines), block_id, labels, path, width, height))
  return Page(_image_path(file_name, path), width, height, tuple(lines), "alto",
              tuple(regions))


def _page_equiv(element, where: str) -> tuple[str, float | None]:
  """The text and confidence of an element's first TextEquiv ("", None without one)."""
  equiv = next(iter(_children(element, "TextEquiv")), None)
  if equiv is None:
    return "", None
  unicode_element = next(iter(_children(equiv, "Unicode")), None)
  text = _text(unicode_element.text if unicode_element is not None else "")
  conf = equiv.get("conf")
  return text, None if conf is None else _number(conf, "TextEquiv conf", where)


def _page_words(element, where: str, width: int, height: int) -> tuple[Word, ...]:
  words = []
  for word in _children(element, "Word"):
    text, confidence = _page_equiv(word, where)
    coords = next(iter(_children(word, "Coords")), None)
    box = None if coords is None else polygon_box(
        _points(coords.get("points"), "Word Coords points", where, width, height))
    if text:
      words.append(Word(text, confidence, box))
  return tuple(words)


def _page_line(element, region: Region, position: int, where_region: str, width: int,
               height: int) -> tuple[int | None, Line]:
  """A TextLine -> (its readingOrder index within the region, None without one; Line
  with order 0)."""
  line_id = element.get("id", f"{region.id}_line{position}")
  where = f"{where_region}: TextLine {line_id}"
  coords = next(iter(_children(element, "Coords")), None)
  if coords is None:
    raise InputError("a TextLine without Coords", path=where)
  polygon = _points(coords.get("points"), "Coords points", where, width, height)
  baseline_element = next(iter(_children(element, "Baseline")), None)
  if baseline_element is not None:
    baseline = _points(baseline_element.get("points"), "Baseline points", where, width,
                       height)
  else:
    baseline = _level_baseline(polygon, float(polygon[:, 1].max()))
  text, confidence = _page_equiv(element, where)
  custom = _custom(element.get("custom"))
  order = custom.get("readingOrder", [{}])[0].get("index")
  rank = int(_number(order, "readingOrder index", where)) if order else None
  structure = custom.get("structure", [{}])[0].get("type", "").lower() or region.type
  return rank, Line(line_id, polygon, baseline, text, structure, 0, region.id, confidence,
                    _page_words(element, where, width, height))


def _page_region(element, position: int, path: str, width: int, height: int) -> Region:
  region_id = element.get("id", f"region{position}")
  coords = next(iter(_children(element, "Coords")), None)
  polygon = None
  if coords is not None and coords.get("points"):
    polygon = _points(coords.get("points"), "Coords points",
                      f"{path}: TextRegion {region_id}", width, height)
  structure = _custom(element.get("custom")).get("structure", [{}])[0].get("type", "")
  return Region(region_id, polygon, (element.get("type") or structure).lower())


def _read_page_xml(root, path: str) -> Page:
  page_element = next(iter(_children(root, "Page")), None)
  if page_element is None:
    raise InputError("PAGE-XML without a Page element", path=path)
  width = int(_number(page_element.get("imageWidth"), "Page imageWidth", path))
  height = int(_number(page_element.get("imageHeight"), "Page imageHeight", path))
  region_rank = {ref.get("regionRef"): int(_number(ref.get("index"), "index", path))
                 for ref in _descendants(page_element, "RegionRefIndexed")}
  ranked, regions = [], []
  ordered = bool(region_rank)  # Does the file state an order, for regions or lines?
  for position, element in enumerate(_descendants(page_element, "TextRegion")):
    region = _page_region(element, position, path, width, height)
    rank = region_rank.get(region.id, len(region_rank) + position)
    regions.append(((rank, position), region))
    for line_position, line_element in enumerate(_children(element, "TextLine")):
      line_rank, line = _page_line(line_element, region, line_position,
                                   f"{path}: TextRegion {region.id}", width, height)
      ordered |= line_rank is not None
      line_rank = line_position if line_rank is None else line_rank
      ranked.append(((rank, line_rank, position, line_position), line))
  ranked.sort(key=lambda item: item[0])
  regions.sort(key=lambda item: item[0])
  lines = tuple(dataclasses.replace(line, order=i) for i, (_, line) in enumerate(ranked))
  return Page(_image_path(page_element.get("imageFilename"), path), width, height, lines,
              "page", tuple(region for _, region in regions), ordered)


def _image_path(file_name: str | None, path: str) -> str:
  """The image the XML names, relative to the XML's folder (or the XML's own base name
  with .jpg, when it names none)."""
  if not file_name:
    return os.path.splitext(path)[0] + ".jpg"
  return os.path.join(os.path.dirname(path), os.path.basename(file_name.strip()))


def read_page(source, *, name: str | None = None, max_bytes: int = MAX_BYTES) -> Page:
  """An ALTO or PAGE-XML file (a path or bytes) -> Page, by its root element's namespace.

  Raises:
    InputError: malformed or hostile XML, another format, a line without geometry,
      coordinates that are not numbers; always naming the file.
  """
  data, path = read_source(source, name=name, max_bytes=max_bytes)
  path = path or "<page xml>"
  root = parse_xml(data, path=path)
  namespace, local = _local(root.tag)
  if local == "alto" and (namespace in ALTO_NAMESPACES or not namespace):
    page = _read_alto(root, path)
  elif local == "PcGts" and namespace.startswith(PAGE_NAMESPACE_PREFIX):
    page = _read_page_xml(root, path)
  else:
    raise InputError(f"not ALTO or PAGE-XML: the root is {local!r} in {namespace!r}",
                     path=path)
  return dataclasses.replace(page, lines=tuple(sorted(page.lines, key=lambda l: l.order)))
