"""Handwritten first and last names cut from forms, as published on Kaggle
("Handwriting Recognition": about 400,000 name images; seed 004 trains a CRNN on it).

Manual dir, as downloaded: `written_name_{train,validation,test}_v2.csv` (columns
`FILENAME,IDENTITY`) and the images in `train_v2/`, `validation_v2/`, `test_v2/`, as
folders (any depth, e.g. `train_v2/train/TRAIN_00001.jpg`) or as the zips Kaggle serves
(`train_v2.zip`, ...), read without extracting. Nothing is dropped silently: rows whose
label is `UNREADABLE`, empty or NaN, rows whose image is missing or unreadable, and
duplicated file names are counted per split in `info.metadata` (with the first few names).
"""

from __future__ import annotations

import collections
import csv
import io
import os

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr import inputs
from htr.errors import InputError
from htr.ink import archives

SPLITS = ("train", "validation", "test")
UNUSABLE = ("UNREADABLE", "", "NAN", "EMPTY")  # Labels that say there is nothing to learn.
_SHOWN = 20  # Names listed per problem in the report.


def read_labels(path: epath.Path) -> tuple[dict[str, str], collections.Counter, dict]:
  """{file name: label} of a split's CSV, the count of each kind of unusable row, and
  the first names of each kind."""
  labels, counts, examples = {}, collections.Counter(), collections.defaultdict(list)
  reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
  if not reader.fieldnames or {"FILENAME", "IDENTITY"} - set(reader.fieldnames):
    raise InputError(f"expected the columns FILENAME,IDENTITY, found {reader.fieldnames}",
                     path=path)
  for row in reader:
    name, label = (row["FILENAME"] or "").strip(), (row["IDENTITY"] or "").strip()
    problem = ("no file name" if not name else "duplicate file name" if name in labels
               else f"label {label or 'empty'!r}" if label.upper() in UNUSABLE else None)
    if problem:
      counts[problem] += 1
      if len(examples[problem]) < _SHOWN:
        examples[problem].append(name)
      continue
    labels[name] = label
  return labels, counts, examples


class Builder(tfds.core.GeneratorBasedBuilder):
  """Handwritten names: one cropped form field per example, with its transcription."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download Kaggle's "Handwriting Recognition" dataset (by Landlord) and put in the
  manual dir, as downloaded: written_name_train_v2.csv, written_name_validation_v2.csv,
  written_name_test_v2.csv and the image folders train_v2/, validation_v2/, test_v2/
  (or their .zip files)."""

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),
            "image": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
            "text": tfds.features.Text(),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = epath.Path(dl_manager.manual_dir)
    generators, report = {}, {}
    for split in SPLITS:
      csv_path = manual_dir / f"written_name_{split}_v2.csv"
      if not csv_path.exists():
        raise InputError(f"written_name_{split}_v2.csv is missing; see the manual download "
                         "instructions", path=manual_dir)
      labels, counts, examples = read_labels(csv_path)
      report[split] = {"rows_used": len(labels), "skipped": dict(counts),
                       "skipped_examples": dict(examples)}
      for problem, n in counts.items():
        logging.warning("kaggle_names %s: %d rows skipped (%s), e.g. %s", split, n, problem,
                        examples[problem][:3])
      generators[split] = self._generate_examples(
          archives.Part(manual_dir, f"{split}_v2"), labels, report[split])
    self.info.metadata.update(report)
    return generators

  def _generate_examples(self, part: archives.Part, labels: dict[str, str], report):
    missing = set(labels)
    report["unreadable_images"] = {}
    for name, where, data in part.read(lambda n: os.path.basename(n) in labels):
      base = os.path.basename(name)
      if base not in missing:
        continue  # The same file name twice in the archive: the first is used.
      missing.discard(base)
      try:
        image = inputs.decode_image(data, where, formats=None)
      except InputError as e:
        report["unreadable_images"][base] = e.reason
        continue
      gray = image if image.ndim == 2 else np.asarray(image[..., :3], np.float32).mean(-1)
      if gray.dtype != np.uint8:
        gray = np.clip(gray / (257.0 if gray.max() > 255 else 1.0), 0, 255).astype(np.uint8)
      yield base, {"id": base, "image": gray[..., None], "text": labels[base]}
    report["missing_images"] = {"count": len(missing), "examples": sorted(missing)[:_SHOWN]}
