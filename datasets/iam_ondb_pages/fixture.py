"""IAM-OnDB's test corpus (`iam_ondb/fixture.py`: the download's exact layout and
quirks) with each form's lines where a form's lines are: one under the other on the
whiteboard, each a little indented, in one synthetic writer's hand."""

from __future__ import annotations

import os

import numpy as np

from htr.ink import synthetic
from htr.ink.ink import Ink
from htr_datasets.iam_ondb import fixture as iam_ondb_fixture

LEFT, TOP, GAP = 900.0, 1000.0, 120.0  # Whiteboard units: the first line, between lines.


def write_fixture(directory: str | os.PathLike, *, archives: bool = True,
                  seed: int = 0) -> dict:
  """Writes the corpus into `directory` (the manual_dir).

  Returns:
    iam_ondb's expectations (`labels`, `inks` by line id, `mismatched_forms`) and
    `pages` {split: {form: its number of lines}} of the forms that become pages.
  """
  writer = synthetic.sample_writer(np.random.default_rng(seed))
  bottom = [TOP]

  def line_ink(rng: np.random.Generator, k: int) -> Ink:
    ink = synthetic.write_line(synthetic.sample_line(rng, max_words=4), writer, rng)
    xy = ink.points[:, :2] - ink.points[:, :2].min(0)
    if k == 1:
      bottom[0] = TOP - GAP
    xy = np.round(xy + [LEFT + rng.uniform(0, 200), bottom[0] + GAP])
    bottom[0] = float(xy[:, 1].max())
    return Ink(np.column_stack([xy, ink.points[:, 2]]), ink.stroke_lengths)

  expected = iam_ondb_fixture.write_fixture(directory, archives=archives, seed=seed,
                                            line_ink=line_ink)
  expected["pages"] = {}
  for form, split, n_files, n_csr, _ in iam_ondb_fixture.FORMS:
    if split and n_files and n_files == n_csr:
      expected["pages"].setdefault(split, {})[form] = n_files
  return expected
