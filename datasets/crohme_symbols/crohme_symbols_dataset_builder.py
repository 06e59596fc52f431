"""Real handwritten isolated symbols: every symbol `traceGroup` of the CROHME packages.

CROHME segments each expression into symbols (`traceGroup`: a truth annotation and the
traces that draw it). One example per symbol: its strokes, its CROHME label (`x`,
`\\alpha`, `\\lt`, ...), the character of htr's 94 classes it is (`char`; "" for symbols
outside them, kept with their own label so a config can select), and the expression's
writer and sub-corpus, so validation can hold writers out. Splits follow the packages
(see the `crohme` builder: 2014 training -> train, 2013 test -> validation, ...).

Configs: `all` and `chars94` (only symbols of the 94 classes). Nothing is dropped
silently: groups without a label or without strokes, symbols outside the 94 classes and
unreadable files are counted in `info.metadata`, with the class counts of each split.
"""

from __future__ import annotations

import collections
import dataclasses

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr.errors import InputError
from htr.ink import archives, inkml, records
from htr.ink.ink import Ink
from htr.text import charsets
from htr_datasets.crohme.crohme_dataset_builder import PARTS, packages

# CROHME spellings of characters of the 94 classes; other one-character labels map to
# themselves when they are one of the 94.
_TO_CHAR = {"\\lt": "<", "\\gt": ">", "\\{": "{", "\\}": "}", "\\lbrace": "{",
            "\\rbrace": "}", "COMMA": ",", "\\prime": "'", "\\|": "|", "\\backslash": "\\",
            "\\sim": "~", "\\#": "#", "\\%": "%", "\\&": "&", "\\_": "_", "\\$": "$"}


def to_char(label: str) -> str:
  """The 94-class character a CROHME symbol label is, or ""."""
  char = _TO_CHAR.get(label, label)
  return char if len(char) == 1 and char in charsets.CHARS94 else ""


@dataclasses.dataclass(eq=False)
class CrohmeSymbolsConfig(tfds.core.BuilderConfig):
  """Attributes:
    chars94_only: keep only symbols that are one of htr's 94 character classes.
  """

  chars94_only: bool = False


class Builder(tfds.core.GeneratorBasedBuilder):
  """CROHME's symbols, one per example, with their labels and writers."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      CrohmeSymbolsConfig(name="all", description="Every labelled symbol."),
      CrohmeSymbolsConfig(name="chars94", chars94_only=True,
                          description="The symbols that are one of the 94 classes."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  The CROHME packages, as for the `crohme` builder (TrainINKML, TestINKMLGT, ...: folders
  or archives) in one folder."""

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),  # <file without .inkml>#<symbol index>.
            "ink": records.ink_feature(),
            "label": tfds.features.Text(),  # CROHME's label, e.g. "\\alpha".
            "char": tfds.features.Text(),  # Its character of the 94 classes, or "".
            "writer": tfds.features.Text(),
            "source": tfds.features.Text(),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    generators = {}
    for part in packages(epath.Path(dl_manager.manual_dir)):
      split = PARTS[part.name]
      self.info.metadata[split] = report = {
          "unreadable_files": {}, "groups_without_label": 0, "groups_without_strokes": 0,
          "labels": {}, "outside_94_classes": 0}
      generators[split] = self._generate_examples(part, report)
    return generators

  def _generate_examples(self, part: archives.Part, report):
    labels = collections.Counter()
    for name, where, data in part.read(lambda n: n.endswith(".inkml")):
      try:
        document = inkml.read_inkml(data, name=where)
      except InputError as e:
        logging.warning("crohme_symbols: %s left out: %s", name, e)
        report["unreadable_files"][name] = e.reason
        continue
      strokes = document.ink.strokes()
      folders = name.split("/")
      for index, (label, stroke_ids) in enumerate(document.symbols):
        if not label:
          report["groups_without_label"] += 1
          continue
        if not stroke_ids:
          report["groups_without_strokes"] += 1
          continue
        char = to_char(label)
        if not char:
          report["outside_94_classes"] += 1
          if self.builder_config.chars94_only:
            continue
        labels[label] += 1
        ink = Ink.from_strokes([strokes[i] for i in sorted(set(stroke_ids))])
        key = f"{name.removesuffix('.inkml')}#{index}"
        yield key, {"id": key, "ink": records.ink_to_record(ink), "label": label,
                    "char": char, "writer": document.annotations.get("writer", ""),
                    "source": folders[1] if len(folders) > 2 else ""}
      report["labels"] = dict(labels.most_common())
