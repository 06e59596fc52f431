"""LaTeX labels of math ink: tokens, a canonical form, and the token vocabulary.

Tokens follow MathWriting's metric: a command (`\\frac`), an escaped character
(`\\{`, `\\%`, `\\\\`) or one character; whitespace separates but is no token.

`normalize` makes labels written differently for the same expression compare
equal, so CROHME's spaced `$x ^ 2$` and MathWriting's `x^{2}` both become
`x ^ { 2 }`. It parses the tokens into atoms (a token, a `{group}`, a command and
its arguments, a base with scripts) and writes them back canonically: every
argument and script braced, groups that are no argument unwrapped (a script on a
group goes to its last atom: `{(t)}^{l}` is `(t)^{l}` on paper), `_` before `^`,
synonyms unified (`\\to` -> `\\rightarrow`), and what handwriting cannot show
dropped (`\\left`, `\\right`, `\\limits`, spacing, `\\mbox` and `\\mathrm` wrappers).
A label it cannot parse (unbalanced braces: a model's bad guess) still gets the
token-level rewrites, so `normalize` never fails.
"""

from __future__ import annotations

import dataclasses
import re

from htr.text import vocabulary

_TOKEN = re.compile(r"\\[a-zA-Z]+|\\.|\S", re.DOTALL)

# Re-exported: the ids every sequence-to-sequence label uses.
PAD, BOS, EOS, UNK, SPECIALS = (vocabulary.PAD, vocabulary.BOS, vocabulary.EOS, vocabulary.UNK,
                                vocabulary.SPECIALS)

# Same glyphs, different spelling: the second spelling wins.
_SYNONYMS = {
    "\\to": "\\rightarrow", "\\gets": "\\leftarrow", "\\le": "\\leq", "\\ge": "\\geq",
    "\\ne": "\\neq", "\\lt": "<", "\\gt": ">", "\\lbrace": "\\{", "\\rbrace": "\\}",
    "\\lbrack": "[", "\\rbrack": "]", "\\vert": "|", "\\mid": "|", "\\lvert": "|",
    "\\rvert": "|", "\\dfrac": "\\frac", "\\tfrac": "\\frac", "\\land": "\\wedge",
    "\\lor": "\\vee", "\\lnot": "\\neg", "\\owns": "\\ni", "\\dots": "\\ldots",
    "\\varnothing": "\\emptyset", "\\implies": "\\Rightarrow", "\\iff": "\\Leftrightarrow",
    "\\Vert": "\\|", "\\colon": ":",
}
# Tokens that draw nothing of their own: groups and script positions (a fraction's bar
# and a root's sign are drawn, and so count as symbols).
LAYOUT_TOKENS = frozenset({"{", "}", "^", "_"})
# Invisible in handwriting: layout hints and spacing.
_DROPPED = frozenset({
    "\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big",
    "\\bigg", "\\Bigg", "\\biggl", "\\biggr", "\\Biggl", "\\Biggr", "\\limits",
    "\\nolimits", "\\displaystyle", "\\textstyle", "\\scriptstyle", "\\,", "\\;", "\\:",
    "\\!", "\\ ", "\\quad", "\\qquad", "~", "$",
})
# One-argument wrappers that change no handwritten glyph: replaced by their argument.
_UNWRAPPED = frozenset({"\\mbox", "\\text", "\\textrm", "\\mathrm", "\\rm", "\\hbox",
                        "\\operatorname", "\\mathit", "\\textit"})
# Commands with brace arguments, by how many.
_ARITY = {"\\frac": 2, "\\binom": 2, "\\overset": 2, "\\underset": 2, "\\stackrel": 2,
          "\\sqrt": 1, "\\begin": 1, "\\end": 1, **{c: 1 for c in _UNWRAPPED}, **{
              c: 1 for c in (
                  "\\hat", "\\widehat", "\\tilde", "\\widetilde", "\\bar", "\\vec", "\\dot",
                  "\\ddot", "\\overline", "\\underline", "\\overrightarrow",
                  "\\overleftarrow", "\\mathbb", "\\mathcal", "\\mathbf", "\\mathfrak",
                  "\\mathsf", "\\mathscr", "\\boldsymbol", "\\check", "\\breve",
                  "\\acute", "\\grave", "\\overbrace", "\\underbrace", "\\textbf")}}
# Matrix-like environments, all written as `matrix` (their delimiters are kept as tokens).
_MATRIX_DELIMITERS = {"matrix": ("", ""), "array": ("", ""), "pmatrix": ("(", ")"),
                      "bmatrix": ("[", "]"), "Bmatrix": ("\\{", "\\}"),
                      "vmatrix": ("|", "|"), "Vmatrix": ("\\|", "\\|"),
                      "smallmatrix": ("", "")}

# CROHME truths write `$M\ltN$` for `M < N` (MathJax's \lt glued to a letter).
_GLUED_COMPARISON = re.compile(r"\\(lt|gt)([a-zA-Z]+)")
_LT_GT_COMMANDS = frozenset({"\\ltimes", "\\gtrless", "\\gtrsim", "\\gtreqless",
                             "\\gtrapprox", "\\gtrdot"})


def tokenize(latex: str) -> list[str]:
  """`"\\frac{a}{ b}"` -> `["\\frac", "{", "a", "}", "{", "b", "}"]` (MathWriting's tokens)."""
  return _TOKEN.findall(latex)


@dataclasses.dataclass
class _Node:
  """One atom: `token` with brace `args` (or a group when token is "{"), maybe scripts.

  Attributes:
    token: the command or character; "{" for a group, "" for an empty script base.
    args: argument sequences (for a group: its one content sequence).
    optional: the `[...]` argument of `\\sqrt`, if any.
    sub: the subscript sequence, if any.
    sup: the superscript sequence, if any.
  """

  token: str
  args: list[list[_Node]] = dataclasses.field(default_factory=list)
  optional: list[_Node] | None = None
  sub: list[_Node] | None = None
  sup: list[_Node] | None = None


class _ParseError(ValueError):
  pass


# Parses nested deeper (a group or an argument is one or two levels) are given up:
# real expressions nest a handful of levels.
_MAX_DEPTH = 100


class _Parser:
  """Recursive descent over the cleaned token list."""

  def __init__(self, tokens: list[str]):
    self.tokens = tokens
    self.pos = 0
    self.depth = 0

  def peek(self) -> str | None:
    return self.tokens[self.pos] if self.pos < len(self.tokens) else None

  def take(self) -> str:
    if self.pos >= len(self.tokens):
      raise _ParseError("unexpected end")
    self.pos += 1
    return self.tokens[self.pos - 1]

  def _deeper(self, parse, *args):
    """`parse(*args)` one level deeper: Python's recursion (here and in _write) is finite."""
    self.depth += 1
    if self.depth > _MAX_DEPTH:
      raise _ParseError(f"nested deeper than {_MAX_DEPTH}")
    result = parse(*args)
    self.depth -= 1
    return result

  def sequence(self, stop: str | None) -> list[_Node]:
    return self._deeper(self._sequence, stop)

  def atom(self) -> _Node:
    return self._deeper(self._atom)

  def _sequence(self, stop: str | None) -> list[_Node]:
    nodes: list[_Node] = []
    while (token := self.peek()) != stop:
      if token is None:
        raise _ParseError(f"missing {stop!r}")
      if token == "}":
        raise _ParseError("unbalanced '}'")
      if token in ("^", "_"):
        self.take()
        base = nodes[-1] if nodes else None
        if base is None or base.token == "&" or base.token == "\\\\":
          base = _Node("")
          nodes.append(base)
        field = "sup" if token == "^" else "sub"
        if getattr(base, field) is not None:  # x^a^b: a new, empty base.
          base = _Node("")
          nodes.append(base)
        setattr(base, field, self.argument())
        continue
      nodes.append(self.atom())
    return nodes

  def argument(self) -> list[_Node]:
    """A brace group's content, or one atom (`x^2y` is x^{2} y)."""
    if self.peek() == "{":
      self.take()
      content = self.sequence("}")
      self.take()
      return content
    if self.peek() in (None, "}", "^", "_"):
      raise _ParseError("missing argument")
    return [self.atom()]

  def _atom(self) -> _Node:
    token = self.take()
    if token == "{":
      content = self.sequence("}")
      self.take()
      return _Node("{", [content])
    node = _Node(token)
    if token == "\\sqrt" and self.peek() == "[":
      self.take()
      node.optional = self.sequence("]")
      self.take()
    node.args = [self.argument() for _ in range(_ARITY.get(token, 0))]
    if token in _UNWRAPPED:
      return _Node("{", node.args)  # \mbox{x} is written as {x}, i.e. x.
    return node


def _text(nodes: list[_Node]) -> str:
  return "".join(n.token for n in nodes)


def _clean(tokens: list[str]) -> list[str]:
  """Token-level rewrites: synonyms, dropped tokens, `\\ltN` typos."""
  out = []
  for i, token in enumerate(tokens):
    if (glued := _GLUED_COMPARISON.fullmatch(token)) and token not in _LT_GT_COMMANDS:
      out += ["<" if glued[1] == "lt" else ">", *glued[2]]
      continue
    token = _SYNONYMS.get(token, token)
    if token in _DROPPED:
      continue
    if token == "." and i and tokens[i - 1] in ("\\left", "\\right"):
      continue  # The invisible delimiter.
    out.append(token)
  return out


def _matrices(tokens: list[str]) -> list[str]:
  """`\\begin{pmatrix}` ... -> `( \\begin{matrix}` ... `\\end{matrix} )`."""
  out, i = [], 0
  while i < len(tokens):
    if tokens[i] in ("\\begin", "\\end") and i + 1 < len(tokens) and tokens[i + 1] == "{":
      close = tokens.index("}", i) if "}" in tokens[i:] else -1
      name = "".join(tokens[i + 2:close])
      if close > 0 and name in _MATRIX_DELIMITERS:
        left, right = _MATRIX_DELIMITERS[name]
        env = [tokens[i], "{", *"matrix", "}"]
        if tokens[i] == "\\begin":
          out += ([left] if left else []) + env
        else:
          out += env + ([right] if right else [])
        i = close + 1
        if name == "array" and tokens[i:i + 1] == ["{"] and "}" in tokens[i:]:
          i = tokens.index("}", i) + 1  # The column spec: layout only.
        continue
    out.append(tokens[i])
    i += 1
  return out


def _write(nodes: list[_Node], out: list[str]) -> None:
  """Canonical tokens of a sequence: groups that are no argument are unwrapped."""
  for node in nodes:
    if node.token != "{":
      _write_node(node, out)
      continue
    content = _unwrap(node.args[0])
    if node.sub is None and node.sup is None:
      _write(content, out)
    elif content and content[-1].sub is None and content[-1].sup is None:
      # {ab}^{2} looks like ab^{2} on paper: the script goes to the last atom.
      _write(content[:-1] + [dataclasses.replace(content[-1], sub=node.sub, sup=node.sup)],
             out)
    else:  # {x^{2}}^{3}, {}^{14}: the braces say what the script belongs to.
      _write_node(dataclasses.replace(node, args=[content]), out)


def _unwrap(nodes: list[_Node]) -> list[_Node]:
  """`{{x}}` -> `x`: nested groups without scripts around one sequence."""
  while (len(nodes) == 1 and nodes[0].token == "{" and nodes[0].sub is None
         and nodes[0].sup is None):
    nodes = nodes[0].args[0]
  return nodes


def _braced(nodes: list[_Node], out: list[str]) -> None:
  out.append("{")
  _write(nodes, out)
  out.append("}")


def _write_node(node: _Node, out: list[str]) -> None:
  if node.token == "{":
    _braced(node.args[0], out)
  elif node.token in ("\\begin", "\\end"):
    out += [node.token, "{", *_text(node.args[0]), "}"]
  else:
    out += [node.token] if node.token else ["{", "}"]  # An empty base: {}^{14}C.
    if node.optional is not None:
      out.append("[")
      _write(node.optional, out)
      out.append("]")
    for arg in node.args:
      _braced(arg, out)
  for field, mark in (("sub", "_"), ("sup", "^")):
    if (script := getattr(node, field)) is not None:
      out.append(mark)
      _braced(script, out)


def normalize(latex: str) -> str:
  """The canonical form of a label: its normalised tokens joined by one space."""
  tokens = _matrices(_clean(tokenize(latex)))
  parser = _Parser(tokens)
  try:
    nodes = parser.sequence(None)
  except _ParseError:
    return " ".join(tokens)
  out: list[str] = []
  _write(nodes, out)
  return " ".join(out)


class Vocabulary(vocabulary.Vocabulary):
  """LaTeX tokens <-> ids: MathWriting's tokens, joined by one space."""

  separator = " "

  @staticmethod
  def split(text: str) -> list[str]:
    return tokenize(text)
