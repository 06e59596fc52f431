"""MathWriting (Google, 2024): online handwritten mathematical expressions.

One example per `<split>/<sampleId>.inkml` of the official archive, with every
annotation of the file. The ground truth is `normalizedLabel` (absent in `symbols/`,
where `label` is used); `normalized_label` is htr's `latex.normalize` of it, the form
models are trained on and evaluated with. Unreadable files are logged and listed with
the reason in `info.metadata["unreadable_files"]`. Folders missing from the manual
copy (the excerpt has no `synthetic/`, say) give no split.
"""

from __future__ import annotations

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr.text import latex
from htr.errors import InputError
from htr.ink import archives, inkml, records

SPLITS = ("train", "valid", "test", "synthetic", "symbols")
# The full release first, then the small excerpt with the same layout.
PARTS = ("mathwriting-2024", "mathwriting-2024-excerpt")
# InkML annotations kept as features, verbatim ("" when a file has none).
ANNOTATIONS = ("label", "normalizedLabel", "sampleId", "splitTagOriginal",
               "inkCreationMethod", "labelCreationMethod")

_CITATION = """\
@article{gervais2024mathwriting,
  title={MathWriting: A Dataset For Handwritten Mathematical Expression Recognition},
  author={Gervais, Philippe and Fadeeva, Anastasiia and Maksai, Andrii},
  journal={arXiv preprint arXiv:2404.10690},
  year={2024}
}"""


def read_sample(data: bytes, where: str) -> tuple[inkml.InkmlDocument, str]:
  """(document, ground-truth LaTeX) of one MathWriting file; InputError if unusable."""
  document = inkml.read_inkml(data, name=where)
  truth = document.annotations.get("normalizedLabel") or document.annotations.get("label")
  if not truth:
    raise InputError("no label or normalizedLabel annotation", path=where)
  return document, truth


class Builder(tfds.core.GeneratorBasedBuilder):
  """MathWriting: pen strokes of math expressions and their LaTeX."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "The five folders of mathwriting-2024 as splits."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download https://storage.googleapis.com/mathwriting_data/mathwriting-2024.tgz (2.9 GB;
or the small mathwriting-2024-excerpt.tgz) into the manual_dir. The archive is read in
place, once per split; extracting it there (folder mathwriting-2024/) builds faster.
"""

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),  # The sampleId (the file name if none).
            "ink": records.ink_feature(),  # t in seconds from the first point.
            **{name: tfds.features.Text() for name in ANNOTATIONS},
            "normalized_label": tfds.features.Text(),  # latex.normalize of the truth.
        }),
        homepage="https://github.com/google-research/google-research/tree/master/"
                 "mathwriting",
        citation=_CITATION,
        metadata=tfds.core.MetadataDict(unreadable_files={}),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = epath.Path(dl_manager.manual_dir)
    part = next((p for p in (archives.Part(manual_dir, n) for n in PARTS) if p.exists), None)
    if part is None:
      raise InputError(f"neither {' nor '.join(PARTS)} (folder or .tgz) is there; see the "
                       "manual download instructions", path=manual_dir)
    # The excerpt lacks some folders; TFDS cannot write an empty split.
    present = {n.split("/")[1] for n in part.names() if n.endswith(".inkml")}
    return {split: self._generate_examples(part, split) for split in SPLITS
            if split in present}

  def _generate_examples(self, part: archives.Part, split: str):
    unreadable = self.info.metadata["unreadable_files"]
    folder = f"{part.name}/{split}/"
    for name, where, data in part.read(
        lambda n: n.startswith(folder) and n.endswith(".inkml")):
      try:
        document, truth = read_sample(data, where)
      except InputError as e:
        logging.warning("MathWriting: %s left out: %s", name, e)
        unreadable[name] = e.reason
        continue
      notes = document.annotations
      sample_id = notes.get("sampleId") or name.rpartition("/")[2].removesuffix(".inkml")
      yield sample_id, {"id": sample_id, "ink": records.ink_to_record(document.ink),
                        **{key: notes.get(key, "") for key in ANNOTATIONS},
                        "normalized_label": latex.normalize(truth)}
