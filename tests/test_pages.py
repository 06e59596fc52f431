"""ALTO and PAGE-XML readers on generated files with every quirk of
shared/formats/PAGES.md: namespaces by URI, tag labels, reading order, clipping, rings."""

import numpy as np
import pytest

from htr.errors import InputError
from htr.image import pages

ALTO = "http://www.loc.gov/standards/alto/ns-v{v}#"
PAGE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/{v}"


def _alto(lines: str, version: int = 4, unit: str = "pixel", prefix: str = "") -> bytes:
  p = f"{prefix}:" if prefix else ""
  xmlns = f'xmlns{":" + prefix if prefix else ""}="{ALTO.format(v=version)}"'
  return (f'<?xml version="1.0" encoding="UTF-8"?><{p}alto {xmlns}>'
          f"<{p}Description><{p}MeasurementUnit>{unit}</{p}MeasurementUnit>"
          f"<{p}sourceImageInformation><{p}fileName>scan 1 (2).jpg</{p}fileName>"
          f"</{p}sourceImageInformation></{p}Description>"
          f'<{p}Tags><{p}OtherTag ID="LT9" LABEL="DefaultLine:Handwritten"/>'
          f'<{p}OtherTag ID="LT3" LABEL="DefaultLine:Print"/></{p}Tags>'
          f'<{p}Layout><{p}Page WIDTH="1000" HEIGHT="800"><{p}PrintSpace>'
          f'<{p}TextBlock ID="b1" HPOS="146.0" VPOS="10">{lines.replace("<", "<" + p).replace("<" + p + "/", "</" + p)}'
          f"</{p}TextBlock></{p}PrintSpace></{p}Page></{p}Layout></{p}alto>").encode()


def _page(body: str, version: str = "2013-07-15", order: str = "") -> bytes:
  return (f'<PcGts xmlns="{PAGE.format(v=version)}"><Metadata><Creator>t</Creator></Metadata>'
          f'<Page imageFilename="img.jpg" imageWidth="600" imageHeight="400">{order}{body}'
          "</Page></PcGts>").encode()


def test_alto_lines_polygons_baselines_types_and_clipping():
  xml = _alto('<TextLine ID="l1" TAGREFS="LT9" BASELINE="10 50 300 55">'
              '<Shape><Polygon POINTS="10 20 300 20 300 -1 10 60 10 20"/></Shape>'
              '<String CONTENT="Dear  Sir," WC="0.5"/></TextLine>'
              '<TextLine ID="l2" TAGREFS="LT3" BASELINE="5 90 990 95">'
              '<Shape><Polygon POINTS="5 70 1200 70 1200 810 5 100"/></Shape>'
              '<String CONTENT="Printed"/></TextLine>'
              '<TextLine ID="l3" HPOS="100.5" VPOS="200" WIDTH="50" HEIGHT="20">'
              '<String CONTENT=""/></TextLine>')
  page = pages.read_page(xml, name="letters/a.xml")
  assert page.format == "alto" and (page.width, page.height) == (1000, 800)
  assert page.ordered  # ALTO's reading order is its document order.
  assert page.image == "letters/scan 1 (2).jpg"
  first, second, third = page.lines
  assert [l.order for l in page.lines] == [0, 1, 2] and first.region == "b1"
  assert first.text == "Dear  Sir," and first.type == "handwritten" and first.confidence == 0.5
  np.testing.assert_array_equal(first.polygon, [[10, 20], [300, 20], [300, 0], [10, 60]])
  np.testing.assert_array_equal(first.baseline, [[10, 50], [300, 55]])
  assert second.type == "printed" and second.polygon.max(0).tolist() == [999, 799]
  assert third.text == "" and third.type == "" and third.box == (100.5, 200, 150.5, 220)
  np.testing.assert_array_equal(third.baseline, [[100.5, 220], [150.5, 220]])


def test_alto_v2_with_a_prefix_and_a_baseline_offset():
  xml = _alto('<TextLine ID="l1" BASELINE="44" HPOS="10" VPOS="20" WIDTH="100" HEIGHT="30">'
              '<String CONTENT="old"/><String CONTENT="alto"/></TextLine>', version=2,
              prefix="a")
  (line,) = pages.read_page(xml).lines
  assert line.text == "old alto"
  np.testing.assert_array_equal(line.baseline, [[10, 44], [110, 44]])


def test_page_xml_reading_order_of_regions_and_lines():
  order = ('<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="1" regionRef="r1"/>'
           '<RegionRefIndexed index="0" regionRef="r2"/></OrderedGroup></ReadingOrder>')
  line = ('<TextLine id="{id}" custom="readingOrder {{index:{i};}} textStyle {{offset:0; '
          'length:2;underlined:true;}}"><Coords points="{x},10 {x2},10 {x2},40 {x},40"/>'
          '<Baseline points="{x},35 {x2},36"/><TextEquiv conf="0.9"><Unicode>{t}</Unicode>'
          "</TextEquiv></TextLine>")
  body = ('<TextRegion id="r1" custom="readingOrder {index:1;}"><Coords points="0,0 5,0 5,5"/>'
          + line.format(id="r1l2", i=1, x=10, x2=100, t="second of r1")
          + line.format(id="r1l1", i=0, x=10, x2=100, t="first of r1")
          + "<TextEquiv><Unicode>joined&#13;\ncopy</Unicode></TextEquiv></TextRegion>"
          '<TextRegion id="r2" type="marginalia"><Coords points="0,0 5,0 5,5"/>'
          + line.format(id="l_4", i=0, x=300, x2=700, t="Cafe\u0301&#13;") + "</TextRegion>")
  page = pages.read_page(_page(body, order=order), name="p/page.xml")
  assert page.format == "page" and page.image == "p/img.jpg" and page.ordered
  assert [l.text for l in page.lines] == ["Caf\u00e9", "first of r1", "second of r1"]
  assert [l.order for l in page.lines] == [0, 1, 2]
  assert page.lines[0].type == "marginalia" and page.lines[0].confidence == 0.9
  assert page.lines[0].polygon[:, 0].max() == 599  # Clipped to the 600-pixel page.


@pytest.mark.parametrize("version", ["2010-03-19", "2019-07-15"])
def test_other_page_versions_and_empty_unicode(version):
  body = ('<TextRegion id="r"><TextLine id="l"><Coords points="1,1 9,1 9,9 1,9"/>'
          "<TextEquiv><Unicode/></TextEquiv></TextLine></TextRegion>")
  page = pages.read_page(_page(body, version=version))
  (line,) = page.lines
  assert line.text == "" and line.baseline.shape == (2, 2)
  assert not page.ordered  # Neither ReadingOrder nor a line's readingOrder: no order.


@pytest.mark.parametrize("xml, reason", [
    (b"<alto><Layout><Page", "malformed XML"),
    (b'<html xmlns="http://www.w3.org/1999/xhtml"/>', "not ALTO or PAGE-XML"),
    (_alto("", unit="mm10"), "only pixel coordinates"),
    (_alto('<TextLine ID="x"><String CONTENT="a"/></TextLine>'), "TextLine x: a TextLine "
     "without a Polygon or a box"),
    (_alto('<TextLine ID="y"><Shape><Polygon POINTS="1 2 3"/></Shape></TextLine>'),
     "3 coordinates"),
    (_page('<TextRegion id="r"><TextLine id="z"><Coords points="1,a 2,2"/></TextLine>'
           "</TextRegion>"), "'a', not a number"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><alto>&a;</alto>', "unsafe XML"),
])
def test_bad_files_are_input_errors_naming_the_file(xml, reason):
  with pytest.raises(InputError, match=f"bad.xml.*{reason}"):
    pages.read_page(xml, name="bad.xml")


def test_words_and_regions_are_read_from_both_formats():
  alto = _alto('<TextLine ID="l1" HPOS="10" VPOS="20" WIDTH="200" HEIGHT="30">'
               '<String CONTENT="Dear" WC="0.75" HPOS="10" VPOS="20" WIDTH="60" HEIGHT="30"/>'
               '<SP/><String CONTENT="Sir," WC="0.25"/></TextLine>'
               '<TextLine ID="l2" HPOS="10" VPOS="60" WIDTH="200" HEIGHT="30">'
               '<String CONTENT="one string, no words"/></TextLine>')
  page = pages.read_page(alto)
  first, second = page.lines
  assert [(w.text, w.confidence, w.box) for w in first.words] == [
      ("Dear", 0.75, (10, 20, 70, 50)), ("Sir,", 0.25, None)]
  assert first.text == "Dear Sir," and first.confidence == 0.5 and second.words == ()
  (block,) = page.regions
  assert block.id == "b1" and block.polygon is None  # A box without WIDTH is no box.
  body = ('<TextRegion id="r1" type="marginalia"><Coords points="0,0 50,0 50,50 0,50"/>'
          '<TextLine id="l"><Coords points="1,1 40,1 40,9 1,9"/>'
          '<Word id="w1"><Coords points="1,1 9,1 9,9 1,9"/><TextEquiv conf="0.5">'
          "<Unicode>a&amp;b</Unicode></TextEquiv></Word>"
          '<TextEquiv conf="0.25"><Unicode>a&amp;b</Unicode></TextEquiv></TextLine>'
          "</TextRegion>")
  page = pages.read_page(_page(body))
  (line,) = page.lines
  assert line.words == (pages.Word("a&b", 0.5, (1, 1, 9, 9)),) and line.confidence == 0.25
  (region,) = page.regions
  assert region.type == "marginalia" and region.polygon.tolist()[2] == [50, 50]
