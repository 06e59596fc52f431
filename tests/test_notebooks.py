"""Notebooks run top to bottom (tiny settings), so they never rot."""

import glob
import os

import nbformat
import pytest
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
  outputs = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
  assert "CER" in outputs
