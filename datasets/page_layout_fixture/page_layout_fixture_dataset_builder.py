"""`page_layout` over its own test fixture (datasets/page_layout/fixture.py): four small
pages of ALTO and PAGE-XML lines, written into the builder's download dir and read as
`page_layout` reads a manual dir, so that `runlocal` page configs (configs/page_detect.py)
and their tests train on real records with no download. Not for measuring anything.
"""

from __future__ import annotations

import types

from etils import epath

from htr_datasets.page_layout import fixture
from htr_datasets.page_layout.page_layout_dataset_builder import Builder as PageLayout


class Builder(PageLayout):
  """page_layout's fixture pages (configs `all` and `handwritten`, as page_layout's)."""

  VERSION = PageLayout.VERSION
  RELEASE_NOTES = {"1.0.0": "page_layout's test fixture, written at build time."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = None

  def _split_generators(self, dl_manager):
    pages = epath.Path(dl_manager.download_dir) / "page_layout_fixture"
    pages.mkdir(parents=True, exist_ok=True)
    fixture.write_fixture(pages)
    return super()._split_generators(types.SimpleNamespace(manual_dir=pages))
