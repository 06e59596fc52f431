"""Layouts of synthetic pages: where each line of a letter, a note, a form, a two-column
page or an annotated page goes, in reading order, before anything is written or drawn.

A layout is geometry only: line slots (where a line starts, its baseline, the room it
may fill, its size, its kind: handwritten, printed, typewritten or a signature), ruled or
squared paper, and rules drawn on the page (a letterhead's rule, a form's field lines).
`htr.image.synthetic_pages` fills the slots with text and draws them.

Every kind of page comes in `TEMPLATES` templates: a template fixes the page's proportions
(margins, sizes, line pitch, column widths, letterhead style, paper) and each page varies
around it. Splits take disjoint templates (`split_templates`), so test pages are laid out
in ways never seen in training, not merely by other seeds.

The slots are listed in the true reading order, which is XY-cut's
(`htr.image.reading_order`, default settings) wherever XY-cut is right for the page:
letterheads and headings first; two columns left then right (a heading or footer across
them before or after); form labels each before their value (a row read left to right;
XY-cut reads labels that end at about the same x as one column, their values as another).
Marginal notes are placed where XY-cut reads them: a note in the left margin starts level
with the first line of the paragraph it annotates (a quarter line above) and is read just
before that paragraph; notes in the right margin (starting a line into their paragraph)
are read after the whole main column.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from htr.errors import InputError

KINDS = ("letter", "note", "form", "two_column", "marginalia")
TEMPLATES = 16  # Templates per kind.
# Template ids per split: train, validation, test (disjoint).
_SPLIT_TEMPLATES = ((0, 12), (12, 14), (14, 16))
_TEMPLATE_STREAM = 71  # Seed stream of template parameters.


@dataclasses.dataclass(frozen=True)
class Slot:
  """One line to write.

  Attributes:
    kind: "handwritten", "signature" (handwritten, by the page's writers), "printed"
      (a letterhead, heading or form label) or "typewritten" (a typed letter's body).
    left, right: the room the line may use, in page pixels.
    baseline: the baseline's y in page pixels.
    size: the x-height (handwriting) or the font size (print), in pixels.
    region: the id of the block the line belongs to.
    align: "left", "right" or "centre" within the room.
    fill: the fraction of the room the text should take (a paragraph's last line is short).
    writer: which of the page's writers writes it (0 the author, 1 an annotator).
    text: fixed text (a form label, a closing); "" draws text at random.
    follows: the line starts this many pixels after the previous line's end (a form's
      value after its label; `left` is then ignored); 0 for none.
    bold: print drawn heavier (headings).
  """

  kind: str
  left: float
  right: float
  baseline: float
  size: float
  region: str
  align: str = "left"
  fill: float = 1.0
  writer: int = 0
  text: str = ""
  follows: float = 0.0
  bold: bool = False


@dataclasses.dataclass(frozen=True)
class Layout:
  """A page before it is written.

  Attributes:
    kind: one of KINDS.
    template: the template's id (per kind).
    width, height: the page size in pixels.
    paper: "plain", "ruled" or "squared".
    pitch: the ruling's spacing in pixels (ruled and squared paper; 0 for plain).
    first_rule: the y of the first ruled line.
    margin_rule: x of a ruled margin line (ruled paper), or -1.
    slots: the lines, in reading order.
    rules: (x0, y, x1, dotted) lines drawn on the page (letterhead rules, form fields).
  """

  kind: str
  template: int
  width: int
  height: int
  paper: str
  pitch: float
  first_rule: float
  margin_rule: float
  slots: tuple[Slot, ...]
  rules: tuple[tuple[float, float, float, bool], ...] = ()


def split_templates(split_index: int) -> range:
  """The template ids of split `split_index` (0 train, 1 validation, 2 test)."""
  if not 0 <= split_index < len(_SPLIT_TEMPLATES):
    raise InputError(f"split index {split_index} is not 0, 1 or 2")
  return range(*_SPLIT_TEMPLATES[split_index])


@dataclasses.dataclass(frozen=True)
class _Template:
  """A template's fixed proportions (fractions of the page width unless said)."""

  aspect: float  # height / width.
  margins: tuple[float, float, float, float]  # left, top, right, bottom.
  x_height: float  # Handwriting x-height, pixels per 1,000 page pixels of width.
  pitch: float  # Handwritten line pitch in x-heights.
  paragraph_gap: int  # Blank lines between paragraphs (0 or 1).
  indent: float  # First-line indent of a paragraph, in x-heights.
  paper: str
  letterhead: str  # "none", "centre", "left" or "row".
  font: float  # Body font size (typewriting, labels), per 1,000 pixels of width.
  typed: bool  # The body is typewritten (letters, two columns).
  gutter: float  # Two columns: the gap between them.
  split: float  # Two columns: the left column's share of the text width.
  heading: bool
  footer: bool
  side: str  # Marginalia: "left" or "right".
  note_width: float  # Marginalia: the notes' column width.


def _template(kind: str, template: int) -> _Template:
  rng = np.random.default_rng([_TEMPLATE_STREAM, KINDS.index(kind), template])
  u = rng.uniform
  paper = str(rng.choice(["plain", "ruled", "squared"],
                         p=[0.3, 0.45, 0.25] if kind in ("note", "marginalia") else
                         [0.7, 0.2, 0.1] if kind in ("letter", "two_column") else [1, 0, 0]))
  typed = kind in ("letter", "two_column") and paper == "plain" and u() < 0.4
  return _Template(
      aspect=float(rng.choice([1.414, 1.294, 1.333, 1.25])),
      margins=(u(0.07, 0.14), u(0.05, 0.09), u(0.06, 0.12), u(0.05, 0.09)),
      x_height=u(12.0, 19.0), pitch=u(3.1, 4.0), paragraph_gap=int(u() < 0.5),
      indent=float(rng.choice([0.0, u(2.0, 6.0)])), paper=paper,
      letterhead=str(rng.choice(["none", "centre", "left", "row"]))
      if paper == "plain" else "none",
      font=u(15.0, 20.0), typed=typed, gutter=u(0.05, 0.09), split=u(0.45, 0.55),
      heading=u() < 0.6, footer=u() < 0.3, side=str(rng.choice(["left", "right"])),
      note_width=u(0.15, 0.22))


class _Builder:
  """Collects slots top to bottom."""

  def __init__(self, t: _Template, width: int, rng: np.random.Generator):
    self.rng = rng
    self.width = width
    self.height = int(round(width * t.aspect))
    jitter = rng.uniform(0.9, 1.1, 4)
    left, top, right, bottom = (m * j for m, j in zip(t.margins, jitter))
    self.left, self.right = left * width, width * (1 - right)
    self.top, self.bottom = top * width, self.height - bottom * width
    scale = width / 1000
    self.xh = t.x_height * scale * rng.uniform(0.92, 1.08)
    self.pitch = t.pitch * self.xh
    self.font = t.font * scale * rng.uniform(0.95, 1.05)
    self.t = t
    self.slots: list[Slot] = []
    self.rules: list[tuple[float, float, float, bool]] = []
    self.y = self.top  # The top of the next line.

  def skip(self, lines: float) -> None:
    """Blank space of `lines` handwritten pitches (whole ones on ruled paper, so that
    handwriting stays on the rules)."""
    self.y += self.pitch * (np.ceil(lines) if self.t.paper != "plain" else lines)

  def room(self, pitch: float) -> bool:
    """Whether a line of this pitch still fits above the bottom margin."""
    return self.y + pitch <= self.bottom

  def hand(self, region: str, left: float, right: float, **kwargs) -> None:
    """A handwritten line in the room at the cursor; moves the cursor down a pitch."""
    self.slots.append(Slot(kwargs.pop("kind", "handwritten"), left, right,
                           self.y + 0.68 * self.pitch, self.xh, region, **kwargs))
    self.y += self.pitch

  def print_line(self, region: str, left: float, right: float, size: float, **kwargs) -> None:
    """A printed line at the cursor; moves the cursor down 1.6 font sizes."""
    self.slots.append(Slot(kwargs.pop("kind", "printed"), left, right,
                           self.y + 1.1 * size, size, region, **kwargs))
    self.y += 1.6 * size

  def paragraphs(self, region: str, left: float, right: float, *, typed: bool,
                 max_lines: int = 1000, bottom: float | None = None) -> list[int]:
    """Paragraphs of 2-7 lines until the room or `max_lines` is used up; returns the
    index of each paragraph's first slot."""
    bottom = self.bottom if bottom is None else bottom
    pitch = 1.7 * self.font if typed else self.pitch
    firsts: list[int] = []
    written = 0
    number = 0
    while self.y + pitch <= bottom and written < max_lines:
      number += 1
      lines = int(self.rng.integers(2, 8))
      firsts.append(len(self.slots))
      for k in range(lines):
        if self.y + pitch > bottom or written >= max_lines:
          break
        indent = self.t.indent * self.xh if k == 0 else 0.0
        last = k == lines - 1
        fill = float(self.rng.uniform(0.2, 0.8)) if last else float(self.rng.uniform(0.88, 1))
        name = f"{region}-p{number}"
        if typed:
          self.slots.append(Slot("typewritten", left + indent, right, self.y + 1.1 * self.font,
                                 self.font, name, fill=fill))
          self.y += pitch
        else:
          self.hand(name, left + indent, right, fill=fill)
        written += 1
      self.y += pitch * self.t.paragraph_gap
    return firsts

  def letterhead(self) -> None:
    style = self.t.letterhead
    if style == "none":
      return
    big = self.font * self.rng.uniform(1.4, 1.9)
    if style == "row":  # The name on the left, a telephone number on the right.
      self.print_line("letterhead", self.left, self.right, big, bold=True, fill=0.5)
      self.slots.append(Slot("printed", self.left, self.right, self.slots[-1].baseline,
                             self.font, "letterhead", align="right", fill=0.3))
    else:
      align = "centre" if style == "centre" else "left"
      self.print_line("letterhead", self.left, self.right, big, align=align, bold=True)
      for _ in range(int(self.rng.integers(1, 3))):
        self.print_line("letterhead", self.left, self.right, self.font, align=align)
    self.rules.append((self.left, self.y + 0.2 * self.font, self.right, False))
    self.y += self.font * self.rng.uniform(1.0, 2.5)


def _letter(b: _Builder) -> None:
  b.letterhead()
  b.hand("date", b.left, b.right, align="right", fill=0.25)
  if b.rng.random() < 0.4:  # The recipient's address.
    for _ in range(int(b.rng.integers(2, 4))):
      b.hand("address", b.left, b.left + 0.45 * (b.right - b.left), fill=0.8)
  b.skip(b.rng.uniform(0.0, 0.8))
  b.hand("salutation", b.left, b.right, fill=0.2)
  closing = 3.5 * b.pitch
  b.paragraphs("body", b.left, b.right, typed=b.t.typed, bottom=b.bottom - closing)
  align = "left" if b.rng.random() < 0.5 else "right"
  room = (b.left, b.right) if align == "left" else (b.left + 0.5 * (b.right - b.left), b.right)
  b.hand("closing", *room, align=align, fill=0.4)
  b.hand("closing", *room, align=align, fill=0.35, kind="signature")
  if b.t.typed and b.room(1.6 * b.font):
    b.print_line("closing", *room, b.font, align=align, fill=0.4, kind="typewritten")


def _note(b: _Builder) -> None:
  if b.t.heading:
    b.hand("heading", b.left, b.right, align="centre", fill=0.3)
  b.paragraphs("body", b.left, b.right, typed=False)


def _form(b: _Builder) -> None:
  width = b.right - b.left
  b.print_line("title", b.left, b.right, b.font * b.rng.uniform(1.3, 1.8), align="centre",
               bold=True)
  for _ in range(int(b.rng.integers(0, 3))):
    b.print_line("instructions", b.left, b.right, 0.85 * b.font, fill=b.rng.uniform(0.7, 1.0))
  b.y += b.font
  pitch = max(b.pitch, 2.2 * b.font)
  row = 0
  while b.y + pitch <= b.bottom - 3 * b.pitch:
    row += 1
    name = f"field{row}"
    baseline = b.y + 0.68 * pitch
    b.slots.append(Slot("printed", b.left, b.right, baseline, b.font, name, fill=0.25))
    b.rules.append((b.left + 0.15 * width, baseline + 0.15 * b.xh, b.right, True))
    if b.rng.random() < 0.85:  # Some fields are left empty.
      b.slots.append(Slot("handwritten", b.left, b.right, baseline, b.xh, name,
                          fill=b.rng.uniform(0.25, 0.6), follows=b.rng.uniform(0.3, 0.8) * b.xh))
    b.y += pitch
    if row >= 6 and b.rng.random() < 0.3:
      break
  if b.room(3 * b.pitch):
    b.skip(0.5)
    b.hand("signature", b.left + 0.5 * width, b.right, fill=0.4, kind="signature")


def _two_column(b: _Builder) -> None:
  t = b.t
  if t.heading:
    if t.typed:
      b.print_line("heading", b.left, b.right, b.font * b.rng.uniform(1.3, 1.8),
                   align="centre", bold=True)
    else:
      b.hand("heading", b.left, b.right, align="centre", fill=b.rng.uniform(0.3, 0.6))
    b.skip(0.5)
  width = b.right - b.left
  gutter = t.gutter * b.width
  middle = b.left + t.split * (width - gutter)
  footer = 1.5 * b.pitch if t.footer else 0.0
  top = b.y
  b.paragraphs("column1", b.left, middle, typed=t.typed, bottom=b.bottom - footer)
  low = b.y
  # The right column starts level with the left one (a column starting higher would be
  # read first) and is shorter or as long.
  b.y = top
  b.paragraphs("column2", middle + gutter, b.right, typed=t.typed,
               bottom=min(b.bottom - footer, low + b.pitch))
  b.y = max(b.y, low)
  if t.footer and b.room(b.pitch):
    b.hand("footer", b.left, b.right, align="centre", fill=b.rng.uniform(0.3, 0.7))


def _marginalia(b: _Builder) -> None:
  t = b.t
  note = t.note_width * b.width
  gap = 0.03 * b.width
  left, right = (b.left + note + gap, b.right) if t.side == "left" else \
      (b.left, b.right - note - gap)
  if t.heading:
    b.hand("heading", left, right, align="centre", fill=0.3)
  firsts = b.paragraphs("body", left, right, typed=False)
  main = b.slots
  if not firsts:
    return
  # Notes by another writer, smaller, beside paragraphs: from a paragraph's first line.
  count = 1 if t.side == "left" else int(b.rng.integers(1, 3))
  chosen = sorted(b.rng.choice(len(firsts), size=min(count, len(firsts)), replace=False))
  notes: list[tuple[int, list[Slot]]] = []
  floor = -np.inf
  room = (b.left, b.left + note) if t.side == "left" else (b.right - note, b.right)
  for number, p in enumerate(chosen, 1):
    # A left note a little above its paragraph, a right one a line below its start:
    # skew or perspective must not lift a right note above the main column's first line
    # (XY-cut would read it first) nor drop a left one below its paragraph's first line.
    baseline = main[firsts[p]].baseline + (-0.25 if t.side == "left" else 0.8) * b.pitch
    if baseline - 1.5 * b.xh < floor:
      continue
    size = b.xh * b.rng.uniform(0.75, 0.9)
    pitch = size * t.pitch
    lines = []
    # Three lines at least: XY-cut takes a column to be 1.5 line heights tall.
    for k in range(int(b.rng.integers(3, 6))):
      y = baseline + k * pitch
      if y + pitch * 0.4 > b.bottom:
        break
      lines.append(Slot("handwritten", *room, y, size, f"note{number}", writer=1,
                        fill=b.rng.uniform(0.6, 1.0)))
    if len(lines) >= 3:
      notes.append((firsts[p], lines))
      floor = lines[-1].baseline + pitch
  if t.side == "left":
    for first, lines in reversed(notes):
      main[first:first] = lines
  else:
    for _, lines in notes:
      main.extend(lines)


_KINDS = {"letter": _letter, "note": _note, "form": _form, "two_column": _two_column,
          "marginalia": _marginalia}


def sample_layout(kind: str, template: int, width: int, rng: np.random.Generator) -> Layout:
  """The layout of one page of `kind` after template `template`, `width` pixels wide
  (its height follows the template's aspect); `rng` draws what varies between pages.

  Raises:
    InputError: an unknown kind or template.
  """
  if kind not in _KINDS:
    raise InputError(f"unknown page kind {kind!r}; known: {', '.join(KINDS)}")
  if not 0 <= template < TEMPLATES:
    raise InputError(f"template {template} is not in 0..{TEMPLATES - 1}")
  t = _template(kind, template)
  b = _Builder(t, width, rng)
  pitch, first_rule, margin_rule = 0.0, 0.0, -1.0
  if t.paper != "plain":
    pitch = b.pitch
    first_rule = b.top + 0.68 * pitch  # Where the first handwritten baseline goes.
    if t.paper == "ruled" and rng.random() < 0.6:
      margin_rule = b.left - 0.02 * width
  _KINDS[kind](b)
  if not b.slots:
    raise InputError(f"a {kind} page of template {template} has no room for a line")
  return Layout(kind, template, b.width, b.height, t.paper, pitch, first_rule, margin_rule,
                tuple(b.slots), tuple(b.rules))
