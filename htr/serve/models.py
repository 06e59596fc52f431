"""Exported models, loaded with plain TensorFlow, behind one `run(examples)` call.

Filled in against the SavedModels of htr/export.py.
"""

from __future__ import annotations

import os

from htr.errors import InputError


def load_models(models_dir: str) -> dict:
  """{name: ServedModel} for every subfolder of `models_dir` holding a SavedModel."""
  if not os.path.isdir(models_dir):
    raise InputError("no such models folder", path=models_dir)
  models = {}
  for name in sorted(os.listdir(models_dir)):
    path = os.path.join(models_dir, name)
    if os.path.isdir(path):
      raise InputError("not yet", path=path)
  return models
