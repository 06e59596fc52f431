"""PAGE-XML 2013, ALTO v4 and JSON writers: what they write reads back into the same page
(XML-special characters, accents, two columns, lines without text, words), the XML has
the structure the schemas require, and what cannot be written is refused by name."""

import dataclasses
import datetime
import re
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from htr.errors import InputError
from htr.image import page_json, page_writers, pages, reading_order
from htr.image.page_model import Line, Page, Region, Word, box_polygon

PAGE_NS = "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15}"
ALTO_NS = "{http://www.loc.gov/standards/alto/ns-v4#}"
TEXTS = ['Tom & Jerry <said> "hi"', "l'été à Zürich — naïve façade", "", "ß Œuvre ½ ✓",
         "x < y && y > z", "Ελληνικά 中文", "", "Yours sincerely,"]


def _line(k: int, left: float, top: float, region: str, **kwargs) -> Line:
  """A skewed line: a 6-point polygon and a 3-point baseline."""
  right, bottom = left + 700, top + 60
  polygon = np.array([[left, top], [left + 350, top - 4], [right, top + 3], [right, bottom],
                      [left + 350, bottom + 2], [left, bottom - 2]], np.float32)
  baseline = np.array([[left, bottom - 12], [left + 350, bottom - 10], [right, bottom - 8]],
                      np.float32)
  fields = dict(text=TEXTS[k % len(TEXTS)], type=["handwritten", "printed", "", "signature"]
                [k % 4], confidence=None if k % 3 == 0 else 0.5 + k / 100)
  fields.update(kwargs)
  return Line(f"l{k}", polygon, baseline, order=k, region=region, **fields)


def _two_column_page() -> Page:
  """A heading region, two columns of four lines (one with words), one untyped region."""
  lines = [_line(0, 600, 80, "head", text="A Heading", words=(
      Word("A", 0.9, (600, 80, 640, 140)), Word("Heading", 0.7, (650, 80, 900, 140))))]
  lines += [_line(k, 100, 200 + 90 * (k - 1), "left") for k in range(1, 5)]
  lines += [_line(k, 900, 200 + 90 * (k - 5), "right") for k in range(5, 9)]
  lines[6] = dataclasses.replace(lines[6], text="two words", confidence=0.25,
                                 words=(Word("two", 0.8), Word("words", None)))
  regions = (Region("head", None, "heading"),
             Region("left", box_polygon((90, 190, 810, 560)), "paragraph"),
             Region("right", box_polygon((890, 190, 1610, 560)), "notes"))
  return Page("scans/letter (1).jpg", 1700, 1200, tuple(lines), "", regions)


def _assert_same_lines(read: Page, page: Page, *, alto: bool = False) -> None:
  assert len(read.lines) == len(page.lines)
  # The PAGE reader types an untyped line by its region's type.
  region_types = {r.id: r.type for r in page.regions} if not alto else {}
  for got, want in zip(read.lines, page.lines):
    assert (got.id, got.text, got.type, got.order, got.region) == \
        (want.id, want.text, want.type or region_types.get(want.region, ""), want.order,
         want.region)
    np.testing.assert_array_equal(got.polygon, np.rint(want.polygon))
    np.testing.assert_array_equal(got.baseline, np.rint(want.baseline))
    # ALTO reads a one-String line as wordless; PAGE writes no Word without a box.
    words = [w for w in want.words if w.box is not None or alto]
    assert got.words == (tuple(words) if not alto or len(want.words) > 1 else ())
    if alto and want.words:  # ALTO keeps the words' confidences, not the line's.
      known = [w.confidence for w in want.words if w.confidence is not None]
      assert got.confidence == pytest.approx(np.mean(known) if known else None)
    else:
      assert got.confidence == pytest.approx(want.confidence)


@pytest.mark.parametrize("writer, alto", [(page_writers.to_page_xml, False),
                                          (page_writers.to_alto, True)])
def test_xml_round_trip(writer, alto, tmp_path):
  page = _two_column_page()
  path = tmp_path / "letter (1).xml"
  path.write_bytes(writer(page))
  read = pages.read_page(str(path))
  assert read.image == str(tmp_path / "letter (1).jpg")
  assert (read.width, read.height) == (1700, 1200)
  _assert_same_lines(read, page, alto=alto)
  assert [r.id for r in read.regions] == ["head", "left", "right"]
  assert [r.type for r in read.regions] == ["heading", "paragraph", "notes"]
  np.testing.assert_array_equal(read.regions[1].polygon, page.regions[1].polygon)
  # A region without a polygon is drawn around its lines.
  assert read.regions[0].polygon.min(0).tolist() == [600, 76]


def test_json_round_trip_and_schema():
  page = _two_column_page()
  text = page_json.to_json(page)
  assert "Zürich" in text  # Characters as they are, not \u escapes.
  read = page_json.from_json(text, name="letter.json")
  assert read.image == "letter (1).jpg" and read.format == "json"
  assert [(r.id, r.type) for r in read.regions] == [(r.id, r.type) for r in page.regions]
  assert read.regions[0].polygon is None
  np.testing.assert_array_equal(read.regions[2].polygon, page.regions[2].polygon)
  for got, want in zip(read.lines, page.lines):
    assert (got.id, got.text, got.type, got.order, got.region, got.words) == \
        (want.id, want.text, want.type, want.order, want.region, want.words)
    assert got.confidence == want.confidence
    np.testing.assert_allclose(got.polygon, want.polygon, atol=0.005)
  document = page_json.to_dict(page)
  assert document["text"].split("\n")[:2] == ["A Heading", TEXTS[1]]
  assert document["regions"][0]["box"] == [600, 76, 1300, 142]
  jsonschema = pytest.importorskip("jsonschema")
  jsonschema.validate(document, page_json.JSON_SCHEMA)


def test_json_errors_name_the_file_and_the_place():
  document = page_json.to_dict(_two_column_page())
  del document["regions"][1]["lines"][2]["baseline"]
  with pytest.raises(InputError, match=r"p.json: region left: line l3: no 'baseline'"):
    page_json.from_json(document, name="p.json")
  with pytest.raises(InputError, match="p.json: not JSON"):
    page_json.from_json("{", name="p.json")
  with pytest.raises(InputError, match="schema 'x'"):
    page_json.from_json({"schema": "x"}, name="p.json")


def _ids(root) -> list[str]:
  return [e.get(k) for e in root.iter() for k in ("id", "ID") if e.get(k) is not None]


def _local(element) -> str:
  return element.tag.rpartition("}")[2]


def test_page_xml_structure():
  """What pagecontent.xsd (2013-07-15) requires, checked element by element."""
  created = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
  xml = page_writers.to_page_xml(_two_column_page(), created=created)
  assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
  root = ET.fromstring(xml)
  assert root.tag == f"{PAGE_NS}PcGts"
  assert "pagecontent.xsd" in root.get("{http://www.w3.org/2001/XMLSchema-instance}"
                                       "schemaLocation")
  metadata, page = list(root)
  assert [_local(e) for e in metadata] == ["Creator", "Created", "LastChange"]
  assert metadata[1].text == "2026-01-02T03:04:05+00:00"
  assert {k: page.get(k) for k in ("imageFilename", "imageWidth", "imageHeight")} == {
      "imageFilename": "letter (1).jpg", "imageWidth": "1700", "imageHeight": "1200"}
  assert [_local(e) for e in page] == ["ReadingOrder"] + ["TextRegion"] * 3
  group = page[0][0]
  assert _local(group) == "OrderedGroup" and group.get("id")
  regions = page.findall(f"{PAGE_NS}TextRegion")
  assert [(r.get("index"), r.get("regionRef")) for r in group] == [
      (str(k), region.get("id")) for k, region in enumerate(regions)]
  points = re.compile(r"(\d+,\d+ )+\d+,\d+\Z")
  for region in regions:
    children = [_local(e) for e in region]
    assert children[0] == "Coords" and children[-1] == "TextEquiv"
    assert set(children[1:-1]) == {"TextLine"}
    for line in region.findall(f"{PAGE_NS}TextLine"):
      names = [_local(e) for e in line]
      assert names == sorted(names, key=["Coords", "Baseline", "Word", "TextEquiv"].index)
      assert names[0] == "Coords" and names[-1] == "TextEquiv"
      for element in line.iter():
        if _local(element) in ("Coords", "Baseline"):
          assert points.match(element.get("points")), element.get("points")
        if _local(element) == "TextEquiv":
          assert [_local(e) for e in element] == ["Unicode"]
          assert element.get("conf") is None or 0 <= float(element.get("conf")) <= 1
        if _local(element) == "Word":
          assert [_local(e) for e in element] == ["Coords", "TextEquiv"]
  assert regions[0].get("type") == "heading" and regions[2].get("type") is None
  assert "structure {type:notes;}" in regions[2].get("custom")
  ids = _ids(root)
  assert len(ids) == len(set(ids)) and all(re.match(r"[A-Za-z_][\w.-]*\Z", i) for i in ids)


def test_alto_structure():
  """What alto-4-2.xsd requires, checked element by element."""
  root = ET.fromstring(page_writers.to_alto(_two_column_page()))
  assert root.tag == f"{ALTO_NS}alto"
  assert root.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation").endswith(
      "alto-4-2.xsd")
  assert [_local(e) for e in root] == ["Description", "Tags", "Layout"]
  description = root[0]
  assert [_local(e) for e in description] == ["MeasurementUnit", "sourceImageInformation"]
  assert description[0].text == "pixel" and description[1][0].text == "letter (1).jpg"
  tags = {e.get("ID"): e.get("LABEL") for e in root[1]}
  assert set(tags.values()) == {"DefaultLine:Handwritten", "DefaultLine:Print",
                                "DefaultLine:Signature", "BlockType:heading",
                                "BlockType:paragraph", "BlockType:notes"}
  (page,) = root[2]
  assert page.get("ID") and page.get("PHYSICAL_IMG_NR") == "1"
  assert (page.get("WIDTH"), page.get("HEIGHT")) == ("1700", "1200")
  (space,) = page
  assert _local(space) == "PrintSpace"
  integer = re.compile(r"\d+\Z")
  points = re.compile(r"(\d+ \d+ )+\d+ \d+\Z")
  for block in space:
    assert _local(block) == "TextBlock" and block.get("ID")
    assert [_local(e) for e in block][0] == "Shape"
    for line in block.findall(f"{ALTO_NS}TextLine"):
      assert all(integer.match(line.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
      assert points.match(line.get("BASELINE"))
      assert points.match(line.find(f"{ALTO_NS}Shape/{ALTO_NS}Polygon").get("POINTS"))
      names = [_local(e) for e in line]
      assert names[0] == "Shape" and names[1] == "String"
      # Strings split by SPs: String (SP String)*.
      assert "".join("S" if n == "String" else "_" for n in names[1:]) in \
          {"S" + "_S" * k for k in range(10)}
      for string in line.findall(f"{ALTO_NS}String"):
        assert string.get("CONTENT") is not None
        assert string.get("WC") is None or 0 <= float(string.get("WC")) <= 1
      assert all(ref in tags for ref in (line.get("TAGREFS") or "").split())
  ids = _ids(root)
  assert len(ids) == len(set(ids))


def test_detected_lines_without_regions_are_written_in_xy_cut_order():
  """What the page family's detector gives: lines in no order and no regions."""
  page = _two_column_page()
  shuffled = [dataclasses.replace(line, region="", order=0) for line in page.lines[::-1]]
  ordered = reading_order.with_reading_order(dataclasses.replace(
      page, lines=tuple(shuffled), regions=()))
  for writer in (page_writers.to_page_xml, page_writers.to_alto):
    read = pages.read_page(writer(ordered))
    assert [line.id for line in read.lines] == [line.id for line in page.lines]
    assert [line.region for line in read.lines] == [line.region for line in ordered.lines]


def test_invalid_and_duplicate_ids_are_replaced():
  page = _two_column_page()
  lines = list(page.lines)
  lines[1] = dataclasses.replace(lines[1], id="has space")
  lines[2] = dataclasses.replace(lines[2], id="l3")  # The id of lines[3] too.
  page = dataclasses.replace(page, lines=tuple(lines))
  for writer in (page_writers.to_page_xml, page_writers.to_alto):
    ids = [line.id for line in pages.read_page(writer(page)).lines]
    assert len(set(ids)) == len(ids) and "has space" not in ids and ids[2] == "l3"


@pytest.mark.parametrize("change, reason", [
    (lambda l: dataclasses.replace(l[1], region="right"),
     "reading order goes back into region 'left'"),
    (lambda l: dataclasses.replace(l[1], text="bell\x07"), "line l1: text holds U\\+0007"),
    (lambda l: dataclasses.replace(l[1], confidence=1.5), "line l1: confidence 1.5"),
    (lambda l: dataclasses.replace(l[1], type="a;b"), "line l1: type 'a;b'"),
])
def test_what_xml_cannot_hold_is_refused_naming_the_page(change, reason):
  page = _two_column_page()
  lines = list(page.lines)
  lines[1] = change(lines)
  page = dataclasses.replace(page, lines=tuple(lines))
  for writer in (page_writers.to_page_xml, page_writers.to_alto):
    with pytest.raises(InputError, match=f"scans/letter \\(1\\).jpg: {reason}"):
      writer(page)


def test_alto_refuses_words_that_do_not_spell_the_line():
  page = _two_column_page()
  lines = list(page.lines)
  lines[6] = dataclasses.replace(lines[6], text="two  words")
  with pytest.raises(InputError, match="line l6: its words joined by spaces"):
    page_writers.to_alto(dataclasses.replace(page, lines=tuple(lines)))


def test_serialise_by_format_name():
  page = _two_column_page()
  assert page_json.from_json(page_writers.serialise(page, "json")).lines[3].text == TEXTS[3]
  for name in ("page", "alto"):
    assert pages.read_page(page_writers.serialise(page, name)).lines[1].text == TEXTS[1]
  with pytest.raises(ValueError, match="unknown page format 'hocr'"):
    page_writers.serialise(page, "hocr")
