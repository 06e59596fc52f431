"""Page layout ground truth: page images with their text lines, for line detection and
reading order, read from ALTO or PAGE-XML files in a manual dir.

One example per page (`htr.image.page_records`): the image file's bytes as stored, its
size, and per line (in reading order) its polygon, baseline, box, type, region, order and
text. Lines without text are kept: they are lines all the same, and a detector must not
learn them as background (`info.metadata["lines_without_text"]` counts them per page).

The pages are split exactly as `page_lines` splits them (`page_lines.split_pages`:
identical images in one split, every 8th group to `validation` and to `test`), so a line
detector trained here and a recogniser trained there never see each other's test pages.
Pages are checked before anything is written (`split_pages`): an image that cannot be
decoded, is over `max_pixels` or is not the size its XML states is left out and named in
`info.metadata["unreadable_images"]`, with unreadable XML files (`unreadable_pages`),
XML files whose image is missing (`pages_without_image`) and pages none of whose lines
the config keeps (`pages_without_lines`).

Configs: `all` (every line) and `handwritten` (handwritten and untyped lines, as
`page_lines/handwritten` keeps them; the page's other lines are then unmarked, so a
detector learns to find handwriting only).
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr import inputs
from htr.image import page_records
from htr_datasets.page_lines.page_lines_dataset_builder import split_pages


@dataclasses.dataclass(eq=False)
class PageLayoutConfig(tfds.core.BuilderConfig):
  """Attributes:
    types: line types kept (empty: all).
    max_pixels: larger images are left out (and reported) before they are decoded.
  """

  types: tuple[str, ...] = ()
  max_pixels: int = inputs.MAX_IMAGE_PIXELS


class Builder(tfds.core.GeneratorBasedBuilder):
  """Page images with their lines' polygons, baselines, types, order and text."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Put page images (JPEG, PNG, TIFF) and their ground truth (ALTO v2-v4 or PAGE-XML
  2010-2019, as eScriptorium, kraken and Transkribus export it) in one folder, in any
  subfolders: the same folder as page_lines reads. Each XML names its image; it is looked
  up next to the XML."""
  BUILDER_CONFIGS = [
      PageLayoutConfig(name="all", description="Every line."),
      PageLayoutConfig(name="handwritten", types=("handwritten", ""),
                       description="Handwritten lines, and untyped ones."),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=page_records.page_features(),
                                          metadata=tfds.core.MetadataDict())

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = epath.Path(dl_manager.manual_dir)
    assigned, report = split_pages(manual_dir, max_pixels=self.builder_config.max_pixels,
                                   log_name="page_layout")
    report.update(pages_without_lines={}, lines_without_text={})
    kept = {}
    for split, entries in assigned.items():
      kept[split] = [entry for entry in entries if self._usable(*entry, manual_dir, report)]
    for name, why in report["pages_without_lines"].items():
      logging.warning("page_layout: pages_without_lines: %s (%s)", name, why)
    self.info.metadata.update(dict(report))
    # TFDS cannot write an empty split; `metadata["pages"]` still lists the split's pages.
    return {split: self._generate_examples(entries, manual_dir)
            for split, entries in kept.items() if entries}

  def _lines(self, page) -> tuple:
    types = self.builder_config.types
    return tuple(line for line in page.lines if not types or line.type in types)

  def _usable(self, xml: epath.Path, page, manual_dir: epath.Path, report) -> bool:
    """Whether the page has lines to keep; reports why not, and its untranscribed lines."""
    name = str(xml.relative_to(manual_dir))
    lines = self._lines(page)
    if not lines:
      types = " or ".join(repr(kind) for kind in self.builder_config.types)
      report["pages_without_lines"][name] = (
          f"none of its {len(page.lines)} lines is {types}" if page.lines else "no lines")
      return False
    if untranscribed := sum(not line.text for line in lines):
      report["lines_without_text"][name] = untranscribed
    return True

  def _generate_examples(self, entries, manual_dir: epath.Path):
    for xml, page in entries:
      name = str(xml.relative_to(manual_dir))
      page = dataclasses.replace(page, lines=self._lines(page))
      yield name, page_records.page_to_record(page, epath.Path(page.image).read_bytes(), name)
