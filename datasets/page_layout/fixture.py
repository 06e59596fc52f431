"""A tiny manual dir of pages for tests: page_lines' fixture (ALTO and PAGE-XML pages,
one image under two names, a broken XML, one naming no image) and the images a layout
builder must refuse: one over the pixel limit, a truncated JPEG, one of another size
than its XML states; and a page with only a printed line."""

from __future__ import annotations

import pathlib

from PIL import Image

from htr_datasets.page_lines import fixture as page_lines_fixture

HUGE = (7100, 7100)  # Over htr.inputs.MAX_IMAGE_PIXELS; a 1-bit PNG of it is a few kB.

_PRINTED = page_lines_fixture.ALTO.split("<TextLine")[0] + (
    '<TextLine ID="p1" TAGREFS="LT2" BASELINE="20 60 380 60"><Shape><Polygon '
    'POINTS="20 30 380 30 380 70 20 70"/></Shape><String CONTENT="PRINTED"/></TextLine>'
    "</TextBlock></PrintSpace></Page></Layout></alto>")


def _page_xml(image: str, width: int, height: int) -> str:
  return (page_lines_fixture.PAGE.format(image=image, first="a", second="b")
          .replace('imageWidth="400" imageHeight="300"',
                   f'imageWidth="{width}" imageHeight="{height}"'))


def write_fixture(root) -> dict:
  """Writes the manual dir; returns what the builder should make of it."""
  root = pathlib.Path(root)
  page_lines_fixture.write_fixture(root)
  bad = root / "bad"
  bad.mkdir(exist_ok=True)
  Image.new("1", HUGE).save(bad / "huge.png")
  (bad / "huge.xml").write_text(_page_xml("huge.png", *HUGE), encoding="utf-8")
  page_lines_fixture.page_image(2).save(bad / "cut.jpg")
  data = (bad / "cut.jpg").read_bytes()
  (bad / "cut.jpg").write_bytes(data[: len(data) // 2])  # A download broken off.
  (bad / "cut.xml").write_text(_page_xml("cut.jpg", 400, 300), encoding="utf-8")
  page_lines_fixture.page_image(3).resize((200, 150)).save(bad / "small.png")
  (bad / "small.xml").write_text(_page_xml("small.png", 400, 300), encoding="utf-8")
  page_lines_fixture.page_image(4).save(root / "letterhead.png")
  (root / "letterhead.xml").write_text(_PRINTED.format(image="letterhead.png"),
                                       encoding="utf-8")
  # PAGE lines are untyped, and "handwritten" keeps those. alto_page.xml's l3 has no text.
  return {"pages_all": 4, "lines_all": 8, "pages_handwritten": 3, "lines_handwritten": 6,
          "duplicates": ("alto_page.xml", "same image.xml"),
          "unreadable_images": ("bad/cut.xml", "bad/huge.xml", "bad/small.xml"),
          "unreadable_pages": ("broken.xml",), "pages_without_image": ("orphan.xml",),
          "printed_only": "letterhead.xml", "without_text": {"alto_page.xml": 1}}
