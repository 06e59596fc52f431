"""A tiny manual dir of pages for tests: ALTO and PAGE-XML files with their images, one
image under two names (two transcriptions), a broken XML and one naming no image."""

from __future__ import annotations

import pathlib
import shutil

import numpy as np
from PIL import Image, ImageDraw

ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
<Description><MeasurementUnit>pixel</MeasurementUnit>
<sourceImageInformation><fileName>{image}</fileName></sourceImageInformation></Description>
<Tags><OtherTag ID="LT1" LABEL="DefaultLine:Handwritten"/>
<OtherTag ID="LT2" LABEL="DefaultLine:Print"/></Tags>
<Layout><Page WIDTH="400" HEIGHT="300"><PrintSpace><TextBlock ID="b">
<TextLine ID="l1" TAGREFS="LT2" BASELINE="20 60 380 60"><Shape>
<Polygon POINTS="20 30 380 30 380 70 20 70"/></Shape><String CONTENT="LETTERHEAD"/></TextLine>
<TextLine ID="l2" TAGREFS="LT1" BASELINE="20 140 380 150"><Shape>
<Polygon POINTS="20 100 380 110 380 160 20 150"/></Shape><String CONTENT="Dear friend,"/></TextLine>
<TextLine ID="l3" TAGREFS="LT1" BASELINE="20 240 300 240"><Shape>
<Polygon POINTS="20 200 300 200 300 250 20 250"/></Shape><String CONTENT=""/></TextLine>
</TextBlock></PrintSpace></Page></Layout></alto>"""

PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15">
<Page imageFilename="{image}" imageWidth="400" imageHeight="300">
<TextRegion id="r1"><Coords points="0,0 399,0 399,299 0,299"/>
<TextLine id="r1l1" custom="readingOrder {{index:1;}}"><Coords points="20,100 380,100 380,160 20,160"/>
<Baseline points="20,150 380,150"/><TextEquiv><Unicode>{second}</Unicode></TextEquiv></TextLine>
<TextLine id="r1l2" custom="readingOrder {{index:0;}}"><Coords points="20,30 380,30 380,70 20,70"/>
<Baseline points="20,60 380,60"/><TextEquiv><Unicode>{first}</Unicode></TextEquiv></TextLine>
</TextRegion></Page></PcGts>"""


def page_image(seed: int) -> Image.Image:
  """A 400x300 paper-coloured page with wavy "writing" along the three ALTO lines."""
  rng = np.random.default_rng(seed)
  image = Image.new("RGB", (400, 300), (235, 230, 215))
  draw = ImageDraw.Draw(image)
  # Wavy "writing" along each line; the second slopes down 10 pixels, as its baseline.
  for top, slope in ((35, 0.0), (105, 10 / 360), (205, 0.0)):
    phase = rng.uniform(0, 6)
    points = [(x, top + 20 + slope * (x - 20) + 12 * np.sin(x / 9 + phase))
              for x in range(25, 370, 4)]
    draw.line(points, fill=(30, 30, 60), width=3)
  return image


def write_fixture(root) -> dict:
  """Writes the manual dir; returns what the builder should make of it."""
  root = pathlib.Path(root)
  root.mkdir(parents=True, exist_ok=True)
  page_image(0).save(root / "alto_page.png")
  (root / "alto_page.xml").write_text(ALTO.format(image="alto_page.png"), encoding="utf-8")
  sub = root / "letters"
  sub.mkdir(exist_ok=True)
  page_image(1).save(sub / "page_page.jpg")
  (sub / "page_page.xml").write_text(
      PAGE.format(image="page_page.jpg", first="Sir", second="I write"), encoding="utf-8")
  shutil.copy(root / "alto_page.png", root / "same image (1).png")  # One image, 2 names.
  (root / "same image.xml").write_text(
      PAGE.format(image="same image (1).png", first="LETTERHEAD", second="Dear friend"),
      encoding="utf-8")
  (root / "broken.xml").write_text("<alto><Layout>", encoding="utf-8")
  (root / "orphan.xml").write_text(PAGE.format(image="nowhere.jpg", first="a", second="b"),
                                   encoding="utf-8")
  # PAGE lines are untyped, and "handwritten" keeps those.
  return {"lines_all": 6, "lines_handwritten": 5,
          "duplicates": ("alto_page.xml", "same image.xml"),
          "unreadable": "broken.xml", "orphan": "orphan.xml",
          "without_text": "alto_page.xml#l3"}
