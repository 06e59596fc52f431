"""Notebooks run top to bottom (tiny settings), so they never rot."""

import base64
import glob
import io
import os

import nbformat
import numpy as np
import pytest
from PIL import Image
from nbclient import NotebookClient

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "notebooks",
                                          "*.ipynb")))


def _check_online_ink_ablation(text: str, figures: list[np.ndarray]) -> None:
  # One CER per ablation arm (two steps of a tiny model insert freely: CER may pass 1).
  rates = [float(line.rsplit("CER", 1)[1]) for line in text.splitlines() if " CER " in line]
  assert len(rates) == 2 and all(np.isfinite(r) and r >= 0.0 for r in rates), text
  (figure,) = figures  # The worst lines: real ink and captions, not an empty canvas.
  assert figure.shape[0] >= 48 and figure.shape[1] >= 300
  assert (figure < 128).mean() > 0.005


def _check_zoo_characters(text: str, figures: list[np.ndarray]) -> None:
  read, total = map(int, text.split(" read right")[0].rsplit("\n", 1)[-1].split(" of "))
  assert 0 < total and 0 <= read <= total, text
  accuracies = [float(line.rsplit(": ", 1)[1]) for line in text.splitlines()
                if "digits accuracy" in line]
  assert len(accuracies) == 2 and all(0.0 <= a <= 1.0 for a in accuracies), text
  sheet, confusion = figures  # Glyphs with what was read, and the confusion matrix.
  assert sheet.shape[1] == 8 * 56 and (sheet < 128).mean() > 0.01
  assert min(confusion.shape) >= 40


def _check_math(text: str, figures: list[np.ndarray]) -> None:
  arms = [line for line in text.splitlines() if line.startswith("pen width")]
  assert len(arms) == 2, text  # The ablation: token CER and ExpRate of each arm.
  for arm in arms:
    cer, exprate = (float(arm.split(key)[1].split()[0]) for key in (" token CER ", " ExpRate "))
    assert np.isfinite(cer) and cer >= 0.0 and 0.0 <= exprate <= 1.0, arm
  assert "encoder grid (rows, columns)" in text, text
  (figure,) = figures  # Ink, its reading, and attention maps drawn over it.
  assert figure.shape[0] >= 200 and figure.shape[1] >= 400
  assert (figure < 128).mean() > 0.005


def _check_offline_lines_and_pages(text: str, figures: list[np.ndarray]) -> None:
  greedy = float(text.split("greedy CER over ")[1].split(": ")[1].split()[0])
  assert np.isfinite(greedy) and greedy >= 0.0, text
  read, total = map(int, text.split(" aligned characters")[0].rsplit("\n", 1)[-1].split(" of "))
  assert 0 < total and 0 <= read <= total, text
  assert "<PcGts" in text and text.count("<TextLine ") == 4, text  # The page's PAGE-XML.
  rates = [float(line.split(" CER ")[1].split()[0]) for line in text.splitlines()
           if line.startswith("beam width")]
  assert len(rates) == 2 and all(np.isfinite(r) and r >= 0.0 for r in rates), text
  lines, confusion, page = figures  # Aligned lines, the confusion matrix, the page.
  assert lines.shape[1] >= 400 and (lines < 128).mean() > 0.005
  assert min(confusion.shape) >= 40
  assert min(page.shape) >= 200 and (page < 128).mean() > 0.002


CHECKS = {"online_ink_ablation.ipynb": _check_online_ink_ablation,
          "zoo_characters.ipynb": _check_zoo_characters,
          "math.ipynb": _check_math,
          "offline_lines_and_pages.ipynb": _check_offline_lines_and_pages}


def test_every_notebook_has_its_checks():
  assert sorted(CHECKS) == sorted(os.path.basename(p) for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path, monkeypatch):
  monkeypatch.setenv("HTR_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("HTR_DATA_DIR", str(tmp_path / "tfds"))
  notebook = nbformat.read(path, as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": os.path.dirname(path)}}).execute()
  outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
  text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
  figures = [np.asarray(Image.open(io.BytesIO(base64.b64decode(o["data"]["image/png"])))
                        .convert("L"))
             for o in outputs if "image/png" in o.get("data", {})]
  CHECKS[os.path.basename(path)](text, figures)
