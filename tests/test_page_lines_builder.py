"""The page_lines TFDS builder on a generated manual dir of ALTO and PAGE-XML pages."""

import numpy as np
import pytest

from htr.errors import InputError
from htr_datasets.page_lines import Builder, fixture


@pytest.mark.parametrize("config, key", [("all", "lines_all"),
                                         ("handwritten", "lines_handwritten")])
def test_lines_are_cut_typed_and_split_by_page(tmp_path, build_dataset, config, key):
  expected = fixture.write_fixture(tmp_path / "manual")
  builder, sources = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual",
                                   config=config)
  records = {split: list(source) for split, source in sources.items()}
  assert sum(len(r) for r in records.values()) == expected[key]
  split_of_page = {}
  for split, rows in records.items():
    for row in rows:
      image, page = row["image"], row["page"].decode() if isinstance(row["page"], bytes) \
          else row["page"]
      assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] >= 30
      assert row["text"] and (config == "all" or row["line_type"] in (b"handwritten", b""))
      split_of_page.setdefault(page, set()).add(split)
  assert all(len(s) == 1 for s in split_of_page.values())  # Pages are never split.
  metadata = builder.info.metadata
  pages_by_split = {p: s for s, ps in metadata["pages"].items() for p in ps}
  first, second = expected["duplicates"]
  assert pages_by_split[first] == pages_by_split[second]  # One image, one split.
  assert expected["unreadable"] in metadata["unreadable_pages"]
  assert expected["orphan"] in metadata["pages_without_image"]
  if config == "all":
    assert list(metadata["lines_without_text"]) == [expected["without_text"]]


def test_a_straightened_line_is_horizontal(tmp_path, build_dataset):
  """The ALTO fixture's second line (ink and baseline) slopes 10 pixels over 360: cut and
  straightened, its ink band is level (same height at both ends)."""
  fixture.write_fixture(tmp_path / "manual")
  _, sources = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual",
                             config="handwritten")
  (row,) = [r for s in sources.values() for r in s if r["line_type"] == b"handwritten"]
  ink = row["image"].mean(axis=2) < 120
  rows_left = np.flatnonzero(ink[:, : ink.shape[1] // 4].any(axis=1))
  rows_right = np.flatnonzero(ink[:, -ink.shape[1] // 4:].any(axis=1))
  assert abs(np.median(rows_left) - np.median(rows_right)) <= 3


def test_no_page_files_is_an_input_error(tmp_path, build_dataset):
  (tmp_path / "manual").mkdir()
  (tmp_path / "manual" / "scan.jpg").write_bytes(b"an image without its XML")
  with pytest.raises(InputError, match="no ALTO or PAGE-XML"):
    build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual", config="all")
