"""CROHME (Competition on Recognition of Online Handwritten Mathematical Expressions).

One example per InkML file: its traces and its LaTeX truth annotation. Splits come from
the competition packages found in the manual dir (folder or archive each):

  TrainINKML         -> train       CROHME 2014 training set (8,836 expressions)
  TestINKMLGT        -> validation  CROHME 2013 test set (671), the usual validation set
  TestEM2014GT       -> test        CROHME 2014 test set (986), if present
  TEST2016_INKML_GT  -> test_2016   CROHME 2016 test set (1,147), if present

Nothing is dropped silently: files that cannot be read or have no truth are logged and
listed with the reason in `info.metadata["unreadable_files"]`.
"""

from __future__ import annotations

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr.text import latex
from htr.errors import InputError
from htr.ink import archives, inkml, records

# Package (folder or archive name) -> split.
PARTS = {"TrainINKML": "train", "TestINKMLGT": "validation", "TestEM2014GT": "test",
         "TEST2016_INKML_GT": "test_2016"}

_CITATION = """\
@inproceedings{mouchere2014icfhr,
  title={ICFHR 2014 competition on recognition of on-line handwritten mathematical
         expressions (CROHME 2014)},
  author={Mouchere, Harold and Viard-Gaudin, Christian and Zanibbi, Richard and
          Garain, Utpal},
  booktitle={14th International Conference on Frontiers in Handwriting Recognition},
  pages={791--796},
  year={2014}
}"""


def packages(manual_dir: epath.Path) -> list[archives.Part]:
  """The CROHME packages present in the manual dir (folders or archives)."""
  parts = [archives.Part(manual_dir, name) for name in PARTS]
  if not any(p.exists for p in parts):
    raise InputError(f"none of {', '.join(PARTS)} (folder or archive) is there; see "
                     "the manual download instructions", path=manual_dir)
  return [p for p in parts if p.exists]


def clean_truth(truth: str) -> str:
  """The truth as written, without the `$` wrapping and outer blanks."""
  return truth.strip().strip("$").strip()


def read_expression(data: bytes, where: str) -> tuple[inkml.InkmlDocument, str]:
  """(document, LaTeX label) of one CROHME file; InputError naming `where` if unusable."""
  document = inkml.read_inkml(data, name=where)
  label = clean_truth(document.annotations.get("truth", ""))
  if not label:
    raise InputError("no LaTeX truth annotation", path=where)
  return document, label


def stroke_tokens(document: inkml.InkmlDocument) -> list[str]:
  """The normalised LaTeX token each stroke draws, from the symbol segmentation: <unk>
  for a stroke in no group, or whose group's truth is not one token."""
  tokens = [latex.SPECIALS[latex.UNK]] * document.ink.num_strokes
  for truth, strokes in document.symbols:
    symbol = latex.tokenize(latex.normalize(truth)) if truth else []
    for stroke in strokes:
      tokens[stroke] = symbol[0] if len(symbol) == 1 else latex.SPECIALS[latex.UNK]
  return tokens


class Builder(tfds.core.GeneratorBasedBuilder):
  """CROHME expressions: pen strokes and their LaTeX truth."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "CROHME 2014 training; 2013 test as validation.",
                   "1.1.0": "stroke_tokens: each stroke's symbol, from the trace groups."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Get the CROHME packages (https://www.cs.rit.edu/~crohme2019/ or TC-11,
https://tc11.cvc.uab.es/datasets/ICFHR-CROHME-2014_1) and put into one folder (the
manual_dir), extracted or not (.tar.gz, .tgz, .tar, .zip):
  TrainINKML         CROHME 2014 training set      -> split train
  TestINKMLGT        CROHME 2013 test set, with GT -> split validation
  TestEM2014GT       CROHME 2014 test set, with GT -> split test (optional)
  TEST2016_INKML_GT  CROHME 2016 test set, with GT -> split test_2016 (optional)
"""

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),  # File path in its package, without .inkml.
            "ink": records.ink_feature(),  # No time channel: t is synthetic, 100 Hz.
            "label": tfds.features.Text(),  # The truth, `$` removed, spacing kept.
            "normalized_label": tfds.features.Text(),  # latex.normalize(label).
            "writer": tfds.features.Text(),  # The `writer` annotation ("" if none).
            "source": tfds.features.Text(),  # Sub-corpus, e.g. MfrDB, KAIST ("" if none).
            # The normalised token of each stroke's symbol (its traceGroup's truth; a
            # fraction bar is `-`), space separated; <unk> for strokes in no group.
            "stroke_tokens": tfds.features.Text(),
        }),
        homepage="https://www.cs.rit.edu/~crohme2019/",
        citation=_CITATION,
        metadata=tfds.core.MetadataDict(unreadable_files={}),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    return {PARTS[p.name]: self._generate_examples(p)
            for p in packages(epath.Path(dl_manager.manual_dir))}

  def _generate_examples(self, part: archives.Part):
    unreadable = self.info.metadata["unreadable_files"]
    for name, where, data in part.read(lambda n: n.endswith(".inkml")):
      try:
        document, label = read_expression(data, where)
      except InputError as e:
        logging.warning("CROHME: %s left out: %s", name, e)
        unreadable[name] = e.reason
        continue
      key = name.removesuffix(".inkml")
      folders = name.split("/")
      yield key, {"id": key, "ink": records.ink_to_record(document.ink), "label": label,
                  "normalized_label": latex.normalize(label),
                  "writer": document.annotations.get("writer", ""),
                  "source": folders[1] if len(folders) > 2 else "",
                  "stroke_tokens": " ".join(stroke_tokens(document))}
