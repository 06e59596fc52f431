"""The op spec language: `"name|name(key=literal, ...)|..."`, parsed without running anything.

It sits below every package that reads specs: the data registry (htr/data/registry.py)
builds numpy ops from a spec, and the jnp port of ink preprocessing
(htr/ink/preprocess_jax.py) builds its in-graph version from the same string.
"""

from __future__ import annotations

import ast
import io
import tokenize
from typing import Any


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
