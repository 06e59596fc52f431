"""Flax modules, one family per file, built from a config by name.

One naming convention for every task (and for an encoder inside a model):
`name` is `"module"` (htr/models/module.py's `Model`), `"module.Class"` (another class
of that file, e.g. `"cnn.ResNet"`), or `"package.module:Class"` for a model that lives
outside htr (a research repo's own file): adding a model is adding a file.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import flax.linen as nn


def resolve(name: str) -> type[nn.Module]:
  """The module class a model name refers to."""
  if ":" in name:
    module, _, cls = name.partition(":")
  else:
    short, _, cls = name.partition(".")
    module = f"htr.models.{short}"
  try:
    return getattr(importlib.import_module(module), cls or "Model")
  except (ModuleNotFoundError, AttributeError) as e:
    if isinstance(e, ModuleNotFoundError) and not module.startswith(e.name or "?"):
      raise  # The model's own file failed to import something: not a naming error.
    raise ValueError(f"unknown model {name!r} ({e}); use 'module', 'module.Class' under "
                     "htr/models, or 'package.module:Class'") from None


def build(spec: Mapping[str, Any], **kwargs: Any) -> nn.Module:
  """`{"name": ..., **attributes}` (e.g. `config.model`) plus what the task adds (the
  number of classes, the vocabulary size) -> the flax module."""
  attributes = dict(spec)
  return resolve(attributes.pop("name"))(**attributes, **kwargs)
