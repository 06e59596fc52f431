"""synthetic_pages: letters, notes, forms, two-column pages and annotated pages, written
by synthetic writers, printed and typed, photographed or scanned; the page family's
offline default (`configs/page_detect.py`, `data=synthetic`). See README.md.

Each example is a page record (`htr.image.page_records`), exactly as `page_layout` and
`iam_ondb_pages` store theirs, so the detector's pipeline reads all three alike. The pages
are made by `htr.image.page_layouts` (where lines go, in reading order),
`htr.image.synthetic_pages` (writing, printing) and `htr.image.page_effects` (paper,
camera); this builder only chooses, per page, its kind, template, writers and seed.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from htr.image import page_layouts, page_records, synthetic_pages
from htr.image.page_model import Page
from htr.ink import synthetic

SPLITS = ("train", "validation", "test")
# Seeds of the independent streams: writers (by writer id), page plans and pages.
_WRITER_STREAM = 2026_12_07
_PLAN_STREAM = 4
_PAGE_STREAM = 3


@dataclasses.dataclass(eq=False)
class SyntheticPagesConfig(tfds.core.BuilderConfig):
  """One variant.

  Attributes:
    pages: pages per split (train, validation, test); page i is of kind
      `page_layouts.KINDS[i % 5]`, so every split has every kind.
    writers: writers per split; each split has its own (`synthetic.split_writers`).
    width: the range of page widths in pixels (heights follow the templates' aspects,
      1.25-1.41 times the width); sizes and line heights scale with it.
    seed: the page stream of this variant.
  """

  pages: tuple[int, int, int] = (0, 0, 0)
  writers: tuple[int, int, int] = (1, 1, 1)
  width: tuple[int, int] = (850, 1050)
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class PagePlan:
  """What page i of a split is made of (for the builder, and for tests to check splits).

  Attributes:
    kind: one of `page_layouts.KINDS`.
    template: the layout template's id (`page_layouts.split_templates`).
    writers: the writer ids of its author and annotator.
    width: the page width in pixels.
    quality: the JPEG quality it is stored at.
  """

  kind: str
  template: int
  writers: tuple[int, int]
  width: int
  quality: int


def _rng(stream: int, config: SyntheticPagesConfig, split: str, i: int
         ) -> np.random.Generator:
  return np.random.default_rng([stream, config.seed, SPLITS.index(split), i])


def page_plan(config: SyntheticPagesConfig, split: str, i: int) -> PagePlan:
  """The plan of page `i` of `split`: a function of (config, split, i) only."""
  index = SPLITS.index(split)
  rng = _rng(_PLAN_STREAM, config, split, i)
  first = sum(config.writers[:index])
  author, annotator = rng.choice(config.writers[index], size=2,
                                 replace=config.writers[index] < 2)
  return PagePlan(
      kind=page_layouts.KINDS[i % len(page_layouts.KINDS)],
      template=int(rng.choice(page_layouts.split_templates(index))),
      writers=(first + int(author), first + int(annotator)),
      width=int(rng.integers(config.width[0], config.width[1] + 1)),
      quality=int(rng.integers(60, 93)))


def make_page(config: SyntheticPagesConfig, split: str, i: int
              ) -> tuple[str, np.ndarray, Page]:
  """(id, uint8 RGB picture, Page) of page `i` of `split`."""
  plan = page_plan(config, split, i)
  rng = _rng(_PAGE_STREAM, config, split, i)
  writers = [synthetic.sample_writer(np.random.default_rng([_WRITER_STREAM, w]))
             for w in plan.writers]
  layout = page_layouts.sample_layout(plan.kind, plan.template, plan.width, rng)
  key = f"{split}-{i:05d}"
  pixels, page = synthetic_pages.draw_page(layout, writers, rng, page_id=key)
  return key, pixels, page


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
  return buffer.getvalue()


class Builder(tfds.core.GeneratorBasedBuilder):
  """Synthetic page images with their lines' polygons, baselines, types, order and text."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      SyntheticPagesConfig(name="small", description="Default: 400 pages, builds in about "
                           "two minutes on one core.", pages=(320, 40, 40),
                           writers=(200, 20, 20), seed=1),
      SyntheticPagesConfig(name="tiny", description="For tests: 20 small pages, builds in "
                           "seconds.", pages=(10, 5, 5), writers=(8, 4, 4), width=(480, 560),
                           seed=2),
      SyntheticPagesConfig(name="base", description="4,600 pages.", pages=(4_000, 200, 400),
                           writers=(1_000, 50, 100), seed=3),
  ]
  DEFAULT_CONFIG_NAME = "small"

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return self.dataset_info_from_configs(
        features=page_records.page_features(),
        metadata=tfds.core.MetadataDict(
            templates={split: list(page_layouts.split_templates(k))
                       for k, split in enumerate(SPLITS)},
            writers={split: [sum(config.writers[:k]), config.writers[k]]
                     for k, split in enumerate(SPLITS)}))

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split: str):
    config = self.builder_config
    for i in range(config.pages[SPLITS.index(split)]):
      key, pixels, page = make_page(config, split, i)
      yield key, page_records.page_to_record(
          page, _jpeg(pixels, page_plan(config, split, i).quality), key)
