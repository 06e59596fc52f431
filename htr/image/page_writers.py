"""Recognised pages written as PAGE-XML 2013 (Transkribus) and ALTO v4 (eScriptorium,
kraken), the formats the tools researchers already use read, and read back by
`pages.read_page` into the same lines: polygons, baselines, text, types and order.

Both are built with xml.etree.ElementTree, which escapes text and attributes, so `<&"'`
and any Unicode round-trip; text XML 1.0 cannot carry (control characters) is refused
rather than written into a file no parser opens. Where the formats differ from the page
model, the writers follow what the readers (and Transkribus, eScriptorium) expect:

- Coordinates are whole pixels (PAGE's points type admits nothing else), clipped to the
  page.
- Lines are ordered within regions and regions in the page, so the lines of a region must
  be consecutive in reading order (`reading_order.with_reading_order` makes regions so).
- PAGE: line order and type go in `custom="readingOrder {index:N;} structure {type:T;}"`,
  region order in `ReadingOrder/OrderedGroup`; a `Word` needs `Coords`, so words without
  a box are left out (their text is in the line's). An untyped line in a typed region
  reads back with the region's type, as the reader types lines by their region.
- ALTO: words are `String`s split by `SP`; a line without words is one `String`
  (eScriptorium's way); line types are `OtherTag`s with segmOnto labels
  ("DefaultLine:Handwritten"). ALTO has no line confidence: a line without words keeps
  it as its String's WC, a line with words keeps the words' (and reads back their mean).
  A line of one word reads back as a line without words.
- Ids are kept when they are valid, unique XML ids, and replaced otherwise.
"""

from __future__ import annotations

import datetime
import os
import re
from typing import Callable
from xml.etree import ElementTree as ET

import numpy as np

from htr.errors import InputError
from htr.image import page_json
from htr.image.page_model import Line, Page, Region, box_polygon, lines_box

PAGE_2013 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
ALTO_V4 = "http://www.loc.gov/standards/alto/ns-v4#"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_PAGE_XSD = f"{PAGE_2013} {PAGE_2013}/pagecontent.xsd"
_ALTO_XSD = f"{ALTO_V4} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
# PAGE 2013 TextRegion@type values; other region types go in @custom.
_PAGE_REGION_TYPES = frozenset({
    "paragraph", "heading", "caption", "header", "footer", "page-number", "drop-capital",
    "credit", "floating", "signature-mark", "catch-word", "marginalia", "footnote",
    "footnote-continued", "endnote", "TOC-entry", "other"})
_NCNAME = re.compile(r"[A-Za-z_][\w.\-]*\Z", re.ASCII)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_IN_CUSTOM = re.compile(r"[{};:]")


class _Ids:
  """Unique XML ids: a valid, unused id is kept, anything else becomes `prefix` + n."""

  def __init__(self):
    self._used: set[str] = set()

  def __call__(self, wanted: str, prefix: str) -> str:
    if not (_NCNAME.match(wanted) and wanted not in self._used):
      n = len(self._used) + 1
      while f"{prefix}{n}" in self._used:
        n += 1
      wanted = f"{prefix}{n}"
    self._used.add(wanted)
    return wanted


# ---- Checks shared by both formats ----------------------------------------------------


def _text(text: str, what: str, page: Page) -> str:
  bad = _NOT_XML.search(text)
  if bad:
    raise InputError(f"{what}: text holds U+{ord(bad.group()):04X}, which XML 1.0 cannot "
                     "carry", path=page.image)
  return text


def _confidence(value: float | None, what: str, page: Page) -> str | None:
  if value is None:
    return None
  if not 0 <= value <= 1:
    raise InputError(f"{what}: confidence {value} is not in 0..1", path=page.image)
  return f"{value:.4g}"


def _type(value: str, what: str, page: Page) -> str:
  """A line or region type, which both formats carry in a `key:value` syntax."""
  if _NOT_IN_CUSTOM.search(value) or value != value.strip():
    raise InputError(f"{what}: type {value!r} cannot be written (no {{}};: or outer "
                     "spaces)", path=page.image)
  return value


def _regions(page: Page) -> list[tuple[Region, tuple[Line, ...]]]:
  """The page's regions that hold lines, checked to follow one another in reading order."""
  groups = [(region, lines) for region, lines in page.regions_with_lines() if lines]
  seen = [line.order for _, lines in groups for line in lines]
  if seen != sorted(seen):
    first = next(i for i in range(1, len(seen)) if seen[i] < seen[i - 1])
    owner = next(region.id for region, lines in groups if seen[first] in
                 [line.order for line in lines])
    raise InputError(f"reading order goes back into region {owner!r}: XML formats order "
                     "lines within regions (group each region's lines together, e.g. with "
                     "reading_order.with_reading_order)", path=page.image)
  return groups


def _pixels(points: np.ndarray, page: Page) -> np.ndarray:
  upper = [max(page.width - 1, 0), max(page.height - 1, 0)]
  return np.clip(np.rint(np.asarray(points, np.float64)), 0, upper).astype(np.int64)


def _region_polygon(region: Region, lines: tuple[Line, ...]) -> np.ndarray:
  return region.polygon if region.polygon is not None else box_polygon(lines_box(lines))


def _serialise(root: ET.Element) -> bytes:
  ET.indent(root, space=" ")
  return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


# ---- PAGE-XML 2013 --------------------------------------------------------------------


def _page_points(points: np.ndarray, page: Page) -> str:
  return " ".join(f"{x},{y}" for x, y in _pixels(points, page))


def _text_equiv(parent: ET.Element, text: str, conf: str | None) -> None:
  equiv = ET.SubElement(parent, "TextEquiv", {"conf": conf} if conf is not None else {})
  ET.SubElement(equiv, "Unicode").text = text


def _page_line(parent: ET.Element, line: Line, index: int, ids: _Ids, page: Page) -> None:
  what = f"line {line.id}"
  custom = f"readingOrder {{index:{index};}}"
  if line.type:
    custom += f" structure {{type:{_type(line.type, what, page)};}}"
  line_id = ids(line.id, "line_")
  element = ET.SubElement(parent, "TextLine", {"id": line_id, "custom": custom})
  ET.SubElement(element, "Coords", {"points": _page_points(line.polygon, page)})
  ET.SubElement(element, "Baseline", {"points": _page_points(line.baseline, page)})
  for k, word in enumerate(w for w in line.words if w.box is not None):
    word_element = ET.SubElement(element, "Word", {"id": ids(f"{line_id}_w{k + 1}", "word_")})
    ET.SubElement(word_element, "Coords",
                  {"points": _page_points(box_polygon(word.box), page)})
    _text_equiv(word_element, _text(word.text, what, page),
                _confidence(word.confidence, what, page))
  _text_equiv(element, _text(line.text, what, page),
              _confidence(line.confidence, what, page))


def _page_region(parent: ET.Element, region: Region, lines: tuple[Line, ...], index: int,
                 region_id: str, ids: _Ids, page: Page) -> None:
  attributes = {"id": region_id, "custom": f"readingOrder {{index:{index};}}"}
  kind = _type(region.type, f"region {region.id}", page)
  if kind in _PAGE_REGION_TYPES:
    attributes["type"] = kind
  elif kind:
    attributes["custom"] += f" structure {{type:{kind};}}"
  element = ET.SubElement(parent, "TextRegion", attributes)
  ET.SubElement(element, "Coords", {"points": _page_points(_region_polygon(region, lines),
                                                           page)})
  for k, line in enumerate(lines):
    _page_line(element, line, k, ids, page)
  _text_equiv(element, "\n".join(line.text for line in lines), None)


def to_page_xml(page: Page, *, creator: str = "htr",
                created: datetime.datetime | None = None) -> bytes:
  """`page` as a PAGE-XML 2013 document (UTF-8 bytes).

  Args:
    page: its regions' lines must be consecutive in reading order.
    creator: `Metadata/Creator`, the software that made the file.
    created: `Metadata/Created` and `LastChange`; now (UTC) by default.

  Raises:
    InputError: an order that interleaves regions, text XML cannot carry, a confidence
      outside 0..1 or a type with `{};:`; naming the page's image.
  """
  created = created or datetime.datetime.now(datetime.timezone.utc)
  root = ET.Element("PcGts", {"xmlns": PAGE_2013, "xmlns:xsi": _XSI,
                              "xsi:schemaLocation": _PAGE_XSD})
  metadata = ET.SubElement(root, "Metadata")
  ET.SubElement(metadata, "Creator").text = creator
  ET.SubElement(metadata, "Created").text = created.isoformat(timespec="seconds")
  ET.SubElement(metadata, "LastChange").text = created.isoformat(timespec="seconds")
  page_element = ET.SubElement(root, "Page", {
      "imageFilename": os.path.basename(page.image), "imageWidth": str(int(page.width)),
      "imageHeight": str(int(page.height))})
  groups = _regions(page)
  ids = _Ids()
  region_ids = [ids(region.id, "region_") for region, _ in groups]
  if groups:
    order = ET.SubElement(ET.SubElement(page_element, "ReadingOrder"), "OrderedGroup",
                          {"id": ids("ro_regions", "ro_"), "caption": "Regions reading order"})
    for k, region_id in enumerate(region_ids):
      ET.SubElement(order, "RegionRefIndexed", {"index": str(k), "regionRef": region_id})
  for k, ((region, lines), region_id) in enumerate(zip(groups, region_ids)):
    _page_region(page_element, region, lines, k, region_id, ids, page)
  return _serialise(root)


# ---- ALTO v4 --------------------------------------------------------------------------


def _alto_points(points: np.ndarray, page: Page) -> str:
  return " ".join(f"{x} {y}" for x, y in _pixels(points, page))


def _alto_box(box, page: Page) -> dict[str, str]:
  (left, top), (right, bottom) = _pixels(np.reshape(box, (2, 2)), page)
  return {"HPOS": str(left), "VPOS": str(top), "WIDTH": str(right - left),
          "HEIGHT": str(bottom - top)}


def _alto_label(kind: str) -> str:
  """segmOnto's label for a line type, which the ALTO reader maps back to the type."""
  return "DefaultLine:" + {"printed": "Print"}.get(kind, kind[:1].upper() + kind[1:])


def _alto_strings(element: ET.Element, line: Line, page: Page) -> None:
  what = f"line {line.id}"
  if not line.words:
    attributes = {"CONTENT": _text(line.text, what, page), **_alto_box(line.box, page)}
    if line.confidence is not None:
      attributes["WC"] = _confidence(line.confidence, what, page)
    ET.SubElement(element, "String", attributes)
    return
  if " ".join(word.text for word in line.words) != line.text:
    raise InputError(f"{what}: its words joined by spaces are not its text {line.text!r}",
                     path=page.image)
  for k, word in enumerate(line.words):
    if k:
      ET.SubElement(element, "SP")
    attributes = {"CONTENT": _text(word.text, what, page)}
    if word.confidence is not None:
      attributes["WC"] = _confidence(word.confidence, what, page)
    if word.box is not None:
      attributes.update(_alto_box(word.box, page))
    ET.SubElement(element, "String", attributes)


def _alto_block(parent: ET.Element, region: Region, lines: tuple[Line, ...], block_id: str,
                tags: Callable[[str], str], ids: _Ids, page: Page) -> None:
  polygon = _region_polygon(region, lines)
  attributes = {"ID": block_id, **_alto_box(np.r_[polygon.min(0), polygon.max(0)], page)}
  if region.type:
    attributes["TAGREFS"] = tags("BlockType:" + _type(region.type, f"region {region.id}", page))
  block = ET.SubElement(parent, "TextBlock", attributes)
  ET.SubElement(ET.SubElement(block, "Shape"), "Polygon",
                {"POINTS": _alto_points(polygon, page)})
  for line in lines:
    attributes = {"ID": ids(line.id, "line_"), "BASELINE": _alto_points(line.baseline, page),
                  **_alto_box(line.box, page)}
    if line.type:
      attributes["TAGREFS"] = tags(_alto_label(_type(line.type, f"line {line.id}", page)))
    element = ET.SubElement(block, "TextLine", attributes)
    ET.SubElement(ET.SubElement(element, "Shape"), "Polygon",
                  {"POINTS": _alto_points(line.polygon, page)})
    _alto_strings(element, line, page)


def to_alto(page: Page) -> bytes:
  """`page` as an ALTO v4 (4.2, baselines as point lists) document (UTF-8 bytes).

  Raises:
    InputError: an order that interleaves regions, text XML cannot carry, a confidence
      outside 0..1, a type with `{};:`, or words that do not spell their line's text;
      naming the page's image.
  """
  root = ET.Element("alto", {"xmlns": ALTO_V4, "xmlns:xsi": _XSI,
                             "xsi:schemaLocation": _ALTO_XSD})
  description = ET.SubElement(root, "Description")
  ET.SubElement(description, "MeasurementUnit").text = "pixel"
  source = ET.SubElement(description, "sourceImageInformation")
  ET.SubElement(source, "fileName").text = os.path.basename(page.image)
  tags_element = ET.SubElement(root, "Tags")
  layout = ET.SubElement(root, "Layout")
  groups = _regions(page)
  ids = _Ids()
  page_id = ids("page_1", "page_")
  labels: dict[str, str] = {}

  def tags(label: str) -> str:
    if label not in labels:
      labels[label] = ids(f"TYPE_{len(labels) + 1}", "TYPE_")
      ET.SubElement(tags_element, "OtherTag", {"ID": labels[label], "LABEL": label,
                                               "DESCRIPTION": f"type {label}"})
    return labels[label]

  block_ids = [ids(region.id, "block_") for region, _ in groups]
  page_element = ET.SubElement(layout, "Page", {
      "ID": page_id, "PHYSICAL_IMG_NR": "1", "WIDTH": str(int(page.width)),
      "HEIGHT": str(int(page.height))})
  space = ET.SubElement(page_element, "PrintSpace", {
      "HPOS": "0", "VPOS": "0", "WIDTH": str(int(page.width)), "HEIGHT": str(int(page.height))})
  for (region, lines), block_id in zip(groups, block_ids):
    _alto_block(space, region, lines, block_id, tags, ids, page)
  if not labels:
    root.remove(tags_element)
  return _serialise(root)


WRITERS: dict[str, Callable[[Page], bytes]] = {
    "json": lambda page: page_json.to_json(page).encode("utf-8"),
    "page": to_page_xml,
    "alto": to_alto,
}


def serialise(page: Page, format: str) -> bytes:
  """`page` as "json", "page" (PAGE-XML 2013) or "alto" (ALTO v4) bytes, for a command's
  --format."""
  if format not in WRITERS:
    raise ValueError(f"unknown page format {format!r}; known: {', '.join(WRITERS)}")
  return WRITERS[format](page)
