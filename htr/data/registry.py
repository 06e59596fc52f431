"""Preprocessing ops registered by name and composed from a spec string.

As in big_vision, a pipeline is written in the config as text, e.g.
`"decode_ink|normalize|random_affine(rotation_deg=3)|features(names=('dx','dy'))"`,
so an ablation changes a string, not code. Ops live in `htr/data/ops_*.py`
modules, each registering itself; adding an op is adding a function.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import io
import pkgutil
import tokenize
from collections.abc import Callable
from typing import Any

import numpy as np

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


def _split_ops(spec: str) -> list[str]:
  """Splits at the `|` between ops, not at one inside a string or brackets (e.g. a
  vocabulary argument holding the LaTeX token "|")."""
  cuts, depth = [], 0
  try:
    for tok in tokenize.generate_tokens(io.StringIO(spec).readline):
      if tok.type == tokenize.OP and tok.string in "([{":
        depth += 1
      elif tok.type == tokenize.OP and tok.string in ")]}":
        depth -= 1
      elif tok.type == tokenize.OP and tok.string == "|" and depth == 0:
        cuts.append(tok.start[1])
  except (tokenize.TokenError, SyntaxError):
    pass  # Unbalanced: the plain split below, and parse reports the bad op.
  if depth or "\n" in spec:
    return spec.split("|")
  bounds = [-1, *cuts, len(spec)]
  return [spec[a + 1:b] for a, b in zip(bounds, bounds[1:])]


def parse(spec: str) -> list[tuple[str, dict[str, Any]]]:
  """`"a|b(x=1)"` -> [("a", {}), ("b", {"x": 1})]; arguments must be literals."""
  ops = []
  for part in filter(None, (p.strip() for p in _split_ops(spec))):
    try:
      node = ast.parse(part, mode="eval").body
      if isinstance(node, ast.Name):
        ops.append((node.id, {}))
        continue
      if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise ValueError("expected name or name(key=value, ...)")
      ops.append((node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords}))
    except (SyntaxError, ValueError) as e:
      raise ValueError(f"bad op {part!r} in preprocessing spec {spec!r}: {e}") from None
  return ops


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
