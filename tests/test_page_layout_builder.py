"""The page_layout TFDS builder on a generated manual dir of ALTO and PAGE-XML pages."""

import numpy as np
import pytest

from htr import inputs
from htr.errors import InputError
from htr.image import page_records, pages
from htr.ink import records
from htr_datasets import page_lines
from htr_datasets.page_layout import Builder, fixture


@pytest.mark.parametrize("config", ["all", "handwritten"])
def test_pages_parse_with_their_lines_inside(tmp_path, build_dataset, config):
  manual = tmp_path / "manual"
  expected = fixture.write_fixture(manual)
  builder, sources = build_dataset(Builder, tmp_path / "data", manual_dir=manual,
                                   config=config)
  rows = [row for source in sources.values() for row in source]
  assert len(rows) == expected[f"pages_{config}"]
  assert sum(len(row["line_id"]) for row in rows) == expected[f"lines_{config}"]
  for row in rows:
    name = records.as_text(row["id"])
    image = inputs.decode_image(row["image_bytes"], name, formats=None)
    width, height = int(row["width"]), int(row["height"])
    assert image.shape[:2] == (height, width)
    assert (manual / name).read_bytes()  # Named by its XML, relative to the manual dir.
    for key in ("polygons", "baselines"):
      points = row[key]
      assert (points >= 0).all() and (points <= [width - 1, height - 1]).all()
      assert row[f"{key[:-1]}_lengths"].sum() == len(points)
    np.testing.assert_array_equal(row["line_order"], np.arange(len(row["line_id"])))
    # Read back, the page is the XML's, less the lines the config leaves out.
    page = page_records.record_to_page(row)
    source = pages.read_page(str(manual / name))
    kept = [line for line in source.lines
            if config == "all" or line.type in ("handwritten", "")]
    assert [line.id for line in page.lines] == [line.id for line in kept]
    for got, want in zip(page.lines, kept):
      assert (got.text, got.type, got.region) == (want.text, want.type, want.region)
      np.testing.assert_array_equal(got.polygon, want.polygon)
      np.testing.assert_array_equal(got.baseline, want.baseline)
      assert got.box == want.box
  metadata = builder.info.metadata
  assert sorted(metadata["unreadable_images"]) == list(expected["unreadable_images"])
  assert "pixels, more than the limit" in metadata["unreadable_images"]["bad/huge.xml"]
  assert "small.png: the image is 200x150" in metadata["unreadable_images"]["bad/small.xml"]
  assert "cut.jpg" in metadata["unreadable_images"]["bad/cut.xml"]
  assert tuple(metadata["unreadable_pages"]) == expected["unreadable_pages"]
  assert tuple(metadata["pages_without_image"]) == expected["pages_without_image"]
  assert metadata["lines_without_text"] == expected["without_text"]
  without_lines = list(metadata["pages_without_lines"])
  assert without_lines == ([expected["printed_only"]] if config == "handwritten" else [])


def test_split_by_page_as_page_lines_splits(tmp_path, build_dataset):
  """The same pages in each split as page_lines (one function splits both), identical
  images together, and no page in two splits."""
  manual = tmp_path / "manual"
  expected = fixture.write_fixture(manual)
  layout, sources = build_dataset(Builder, tmp_path / "data", manual_dir=manual,
                                  config="all")
  lines = build_dataset(page_lines.Builder, tmp_path / "data", manual_dir=manual,
                        config="all")[0]
  assert layout.info.metadata["pages"] == lines.info.metadata["pages"]
  # page_lines leaves out the same broken images, instead of failing on them.
  assert lines.info.metadata["unreadable_images"] == layout.info.metadata["unreadable_images"]
  split_of = {}
  for split, source in sources.items():
    for row in source:
      name = records.as_text(row["id"])
      assert name not in split_of and name in layout.info.metadata["pages"][split]
      split_of[name] = split
  first, second = expected["duplicates"]
  assert split_of[first] == split_of[second]
  assert len(set(split_of.values())) >= 2


def test_no_page_files_is_an_input_error(tmp_path, build_dataset):
  (tmp_path / "manual").mkdir()
  (tmp_path / "manual" / "scan.jpg").write_bytes(b"an image without its XML")
  with pytest.raises(InputError, match="no ALTO or PAGE-XML"):
    build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual", config="all")
