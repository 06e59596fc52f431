"""A tiny fake IAM-OnDB in the exact layout of the real download, for tests.

The quirks the builder must survive are all here: whiteboard XML in ISO-8859-1 with
times offset by millions of seconds, CRLF in some transcriptions, `CSR: ` with a trailing
space and blank lines between CSR lines, task files with a leading space per form, a form
id without a letter (`a01-003`), a form with more line files than CSR lines (like the real
`a08-551z`) and a transcription without strokes. Strokes are random walks.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tarfile
from collections.abc import Callable

import numpy as np

from htr.ink import iam_ondb
from htr.ink.ink import Ink

# form id, task split (None: in no task file), line files, CSR lines, CRLF transcription.
FORMS = (
    ("a01-000u", "trainset", 3, 3, True),
    ("a01-003", "trainset", 2, 2, False),
    ("a08-551z", "trainset", 3, 2, True),  # One line file too many: reported, not paired.
    ("b02-010x", "testset_v", 2, 2, True),
    ("c03-020", "testset_t", 1, 1, False),
    ("d04-030z", "testset_f", 2, 2, True),
    ("e05-040", None, 0, 2, False),  # Transcribed, no strokes, in no split (as in the corpus).
)
_WORDS = ("the", "Labour", "M Ps", "resolution", ".", ",", "Mr .", "Foot ' s", "#", "1961",
          "(", ")", "life", "Peers", "is", "to", "be", "made", "-", "? !", "meeting")


def _random_ink(rng: np.random.Generator) -> Ink:
  """A few strokes of an integer random walk at 100 Hz, in whiteboard units."""
  strokes, t = [], 0.0
  x, y = rng.integers(900, 1200), rng.integers(1000, 1300)
  for _ in range(rng.integers(2, 5)):
    n = int(rng.integers(1, 30))  # Single-point strokes happen in the real data too.
    steps = rng.integers(-25, 26, size=(n, 2))
    steps[0] = 0
    xy = np.cumsum(steps, axis=0) + [x, y]
    times = t + 0.01 * np.arange(n)
    strokes.append(np.column_stack([xy, times]))
    x, y, t = xy[-1, 0] + rng.integers(20, 80), xy[-1, 1], times[-1] + rng.uniform(0.1, 0.5)
  return Ink.from_strokes(strokes)


def _transcription(csr: list[str], rng: np.random.Generator, crlf: bool) -> bytes:
  ocr = " ".join(rng.choice(_WORDS, 8))
  lines = ["OCR:", "", ocr, "", "CSR: ", ""]
  for text in csr:
    lines += [text + " "] + ([""] if rng.random() < 0.3 else [])
  return ("\r\n" if crlf else "\n").join(lines + [""]).encode("iso-8859-1")


def write_fixture(directory: str | os.PathLike, *, archives: bool = True,
                  seed: int = 0,
                  line_ink: Callable[[np.random.Generator, int], Ink] | None = None
                  ) -> dict:
  """Writes the fake corpus into `directory` (the builder's manual_dir).

  Args:
    directory: created if needed.
    archives: `lineStrokes-all.tar.gz` and `ascii-all.tar.gz` as distributed; else the
      extracted folders `lineStrokes/` and `ascii/`.
    seed: for the strokes and texts.
    line_ink: `line_ink(rng, k)` draws the ink of a form's k-th line (1-based), in
      whiteboard units; by default a random walk (every line in the same place).

  Returns:
    What a correct build yields: `split_sizes` {split: lines}, `mismatched_forms`,
    `labels` {line id: text} and `inks` {line id: Ink} of the paired lines.
  """
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  expected = {"split_sizes": {}, "mismatched_forms": [], "labels": {}, "inks": {}}
  tasks = {}
  for form, split, n_files, n_csr, crlf in FORMS:
    folder = f"{form[:3]}/{form[:7]}"
    csr = [" ".join(rng.choice(_WORDS, rng.integers(2, 7))) for _ in range(n_csr)]
    ascii_path = directory / "ascii" / folder / f"{form}.txt"
    ascii_path.parent.mkdir(parents=True, exist_ok=True)
    ascii_path.write_bytes(_transcription(csr, rng, crlf))
    paired = n_files == n_csr
    for k in range(1, n_files + 1):
      line_id = f"{form}-{k:02d}"
      ink = _random_ink(rng) if line_ink is None else line_ink(rng, k)
      path = directory / "lineStrokes" / folder / f"{line_id}.xml"
      path.parent.mkdir(parents=True, exist_ok=True)
      iam_ondb.write_line_strokes(ink, path, time_offset=12924790.73 + 60 * k, crlf=crlf)
      if paired:
        expected["labels"][line_id] = csr[k - 1]
        expected["inks"][line_id] = ink
    if split:
      tasks.setdefault(split, []).append(form)
      expected["split_sizes"][split] = expected["split_sizes"].get(split, 0) + (
          n_files if paired else 0)
      if not paired:
        expected["mismatched_forms"].append(form)
  for split, forms in tasks.items():
    (directory / f"{split}.txt").write_text("".join(f" {form}\n" for form in forms))
  if archives:
    for part in ("lineStrokes", "ascii"):
      with tarfile.open(directory / f"{part}-all.tar.gz", "w:gz") as tar:
        tar.add(directory / part, arcname=part)
      shutil.rmtree(directory / part)
  return expected
