"""A tiny fake MathWriting in the exact layout of `mathwriting-2024.tgz`, for tests.

`mathwriting-2024/<split>/<sampleId>.inkml` files written like the real ones (X Y T in
ms with two decimals, annotations first, some missing as in the release: no
`labelCreationMethod` in human splits, only `label` in `symbols/`), jsonl side files at
the top, the archive as `.tgz` or extracted, and one file that is not XML.
"""

from __future__ import annotations

import pathlib
import shutil
import tarfile

import numpy as np

PART = "mathwriting-2024"
# (split, sampleId, label, normalizedLabel or None, inkCreationMethod, labelCreationMethod).
SAMPLES = (
    ("train", "02270559509706de", r"\tilde{\varphi}:\mathbb{S}^\lambda E \to M",
     r"\tilde{\varphi}:\mathbb{S}^{\lambda}E\rightarrow M", "human", None),
    ("train", "046728735864246f", r"K=Q(\sqrt{-d})d>0", r"K=Q(\sqrt{-d})d>0", "human", None),
    ("valid", "008004981b5b3ee1", r"\tilde E = E \times \mathbb{Z}_{n}",
     r"\tilde{E}=E\times\mathbb{Z}_{n}", "human", None),
    ("test", "032278982233fefa", r"L_{r},L_{t},L_{L}/10", r"L_{r},L_{t},L_{L}/10", "human",
     None),
    ("synthetic", "7f3a9b1c2d4e5f60", r"x^{2}+y", r"x^{2}+y", "boundingBoxes", "synthetic"),
    ("symbols", "0a1b2c3d4e5f6071", r"\alpha", None, "human", None),
)
BROKEN = "train/ffffffffffffffff.inkml"  # Not XML: reported, not built.


def _inkml(split, sample_id, label, normalized, ink_method, label_method,
           strokes: list[np.ndarray]) -> str:
  notes = [("label", label), ("splitTagOriginal", split), ("inkCreationMethod", ink_method),
           ("sampleId", sample_id), ("normalizedLabel", normalized),
           ("labelCreationMethod", label_method)]
  escape = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
  lines = ['<ink xmlns="http://www.w3.org/2003/InkML">']
  lines += [f'  <annotation type="{k}">{escape(v)}</annotation>' for k, v in notes if v]
  lines += ["  <traceFormat>", '    <channel name="X" type="decimal" />',
            '    <channel name="Y" type="decimal" />',
            '    <channel name="T" type="decimal" units="ms" />', "  </traceFormat>"]
  lines += [f'  <trace id="{i}">' + ",".join(f"{x:.2f} {y:.2f} {t:.1f}" for x, y, t in s)
            + "</trace>" for i, s in enumerate(strokes)]
  return "\n".join(lines + ["</ink>", ""])


def write_fixture(manual_dir: pathlib.Path, *, archive: bool) -> dict:
  """Writes the corpus; returns {"strokes": {id: [N, 3] arrays, t in ms}, "samples": ...}."""
  rng = np.random.default_rng(0)
  root = manual_dir / PART
  strokes = {}
  t = 0.0
  for split, sample_id, *notes in SAMPLES:
    drawn = []
    for _ in range(int(rng.integers(1, 4))):
      n = int(rng.integers(2, 7))
      xy = np.round(np.cumsum(rng.normal(0, 8, (n, 2)), 0) + 500, 2)
      times = t + np.arange(n) * 8.0
      t = times[-1] + 150.0
      drawn.append(np.concatenate([xy, times[:, None]], 1))
    first = drawn[0][0, 2]
    drawn = [s - [0, 0, first] for s in drawn]
    strokes[sample_id] = drawn
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / split / f"{sample_id}.inkml").write_text(_inkml(split, sample_id, *notes, drawn))
  (root / BROKEN).write_text("<ink xmlns='http://www.w3.org/2003/InkML'><trace>1 2")
  (root / "synthetic-bboxes.jsonl").write_text('{"label": "x^{2}+y", "bboxes": []}\n')
  if archive:
    with tarfile.open(manual_dir / f"{PART}.tgz", "w:gz") as tar:
      tar.add(root, arcname=PART)
    shutil.rmtree(root)
  return {"strokes": strokes, "samples": {s[1]: s for s in SAMPLES}}
