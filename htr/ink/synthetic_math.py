"""Synthetic handwritten math: LaTeX from a grammar, laid out in 2-D, written as ink.

The offline default math dataset (`datasets/synthetic_math`) is made of these. Three parts:

- Expressions (`sample_expression`): a random tree of rows, fractions, sub- and
  superscripts, square roots, sums, products and integrals with limits, brackets and
  function names over Latin and Greek letters, numbers and operators. `to_latex` writes
  it; `latex.normalize` of that is the label.
- Layout (`_layout`): TeX-like boxes in x-heights (y down from the baseline): fractions
  centred over and under a bar on the math axis, scripts at 0.65 size raised or
  lowered, radicals and brackets stretched around their content, limits above and below
  sums and products and beside integrals. Each symbol gets the writer's size and
  position jitter.
- Ink: Hershey glyphs (the writer's fonts for Latin letters, digits and ASCII signs;
  `greek` and `mathlow` for the rest) placed by the layout, sheared by the writer's
  slant, then written by `synthetic.write_strokes`: rounded, bent, timed and sampled as
  a digitiser would, in whiteboard units.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from htr.text import latex
from htr.ink import synthetic
from htr.ink.ink import Ink

# Greek letters -> their key in the Hershey `greek` font.
GREEK = {
    "\\alpha": "a", "\\beta": "b", "\\gamma": "g", "\\delta": "d", "\\epsilon": "e",
    "\\zeta": "z", "\\eta": "h", "\\theta": "q", "\\kappa": "k", "\\lambda": "l",
    "\\mu": "m", "\\nu": "n", "\\xi": "x", "\\pi": "p", "\\rho": "r", "\\sigma": "s",
    "\\tau": "t", "\\phi": "f", "\\chi": "c", "\\psi": "y", "\\omega": "w",
    "\\Gamma": "G", "\\Delta": "D", "\\Theta": "Q", "\\Lambda": "L", "\\Xi": "X",
    "\\Pi": "P", "\\Sigma": "S", "\\Phi": "F", "\\Psi": "Y", "\\Omega": "W",
}
# Math signs -> their key in the Hershey `mathlow` font.
SIGNS = {
    "\\pm": "!", "\\times": "#", "\\cdot": "$", "\\leq": "&", "\\geq": "'", "\\neq": "?",
    "\\equiv": "@", "\\propto": "^", "\\infty": "_", "\\subset": "d", "\\cup": "e",
    "\\supset": "f", "\\cap": "g", "\\in": "h", "\\rightarrow": "i", "\\leftarrow": "k",
    "\\partial": "m", "\\nabla": "n", "\\div": "x", "\\exists": "v", "\\prod": ":",
    "\\sum": ";", "\\int": "q",
}
FUNCTIONS = ("\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\exp")
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Variables as people use them: x, y, n, i, ... far more often than, say, Q.
_LETTER_WEIGHTS = np.array([3 if c in "xyzabcnkitfp" else 1.5 if c.islower() else 0.6
                            for c in _LETTERS])
_RELATIONS = ("=", "=", "=", "<", ">", "\\leq", "\\geq", "\\neq", "\\rightarrow", "\\in",
              "\\equiv", "\\propto", "\\subset")
_OPERATORS = ("+", "+", "-", "-", "\\times", "\\cdot", "\\pm", "/", "\\div", ",", "\\cup",
              "\\cap")
_BRACKETS = {"(": ")", "[": "]", "\\{": "\\}", "|": "|"}
# synthetic.glyph scales a font by the height of its "x", which in these fonts is
# xi and a division sign: these factors bring their x-height (alpha, a) to 1.
_FONT_SCALE = {"greek": 1.5, "mathlow": 1.28}
_BIG_OPERATOR = 3.0  # Height of sums, products and integrals, in x-heights.
_SCRIPT = 0.65  # Size of scripts and limits.
_AXIS = -0.55  # The math axis (fraction bars, operator centres), in x-heights.
_GAP = 0.18  # Space between symbols.
_WIDE_GAP = 0.45  # Around relations and binary operators.


@dataclasses.dataclass(frozen=True)
class Expr:
  """A node of an expression tree.

  Attributes:
    kind: "sym" (one token), "row", "frac", "sqrt", "script" (children: base, sub,
      sup; either script may be None), "op" (a big operator: children lower, upper
      limits, either may be None) or "bracket" (token: the opening bracket).
    token: the LaTeX token of "sym", "op" and "bracket" nodes.
    children: the sub-expressions.
  """

  kind: str
  token: str = ""
  children: tuple[Expr | None, ...] = ()


def _sym(token: str) -> Expr:
  return Expr("sym", token)


def _row(*items: Expr) -> Expr:
  return Expr("row", children=tuple(items))


# ---------------------------------------------------------------------------
# Grammar.
# ---------------------------------------------------------------------------


def _letter(rng: np.random.Generator) -> Expr:
  if rng.random() < 0.15:
    return _sym(str(rng.choice(list(GREEK))))
  return _sym(str(rng.choice(list(_LETTERS), p=_LETTER_WEIGHTS / _LETTER_WEIGHTS.sum())))


def _number(rng: np.random.Generator) -> Expr:
  digits = str(rng.integers(0, 10 ** int(rng.choice([1, 1, 1, 2, 3]))))
  if rng.random() < 0.05:
    digits += "." + str(rng.integers(0, 100))
  return _row(*map(_sym, digits)) if len(digits) > 1 else _sym(digits)


def _atom(rng: np.random.Generator) -> Expr:
  return _letter(rng) if rng.random() < 0.65 else _number(rng)


def _small(rng: np.random.Generator, depth: int) -> Expr:
  """A script or limit: mostly one symbol, sometimes a short sum."""
  if depth <= 0 or rng.random() < 0.7:
    return _atom(rng)
  return _row(_atom(rng), _sym(str(rng.choice(["+", "-"]))), _atom(rng))


def _term(rng: np.random.Generator, depth: int) -> Expr:
  """One operand: an atom, maybe scripted, or a structure when depth allows."""
  u = rng.random() if depth > 0 else 0.0
  if u < 0.45:
    base = _atom(rng)
    v = rng.random()
    if v < 0.2:
      return Expr("script", children=(base, None, _small(rng, depth - 1)))
    if v < 0.32:
      return Expr("script", children=(base, _small(rng, depth - 1), None))
    if v < 0.38:
      return Expr("script", children=(base, _small(rng, depth - 1), _small(rng, depth - 1)))
    return base
  if u < 0.6:
    return Expr("frac", children=(_expression(rng, depth - 1, 1, 3),
                                  _expression(rng, depth - 1, 1, 3)))
  if u < 0.7:
    return Expr("sqrt", children=(_expression(rng, depth - 1, 1, 3),))
  if u < 0.82:
    opening = str(rng.choice(list(_BRACKETS), p=[0.6, 0.2, 0.1, 0.1]))
    inner = Expr("bracket", opening, (_expression(rng, depth - 1, 2, 3),))
    if rng.random() < 0.3:
      return Expr("script", children=(inner, None, _small(rng, 0)))
    return inner
  if u < 0.92:
    op = str(rng.choice(["\\sum", "\\sum", "\\int", "\\int", "\\prod"]))
    limits = (_small(rng, depth - 1), _small(rng, depth - 1)) if rng.random() < 0.8 else (
        None, None)
    body = _expression(rng, depth - 1, 1, 2)
    if op == "\\int":
      body = _row(body, _sym("d"), _letter(rng))
    return _row(Expr("op", op, limits), body)
  function = _sym(str(rng.choice(FUNCTIONS)))
  argument = _atom(rng) if rng.random() < 0.5 else Expr(
      "bracket", "(", (_expression(rng, depth - 1, 1, 2),))
  return _row(function, argument)


def _expression(rng: np.random.Generator, depth: int, low: int, high: int) -> Expr:
  """`low..high` terms joined by binary operators (or juxtaposed: `2 x`)."""
  n = int(rng.integers(low, high + 1))
  items = [_term(rng, depth)]
  for _ in range(n - 1):
    if rng.random() < 0.8:
      items.append(_sym(str(rng.choice(_OPERATORS))))
    items.append(_term(rng, depth))
  return items[0] if len(items) == 1 else _row(*items)


def sample_expression(rng: np.random.Generator, *, depth: int = 2) -> Expr:
  """A random expression: an equation or relation half the time, else a term sum."""
  left = _expression(rng, depth, 1, 3)
  if rng.random() < 0.5:
    return _row(left, _sym(str(rng.choice(_RELATIONS))), _expression(rng, depth, 1, 3))
  return left


def to_latex(expr: Expr) -> str:
  """The LaTeX of an expression (normalise it for the label)."""
  def braced(e: Expr) -> str:
    return "{" + to_latex(e) + "}"

  if expr.kind == "sym":
    return expr.token
  if expr.kind == "row":
    return " ".join(to_latex(c) for c in expr.children)
  if expr.kind == "frac":
    return "\\frac" + braced(expr.children[0]) + braced(expr.children[1])
  if expr.kind == "sqrt":
    return "\\sqrt" + braced(expr.children[0])
  if expr.kind == "bracket":
    return f"{expr.token} {to_latex(expr.children[0])} {_BRACKETS[expr.token]}"
  base = to_latex(expr.children[0]) if expr.kind == "script" else expr.token
  sub, sup = expr.children[-2:]
  return base + (f"_{braced(sub)}" if sub else "") + (f"^{braced(sup)}" if sup else "")


# ---------------------------------------------------------------------------
# Layout.
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Box:
  """Laid-out strokes in x-heights, y down from the baseline, x from the left edge.

  Attributes:
    strokes: pen strokes `[n, 2]` in writing order.
    tokens: the LaTeX token each stroke draws (a fraction's bar: `\\frac`).
    symbol_starts: indices into `strokes` where a new symbol begins.
    width: advance width.
    top: highest point (negative: above the baseline).
    bottom: lowest point.
    left: the left edge (the box spans left .. left + width).
  """

  strokes: list[np.ndarray]
  tokens: list[str]
  symbol_starts: list[int]
  width: float
  top: float
  bottom: float
  left: float = 0.0

  def moved(self, dx: float, dy: float, scale: float = 1.0) -> _Box:
    return _Box([s * scale + [dx, dy] for s in self.strokes], self.tokens,
                list(self.symbol_starts),
                self.width * scale, self.top * scale + dy, self.bottom * scale + dy,
                self.left * scale + dx)


def _merge(boxes: list[_Box], width: float) -> _Box:
  strokes, tokens, starts = [], [], []
  for box in boxes:
    starts += [len(strokes) + i for i in box.symbol_starts]
    strokes += box.strokes
    tokens += box.tokens
  return _Box(strokes, tokens, starts, width, min(b.top for b in boxes),
              max(b.bottom for b in boxes))


def _glyph_box(font: str, key: str, token: str, style: synthetic.WriterStyle,
               rng: np.random.Generator) -> _Box:
  """One symbol, with the writer's size and baseline jitter (in-glyph pen moves joined)."""
  glyph = synthetic.glyph(font, key)
  scale = _FONT_SCALE.get(font, 1.0) * np.exp(rng.normal(0.0, style.size_jitter))
  offset = rng.normal(0.0, style.offset_jitter)
  pieces = np.split(glyph.points * scale + [0.0, offset],
                    np.cumsum(glyph.stroke_lengths)[:-1])
  strokes = [pieces[0]]
  for piece in pieces[1:]:  # Hershey lifts the pen where a writer would not.
    if np.hypot(*(piece[0] - strokes[-1][-1])) < 0.15:
      strokes[-1] = np.concatenate([strokes[-1], piece[1:]])
    else:
      strokes.append(piece)
  points = glyph.points * scale + [0.0, offset]
  return _Box(strokes, [token] * len(strokes), [0], glyph.width * scale * style.width_scale,
              min(points[:, 1].min(), -1.0 * scale), max(points[:, 1].max(), 0.0))


def _symbol(token: str, style: synthetic.WriterStyle, rng: np.random.Generator) -> _Box:
  if token in GREEK:
    return _glyph_box("greek", GREEK[token], token, style, rng)
  if token in SIGNS:
    return _glyph_box("mathlow", SIGNS[token], token, style, rng)
  if token in FUNCTIONS:  # \sin: its letters, close together, all of them `\sin`.
    box = _row_box([_symbol(c, style, rng) for c in token[1:]], 0.05)
    return dataclasses.replace(box, tokens=[token] * len(box.strokes))
  key = token[1:] if token.startswith("\\") else token  # \{ \} -> { }.
  return _glyph_box(style.font_for(key), key, token, style, rng)


def _row_box(boxes: list[_Box], gap: float = _GAP, wide: frozenset[int] = frozenset()
             ) -> _Box:
  placed, x = [], 0.0
  for i, box in enumerate(boxes):
    x += _WIDE_GAP if i in wide and i else 0.0
    placed.append(box.moved(x, 0.0))
    x += box.width + (_WIDE_GAP if i in wide else gap)
  return _merge(placed, x - gap)


def _stroke_box(points: list[tuple[float, float]], token: str) -> _Box:
  """A drawn line (fraction bar, radical) as a box of one stroke."""
  stroke = np.array(points, np.float64)
  return _Box([stroke], [token], [0], stroke[:, 0].max(), stroke[:, 1].min(),
              stroke[:, 1].max())


def _stretched(token: str, top: float, bottom: float, style: synthetic.WriterStyle,
               rng: np.random.Generator) -> _Box:
  """A bracket drawn from `top` to `bottom`, narrower than its glyph scaled up."""
  box = _symbol(token, style, rng)
  height = max(box.bottom - box.top, 1e-6)
  sy = (bottom - top) / height
  sx = np.sqrt(sy)
  strokes = [np.stack([(s[:, 0]) * sx, (s[:, 1] - box.top) * sy + top], 1)
             for s in box.strokes]
  return _Box(strokes, box.tokens, [0], box.width * sx, top, bottom)


def _layout(expr: Expr, style: synthetic.WriterStyle, rng: np.random.Generator) -> _Box:
  kind, kids = expr.kind, expr.children
  if kind == "sym":
    return _symbol(expr.token, style, rng)
  if kind == "row":
    wide = frozenset(i for i, c in enumerate(kids) if c.kind == "sym" and (
        c.token in _RELATIONS or c.token in _OPERATORS and c.token != ","))
    return _row_box([_layout(c, style, rng) for c in kids], wide=wide)
  if kind == "frac":
    num, den = (_layout(c, style, rng).moved(0, 0, 0.9) for c in kids)
    width = max(num.width, den.width) + 0.4
    bar = _AXIS + rng.normal(0.0, 0.05)
    parts = [num.moved((width - num.width) / 2, bar - 0.3 - num.bottom),
             _stroke_box([(0.05, bar), (width - 0.05, bar + rng.normal(0.0, 0.04))],
                         "\\frac"),
             den.moved((width - den.width) / 2, bar + 0.3 - den.top)]
    return _merge(parts, width)
  if kind == "sqrt":
    body = _layout(kids[0], style, rng)
    top, bottom = body.top - 0.3, body.bottom + 0.1
    mid = bottom - 0.45 * (bottom - top)
    right = 0.75 + body.width + 0.15
    radical = _stroke_box([(0.0, mid + 0.1), (0.2, mid), (0.45, bottom), (0.7, top),
                           (right, top + rng.normal(0.0, 0.03))], "\\sqrt")
    return _merge([radical, body.moved(0.75, 0.0)], right + 0.05)
  if kind == "bracket":
    body = _layout(kids[0], style, rng)
    top, bottom = min(body.top, -1.4) - 0.15, max(body.bottom, 0.2) + 0.15
    left = _stretched(expr.token, top, bottom, style, rng)
    right = _stretched(_BRACKETS[expr.token], top, bottom, style, rng)
    return _row_box([left, body, right], 0.12)
  if kind == "script":
    base = _layout(kids[0], style, rng)
    return _scripts(base, kids[1], kids[2], style, rng, beside=True)
  # A big operator: a large glyph centred on the axis, limits above and below (or beside
  # for integrals).
  glyph = _symbol(expr.token, style, rng)
  size = _BIG_OPERATOR / max(glyph.bottom - glyph.top, 1e-6)
  centre = (glyph.top + glyph.bottom) / 2 * size
  big = glyph.moved(0.0, _AXIS - centre, size)
  return _scripts(big, kids[0], kids[1], style, rng, beside=expr.token == "\\int")


def _scripts(base: _Box, sub: Expr | None, sup: Expr | None,
             style: synthetic.WriterStyle, rng: np.random.Generator, beside: bool) -> _Box:
  """`base` with a subscript and/or superscript beside it, or limits under and over it."""
  parts, width = [base], base.width
  for script, above in ((sub, False), (sup, True)):
    if script is None:
      continue
    box = _layout(script, style, rng).moved(0, 0, _SCRIPT)
    if beside:
      y = (min(base.top + 0.55, -0.9) if above else max(base.bottom + 0.1, 0.4))
      x = base.width + 0.08
      width = max(width, x + box.width)
      parts.append(box.moved(x, y + rng.normal(0.0, 0.05)))
    else:  # Centred on the operator, which moves right if a limit is wider.
      y = base.top - 0.2 - box.bottom if above else base.bottom + 0.2 - box.top
      parts.append(box.moved((base.width - box.width) / 2, y))
  if not beside:
    left = min(0.0, *(p.left for p in parts))
    parts = [p.moved(-left, 0.0) for p in parts]
    width = max(p.left + p.width for p in parts)
  return _merge(parts, width)


def write_expression(expr: Expr, style: synthetic.WriterStyle, rng: np.random.Generator
                     ) -> tuple[Ink, list[str]]:
  """(Ink of `expr` as `style` writes it (whiteboard units, y down, t in seconds), the
  normalised LaTeX token each of its strokes draws)."""
  box = _layout(expr, style, rng)
  lengths = np.array([len(s) for s in box.strokes])
  xy = np.concatenate(box.strokes)
  xy[:, 0] -= style.slant * xy[:, 1]  # The writer's lean, about the baseline.
  new_symbol = np.zeros(len(lengths), bool)
  new_symbol[box.symbol_starts] = True
  ink = synthetic.write_strokes(xy, lengths, new_symbol, style, rng)
  return ink, [latex.normalize(t) for t in box.tokens]


def sample(rng: np.random.Generator, style: synthetic.WriterStyle, *, depth: int = 2,
           max_tokens: int = 64) -> tuple[str, Ink, list[str]]:
  """(LaTeX, ink, each stroke's token) of a random expression whose normalised label has
  <= max_tokens tokens."""
  while True:
    expr = sample_expression(rng, depth=depth)
    text = to_latex(expr)
    if len(latex.tokenize(latex.normalize(text))) <= max_tokens:
      return (text, *write_expression(expr, style, rng))
