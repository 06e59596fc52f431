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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path, monkeypatch):
  monkeypatch.setenv("HTR_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("HTR_DATA_DIR", str(tmp_path / "tfds"))
  notebook = nbformat.read(path, as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": os.path.dirname(path)}}).execute()
  outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
  text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
  # One CER per ablation arm (two steps of a tiny model insert freely: CER may pass 1).
  rates = [float(line.rsplit("CER", 1)[1]) for line in text.splitlines() if " CER " in line]
  assert len(rates) == 2 and all(np.isfinite(r) and r >= 0.0 for r in rates), text
  # The figure: a picture of real lines, not an empty canvas.
  pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
  assert len(pngs) == 1, [o.get("output_type") for o in outputs]
  figure = np.asarray(Image.open(io.BytesIO(base64.b64decode(pngs[0]))).convert("L"))
  assert figure.shape[0] >= 48 and figure.shape[1] >= 300
  assert (figure < 128).mean() > 0.005  # Ink and captions drawn on it.
