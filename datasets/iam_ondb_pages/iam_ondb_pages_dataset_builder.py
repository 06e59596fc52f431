"""IAM-OnDB forms as page images: each form's lines drawn where they were written on the
whiteboard, with every line's outline, baseline, reading order and text.

IAM-OnDB's line files keep their strokes at their place on the whiteboard (whiteboard
units; `iam_ondb` keeps them too), so a form's lines drawn together are the page as
written: real handwriting in a real layout, with drifting and crowded lines. Each form is
drawn by `htr.ink.page_render.render_page` (0.2 pixels per whiteboard unit: pages about
1,300 pixels wide, lines about 70 high; grayscale PNG, dark ink on white) and stored as a
page record (`htr.image.page_records`), like `page_layout`'s real pages. A line's polygon
is its ink's envelope, its baseline a robust straight fit through its strokes' lowest
points, its order its number in the form, its type "handwritten" and its region the
form; its text is its `CSR:` line, paired as `iam_ondb` pairs it.

Splits are the task IAM-OnDB-t1 lists, as in `iam_ondb`. Forms that `iam_ondb` cannot pair
are left out and reported in `info.metadata` the same way (`mismatched_forms`,
`missing_forms`, `missing_task_files`); a form with a line file that cannot be read (a
page without one of its lines is not the page as written), or whose lines lie too far
apart to draw (bad coordinates), is left out too: `unreadable_lines` names the file,
`unreadable_forms` the form and why. A split none of whose forms can be drawn is not
generated (logged).
"""

from __future__ import annotations

import collections
import io

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr.errors import InputError
from htr.image import page_records
from htr.ink import iam_ondb, page_render
from htr_datasets.iam_ondb import iam_ondb_dataset_builder as iam_ondb_builder


def _stem(name: str) -> str:
  return name.rpartition("/")[2].rpartition(".")[0]


def _png(pixels) -> bytes:
  from PIL import Image
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="PNG")
  return buffer.getvalue()


class Builder(tfds.core.GeneratorBasedBuilder):
  """IAM-OnDB forms drawn as pages, with line polygons, baselines, order and text."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Forms of the IAM-OnDB-t1 task splits as pages."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = iam_ondb_builder.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=page_records.page_features(),
        homepage="https://fki.tic.heia-fr.ch/databases/iam-on-line-handwriting-database",
        citation=iam_ondb_builder._CITATION,
        metadata=tfds.core.MetadataDict(mismatched_forms={}, missing_forms={},
                                        unreadable_lines={}, missing_task_files=[],
                                        unreadable_forms={}),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    report = self.info.metadata
    strokes, splits = iam_ondb_builder.read_splits(epath.Path(dl_manager.manual_dir), report)
    # Every line is read first (one pass over the archive for all splits), so that forms
    # that cannot be drawn are known before a split is written: TFDS cannot write an
    # empty one. The inks of all forms fit in memory (~50 MB for 7,000 lines).
    wanted = {name: form_text for lines in splits.values() for name, form_text in lines.items()}
    inks, left_out = {}, report["unreadable_forms"]
    for name, where, data in strokes.read(wanted.__contains__):
      try:
        inks[name] = iam_ondb.read_line_strokes(data, name=where)
      except InputError as e:
        report["unreadable_lines"][_stem(name)] = e.reason
        left_out[wanted[name][0]] = f"line {_stem(name)} cannot be read"
    generators = {}
    for split, lines in splits.items():
      forms = collections.defaultdict(list)  # form -> [(line number, file name)]
      for name, (form, _) in lines.items():
        forms[form].append((int(_stem(name).rpartition("-")[2]), name))
      pages = {}
      for form, numbered in sorted(forms.items()):
        names = [name for _, name in sorted(numbered)]
        if form in left_out:
          continue
        if missing := [_stem(name) for name in names if name not in inks]:
          left_out[form] = f"line files not found: {', '.join(missing)}"
          continue
        try:
          page_render.page_placement([inks[name] for name in names])
        except InputError as e:
          left_out[form] = e.reason
          continue
        pages[form] = names
      if pages:
        generators[split] = self._generate_examples(pages, inks, lines)
      else:
        logging.warning("iam_ondb_pages: no form of %s can be drawn: the split is left out",
                        split)
    for form, why in sorted(left_out.items()):
      logging.warning("iam_ondb_pages: form %s left out: %s", form, why)
    return generators

  def _generate_examples(self, pages: dict[str, list[str]], inks: dict, lines: dict):
    for form, names in pages.items():
      pixels, page = page_render.render_page(
          [inks[name] for name in names], ids=[_stem(name) for name in names],
          texts=[lines[name][1] for name in names], region=form)
      yield form, page_records.page_to_record(page, _png(pixels), form)
