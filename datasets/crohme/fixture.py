"""A tiny fake CROHME in the exact layout of the real packages, for tests.

The quirks of the real files are here: packages as `.tar.gz` with a top folder (or
extracted), sub-corpus folders in the training set, `.lg` files next to the InkML, the
namespace present or absent, no `<traceFormat>`, float coordinates, `$`-wrapped spaced
truths, an untyped truth annotation, symbol `traceGroup`s, raw Latin-1 bytes without an
encoding declaration (MfrDB0104), an empty file (MfrDB3088) and one broken XML file.
"""

from __future__ import annotations

import pathlib
import shutil
import tarfile

import numpy as np

NAMESPACE = 'xmlns="http://www.w3.org/2003/InkML"'

# (package, path inside it, truth annotation, style). Styles: "full" (namespace,
# traceFormat, writer, traceGroups), "bare" (no namespace, no traceFormat, floats),
# "untyped" (the truth in an untyped annotation), "latin1", "empty", "broken".
FILES = (
    ("TrainINKML", "MathBrush/200924-1331-195.inkml", r"$x ^ 2 + \frac{1}{2}$", "full"),
    ("TrainINKML", "KAIST/KME1G3_0_sub_10.inkml", r" \frac { \pi r ^ 2 h } { 3 } ", "bare"),
    ("TrainINKML", "HAMEX/formulaire001-equation003.inkml", r"$\sqrt{a}$", "untyped"),
    ("TrainINKML", "MfrDB/MfrDB0104.inkml", r"$c \cdot b$", "latin1"),
    ("TrainINKML", "MfrDB/MfrDB3088.inkml", "", "empty"),
    ("TrainINKML", "expressmatch/101_edwin.inkml", r"$M\ltN$", "full"),
    ("TrainINKML", "extension/form000-equation001.inkml", r"$a_1 a_2$", "broken"),
    ("TestINKMLGT", "106_em_118.inkml", r"$s = \frac{1}{2} + it$", "full"),
    ("TestINKMLGT", "rit_4250_1.inkml", r"$\int\limits_{0}^{1} x dx$", "bare"),
)
# What the builder must report and produce.
REJECTED = {"TrainINKML/MfrDB/MfrDB3088.inkml": "empty file",
            "TrainINKML/extension/form000-equation001.inkml": "malformed XML"}
SPLIT_SIZES = {"train": 5, "validation": 2}


def _traces(rng: np.random.Generator, floats: bool) -> tuple[list[np.ndarray], str]:
  strokes = [np.cumsum(rng.normal(0, 3, (int(rng.integers(3, 9)), 2)), 0) + 100
             for _ in range(int(rng.integers(2, 5)))]
  fmt = "{:.4f}" if floats else "{:.0f}"
  if not floats:
    strokes = [np.round(s) for s in strokes]
  text = "\n".join(
      f'<trace id="{i}">' + ", ".join(f"{fmt.format(x)} {fmt.format(y)}" for x, y in s)
      + "</trace>" for i, s in enumerate(strokes))
  return strokes, text


def _document(truth: str, style: str, rng: np.random.Generator) -> tuple[bytes, list]:
  strokes, traces = _traces(rng, floats=style == "bare")
  if style == "empty":
    return b"", strokes
  escaped = truth.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
  head = "<ink>" if style == "bare" else f"<ink {NAMESPACE}>"
  channels = ("" if style == "bare" else
              '<traceFormat><channel name="X" type="decimal"/>'
              '<channel name="Y" type="decimal"/></traceFormat>')
  kind = "" if style == "untyped" else ' type="truth"'
  body = (f'{head}\n{channels}\n<annotation type="writer">106</annotation>\n'
          f"<annotation{kind}>{escaped}</annotation>\n"
          '<annotation type="UI">2013_IVC_CROHME_F106_E118</annotation>\n'
          '<annotationXML type="truth" encoding="Content-MathML"><math><mo>MIDDOT</mo>'
          f"</math></annotationXML>\n{traces}\n"
          '<traceGroup xml:id="9"><annotation type="truth">Segmentation</annotation>'
          '<traceGroup xml:id="10"><annotation type="truth">x</annotation>'
          '<traceView traceDataRef="0"/></traceGroup></traceGroup>\n</ink>\n')
  data = body.encode("utf-8").replace(b"MIDDOT", b"\xb7" if style == "latin1" else b"+")
  if style == "broken":
    data = data.replace(b"</annotation>", b"</annotatio>", 1)
  return data, strokes


def write_fixture(manual_dir: pathlib.Path, *, archives: bool) -> dict:
  """Writes the packages; returns {"strokes": {id: strokes}, "truths": {id: truth}}."""
  rng = np.random.default_rng(0)
  strokes, truths = {}, {}
  for package, path, truth, style in FILES:
    file = manual_dir / package / path
    file.parent.mkdir(parents=True, exist_ok=True)
    data, drawn = _document(truth, style, rng)
    file.write_bytes(data)
    if path.endswith("101_edwin.inkml"):
      file.with_suffix(".lg").write_text("O, x_1, x, 1.0, 0\n")
    key = f"{package}/{path.removesuffix('.inkml')}"
    strokes[key], truths[key] = drawn, truth
  if archives:
    for package in {f[0] for f in FILES}:
      with tarfile.open(manual_dir / f"{package}.tar.gz", "w:gz") as tar:
        tar.add(manual_dir / package, arcname=package)
      shutil.rmtree(manual_dir / package)
  return {"strokes": strokes, "truths": truths}
