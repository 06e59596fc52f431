"""Page ground truth: ALTO (v2-v4, eScriptorium, kraken) and PAGE-XML (2010-2019,
Transkribus) read into one model of a page: regions of text lines, each line with its
polygon, baseline, box, text, type and reading order.

Both formats describe the same things in different places (shared/formats/PAGES.md):
elements are matched by namespace family and local name, never by prefix; coordinates
are clipped to the page; ALTO line types are resolved through their tags' labels; PAGE
reading order comes from `ReadingOrder` for regions and `custom="readingOrder {index:N;}"`
for lines; an ALTO BASELINE that is a single number (before ALTO 4.2) becomes a
horizontal line across the box. Text is NFC-normalised; line text is always taken from
the lines, never from a region's joined copy.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata

import numpy as np

from htr.errors import InputError
from htr.xml_source import MAX_BYTES, parse_xml, read_source

ALTO_NAMESPACES = ("http://www.loc.gov/standards/alto/ns-v2#",
                   "http://www.loc.gov/standards/alto/ns-v3#",
                   "http://www.loc.gov/standards/alto/ns-v4#")
PAGE_NAMESPACE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
_CUSTOM = re.compile(r"(\w+)\s*\{([^}]*)\}")


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
    confidence: the file's confidence for the text, if it gives one.
  """

  id: str
  polygon: np.ndarray
  baseline: np.ndarray
  text: str
  type: str
  order: int
  region: str
  confidence: float | None = None

  @property
  def box(self) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the polygon."""
    (left, top), (right, bottom) = self.polygon.min(0), self.polygon.max(0)
    return float(left), float(top), float(right), float(bottom)


@dataclasses.dataclass(frozen=True)
class Page:
  """A page image's lines, in reading order.

  Attributes:
    image: the image file, as the XML names it, joined to the XML's folder.
    width, height: the page size in pixels.
    lines: every line, sorted by `Line.order`.
    format: "alto" or "page".
  """

  image: str
  width: int
  height: int
  lines: tuple[Line, ...]
  format: str


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
  a repeated first point at the end is dropped."""
  values = (text or "").replace(",", " ").split()
  if len(values) < 4 or len(values) % 2:
    raise InputError(f"{what} has {len(values)} coordinates; expected pairs, at least 2",
                     path=path)
  points = np.array([_number(v, what, path) for v in values], np.float32).reshape(-1, 2)
  if len(points) > 2 and np.array_equal(points[0], points[-1]):
    points = points[:-1]
  return np.clip(points, 0, [max(width - 1, 0), max(height - 1, 0)]).astype(np.float32)


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
  lines = []
  for block in _descendants(root, "TextBlock"):
    for element in _children(block, "TextLine"):
      line_id = element.get("ID", f"line{len(lines)}")
      where = f"{path}: TextLine {line_id}"
      polygon_element = next(iter(_descendants(element, "Polygon")), None)
      box = [element.get(k) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
      if polygon_element is not None:
        polygon = _points(polygon_element.get("POINTS"), "Polygon POINTS", where, width,
                          height)
      elif all(v is not None for v in box):
        polygon = np.clip(_box_polygon(*(_number(v, "box", where) for v in box)), 0,
                          [width - 1, height - 1])
      else:
        raise InputError("a TextLine without a Polygon or a box", path=where)
      baseline_text = element.get("BASELINE")
      if baseline_text is None:
        baseline = _level_baseline(polygon, float(polygon[:, 1].max()))
      elif len(baseline_text.replace(",", " ").split()) == 1:  # ALTO < 4.2: a y offset.
        y = float(np.clip(_number(baseline_text, "BASELINE", where), 0, height - 1))
        baseline = _level_baseline(polygon, y)
      else:
        baseline = _points(baseline_text, "BASELINE", where, width, height)
      strings = _children(element, "String")
      text = " ".join(_text(s.get("CONTENT")) for s in strings if _text(s.get("CONTENT")))
      confidences = [_number(s.get("WC"), "String WC", where) for s in strings
                     if s.get("WC") is not None]
      tags = (element.get("TAGREFS") or "").split()
      kind = next((_line_type(labels[t]) for t in tags if labels.get(t)), "")
      lines.append(Line(line_id, polygon, baseline, text, kind, len(lines),
                        block.get("ID", ""),
                        float(np.mean(confidences)) if confidences else None))
  return Page(_image_path(file_name, path), width, height, tuple(lines), "alto")


def _read_page_xml(root, path: str) -> Page:
  page_element = next(iter(_children(root, "Page")), None)
  if page_element is None:
    raise InputError("PAGE-XML without a Page element", path=path)
  width = int(_number(page_element.get("imageWidth"), "Page imageWidth", path))
  height = int(_number(page_element.get("imageHeight"), "Page imageHeight", path))
  region_rank = {ref.get("regionRef"): int(_number(ref.get("index"), "index", path))
                 for ref in _descendants(page_element, "RegionRefIndexed")}
  regions = _descendants(page_element, "TextRegion")
  ranked = []
  for position, region in enumerate(regions):
    region_id = region.get("id", f"region{position}")
    rank = region_rank.get(region_id, len(region_rank) + position)
    for line_position, element in enumerate(_children(region, "TextLine")):
      line_id = element.get("id", f"{region_id}_line{line_position}")
      where = f"{path}: TextLine {line_id}"
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
      equiv = next(iter(_children(element, "TextEquiv")), None)
      unicode_element = next(iter(_children(equiv, "Unicode")), None) if equiv is not None \
          else None
      text = _text(unicode_element.text if unicode_element is not None else "")
      confidence = (_number(equiv.get("conf"), "TextEquiv conf", where)
                    if equiv is not None and equiv.get("conf") is not None else None)
      custom = _custom(element.get("custom"))
      order = custom.get("readingOrder", [{}])[0].get("index")
      line_rank = int(_number(order, "readingOrder index", where)) if order else line_position
      structure = custom.get("structure", [{}])[0].get("type", "") or region.get("type", "")
      ranked.append(((rank, line_rank, position, line_position),
                     Line(line_id, polygon, baseline, text, structure.lower(), 0, region_id,
                          confidence)))
  ranked.sort(key=lambda item: item[0])
  lines = tuple(dataclasses.replace(line, order=i) for i, (_, line) in enumerate(ranked))
  return Page(_image_path(page_element.get("imageFilename"), path), width, height, lines,
              "page")


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
