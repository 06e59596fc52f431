"""Preprocessing ops registered by name and composed from a spec string.

As in big_vision, a pipeline is written in the config as text, e.g.
`"decode_ink|normalize|random_affine(rotation_deg=3)|features(names=('dx','dy'))"`,
so an ablation changes a string, not code. Ops live in `htr/data/ops_*.py`
modules, each registering itself; adding an op is adding a function.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np

from htr.opspec import parse

Example = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Entry:
  factory: Callable[..., Callable]
  random: bool  # True: the op takes (example, rng) and is reseeded per example.


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, *, random: bool = False):
  """Registers `factory(**kwargs) -> op` under `name`."""
  def wrap(factory):
    if name in _REGISTRY:
      raise ValueError(f"op {name!r} is registered twice")
    _REGISTRY[name] = _Entry(factory, random)
    return factory
  return wrap


def _import_op_modules() -> None:
  import htr.data as package
  for info in pkgutil.iter_modules(package.__path__):
    if info.name.startswith("ops_"):
      importlib.import_module(f"htr.data.{info.name}")


def build(spec: str) -> Callable[[Example, np.random.Generator], Example]:
  """Composes the ops of `spec` into one function of (example, rng)."""
  _import_op_modules()
  steps = []
  for name, kwargs in parse(spec):
    if name not in _REGISTRY:
      raise ValueError(f"unknown op {name!r}; known ops: {sorted(_REGISTRY)}")
    entry = _REGISTRY[name]
    op = entry.factory(**kwargs)
    steps.append(op if entry.random else (lambda ex, rng, op=op: op(ex)))

  def composed(example: Example, rng: np.random.Generator) -> Example:
    for step in steps:
      example = step(example, rng)
    return example

  return composed
