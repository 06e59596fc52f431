"""IAM-OnDB (IAM On-Line Handwriting Database) text lines as a TFDS dataset.

One example per line file `lineStrokes/<a01>/<a01-000>/<form>-<kk>.xml`, labelled with
line kk of the non-empty `CSR:` lines of `ascii/<a01>/<a01-000>/<form>.txt`. Splits are
the task IAM-OnDB-t1 lists. Nothing is dropped silently: forms that cannot be paired
(line-file count differs from the CSR line count, or a file is missing) and line files
that cannot be read are logged and kept in `info.metadata`:

  mismatched_forms: {form: "9 line files, 8 CSR lines"}
  missing_forms: {form: what is missing or unreadable}
  unreadable_lines: {line id: reason}
  missing_task_files: [split, ...] (those splits are not generated)
"""

from __future__ import annotations

import collections

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr.errors import InputError
from htr.ink import archives, iam_ondb, records

SPLITS = ("trainset", "testset_v", "testset_t", "testset_f")

_CITATION = """\
@inproceedings{liwicki2005iam,
  title={IAM-OnDB - an on-line English sentence database acquired from handwritten text
         on a whiteboard},
  author={Liwicki, Marcus and Bunke, Horst},
  booktitle={Eighth International Conference on Document Analysis and Recognition
             (ICDAR'05)},
  pages={956--961},
  year={2005}
}"""


def _part(manual_dir: epath.Path, name: str) -> archives.Part:
  """`lineStrokes` or `ascii`: the extracted folder if present, else the official
  `<name>-all.tar.gz`, streamed and never extracted to disk."""
  part = archives.Part(manual_dir, name, archive=f"{name}-all")
  if not part.exists:
    raise InputError(f"neither the folder {name}/ nor {name}-all.tar.gz is there; "
                     "see the manual download instructions", path=manual_dir)
  return part


def _stem(name: str) -> str:
  return name.rpartition("/")[2].rpartition(".")[0]


def _line_files(names: list[str], report) -> dict[str, dict[int, str]]:
  """{form: {line number: file name}} from the lineStrokes file names."""
  forms = collections.defaultdict(dict)
  for name in names:
    if not name.endswith(".xml"):
      continue
    form, _, number = _stem(name).rpartition("-")
    if form and number.isdigit():
      forms[form][int(number)] = name
    else:
      report["unreadable_lines"][name] = "not named <form>-<kk>.xml"
  return forms


def _read_tasks(manual_dir: epath.Path, report) -> dict[str, list[str]]:
  """{split: form ids} of the task files present (ids often have a leading space)."""
  report["missing_task_files"] = [s for s in SPLITS if not (manual_dir / f"{s}.txt").exists()]
  if report["missing_task_files"]:
    logging.warning("IAM-OnDB: no task file for %s: those splits are not generated.",
                    ", ".join(report["missing_task_files"]))
  tasks = {s: [f.strip() for f in (manual_dir / f"{s}.txt").read_text().splitlines()
               if f.strip()]
           for s in SPLITS if s not in report["missing_task_files"]}
  if not tasks:
    raise InputError(f"no task file ({', '.join(s + '.txt' for s in SPLITS)})",
                     path=manual_dir)
  listed = collections.Counter(form for forms in tasks.values() for form in set(forms))
  if shared := sorted(form for form, n in listed.items() if n > 1):
    logging.warning("IAM-OnDB: %d forms are in more than one task file: %s", len(shared),
                    shared)
  return tasks


def _pair(forms: list[str], transcriptions: dict[str, list[str]],
          line_files: dict[str, dict[int, str]], report) -> dict[str, tuple[str, str]]:
  """{line file name: (form, text)} of the forms whose files and CSR lines agree."""
  lines = {}
  for form in forms:
    csr, files = transcriptions.get(form), line_files.get(form)
    if form in report["missing_forms"]:
      continue
    if files is None or csr is None:
      report["missing_forms"][form] = "no line files" if files is None else "no transcription"
    elif sorted(files) != list(range(1, len(csr) + 1)):
      numbers = f" numbered {sorted(files)}" if len(files) == len(csr) else ""
      report["mismatched_forms"][form] = (f"{len(files)} line files{numbers}, "
                                          f"{len(csr)} CSR lines")
    else:
      lines.update({name: (form, csr[k - 1]) for k, name in files.items()})
  return lines


def read_splits(manual_dir: epath.Path, report
                ) -> tuple[archives.Part, dict[str, dict[str, tuple[str, str]]]]:
  """The lines of each task split, paired with their transcriptions: what `iam_ondb`
  and `iam_ondb_pages` read.

  Args:
    manual_dir: the download (see the manual download instructions).
    report: a dict holding the dicts `mismatched_forms`, `missing_forms` and
      `unreadable_lines`, filled with what cannot be paired, and `missing_task_files`
      (as `info.metadata` keeps them).

  Returns:
    (the lineStrokes part to read the line files from, {split: {line file name: (form,
    text)}}).

  Raises:
    InputError: a part or every task file is missing, or a split has no paired form.
  """
  tasks = _read_tasks(manual_dir, report)
  listed = {form for forms in tasks.values() for form in forms}
  strokes = _part(manual_dir, "lineStrokes")
  line_files = _line_files(strokes.names(), report)
  ascii_files = _part(manual_dir, "ascii")
  transcriptions = {}
  for name, where, data in ascii_files.read(lambda n: _stem(n) in listed):
    try:
      transcriptions[_stem(name)] = iam_ondb.read_transcription(data, name=where)
    except InputError as e:
      report["missing_forms"][_stem(name)] = f"unreadable transcription: {e}"
  splits = {}
  for split, forms in tasks.items():
    splits[split] = _pair(forms, transcriptions, line_files, report)
    if not splits[split]:
      raise InputError(f"no form of {split}.txt has both line files and a matching "
                       "transcription", path=manual_dir)
  logging.info("IAM-OnDB: %d forms with line files are in no task file.",
               len(line_files.keys() - listed))
  for key in ("mismatched_forms", "missing_forms", "unreadable_lines"):
    if report[key]:
      logging.warning("IAM-OnDB: %d %s, not used: %s", len(report[key]),
                      key.replace("_", " "), report[key])
  return strokes, splits


class Builder(tfds.core.GeneratorBasedBuilder):
  """IAM-OnDB lines: whiteboard pen strokes and their transcription."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Lines of the IAM-OnDB-t1 task splits."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Register at https://fki.tic.heia-fr.ch/databases/iam-on-line-handwriting-database and
download into one folder (the manual_dir), without renaming:
  lineStrokes-all.tar.gz   (or its extracted folder lineStrokes/)
  ascii-all.tar.gz         (or its extracted folder ascii/)
  trainset.txt testset_v.txt testset_t.txt testset_f.txt   (task IAM-OnDB-t1)
A missing task file leaves its split out. Archives are read in place, not extracted.
"""

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),  # Line id, e.g. a01-001w-01.
            "form": tfds.features.Text(),  # Form id, e.g. a01-001w.
            "ink": records.ink_feature(),  # t in seconds from the line's first point.
            "text": tfds.features.Text(),  # The CSR transcription of the line.
        }),
        homepage="https://fki.tic.heia-fr.ch/databases/iam-on-line-handwriting-database",
        citation=_CITATION,
        metadata=tfds.core.MetadataDict(mismatched_forms={}, missing_forms={},
                                        unreadable_lines={}, missing_task_files=[]),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    strokes, splits = read_splits(epath.Path(dl_manager.manual_dir), self.info.metadata)
    return {split: self._generate_examples(strokes, lines) for split, lines in splits.items()}

  def _generate_examples(self, strokes: archives.Part, lines: dict[str, tuple[str, str]]):
    unreadable = self.info.metadata["unreadable_lines"]
    for name, where, data in strokes.read(lines.__contains__):
      line_id = _stem(name)
      try:
        ink = iam_ondb.read_line_strokes(data, name=where)
      except InputError as e:
        logging.warning("IAM-OnDB: line %s left out: %s", line_id, e)
        unreadable[line_id] = e.reason
        continue
      form, text = lines[name]
      yield line_id, {"id": line_id, "form": form, "ink": records.ink_to_record(ink),
                      "text": text}
