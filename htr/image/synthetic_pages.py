"""Synthetic pages: a layout (`htr.image.page_layouts`) written and printed on paper and
photographed (`htr.image.page_effects`), with every line's outline, baseline, type,
region, reading order and text: page-layout ground truth that needs no download.

Handwriting is synthetic ink (`htr.ink.synthetic`: Hershey stroke fonts, random writer
styles) drawn at the slot's x-height with a pen of the writer's width; its outline and
baseline come from the strokes, as `htr.ink.page_render` takes them for IAM-OnDB forms.
Print (letterheads, headings, form labels) and typewriting (typed letters, one glyph at a
time on a fixed pitch, each a little off its line and unevenly inked) use the FreeType
font that Pillow embeds (`ImageFont.load_default(size=...)`, Pillow >= 10.1), so nothing
is downloaded or shipped; their outline is the text's box, their baseline the font's.
Coordinates are page pixels with pixel centres at integers, as `page_records` stores them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from htr.errors import InputError
from htr.image import lines, page_effects
from htr.image.page_layouts import Layout, Slot
from htr.image.page_model import Line, Page
from htr.ink import page_render, synthetic
from htr.ink import render as render_lib
from htr.ink.ink import Ink

_CLOSINGS = ("Yours sincerely,", "Yours faithfully,", "Yours truly,", "With best wishes,",
             "Kind regards,", "Love,", "Best wishes,", "Sincerely,", "Yours ever,")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_LABELS = ("Name", "Surname", "First name", "Address", "Town", "Date of birth", "Telephone",
           "Occupation", "Date", "Reference", "Nationality", "Place of birth", "Employer",
           "Amount", "Account No.", "Purpose of visit", "Remarks", "Subject", "Department")
_TITLES = ("APPLICATION FORM", "Registration", "Order Form", "Visitor's Record",
           "Membership Application", "Claim Form", "Change of Address", "Questionnaire")
_SUFFIXES = (" & Co.", " Ltd.", " and Sons", " Brothers", " Society", " College", "")
_HAND_COLOURS = (np.array([0.05, 0.05, 0.1]), np.array([0.08, 0.12, 0.45]),
                 np.array([0.15, 0.2, 0.55]), np.array([0.25, 0.25, 0.28]))
_NOTE_COLOURS = (np.array([0.7, 0.1, 0.1]), np.array([0.35, 0.35, 0.38]),
                 np.array([0.1, 0.3, 0.6]))
_PAD = 3.0  # Pixels of outline around a printed line's box.


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
  """Pillow's embedded FreeType font at `size` pixels.

  Raises:
    InputError: Pillow built without FreeType (its bitmap font has one size only).
  """
  loaded = ImageFont.load_default(size=size)
  if not isinstance(loaded, ImageFont.FreeTypeFont):
    raise InputError("printed lines need Pillow with FreeType (ImageFont.load_default(size=)"
                     " returned a bitmap font)")
  return loaded


def _words(rng: np.random.Generator, count: int) -> list[str]:
  """Capitalised words (names, streets, firms)."""
  text = synthetic.sample_line(rng, min_words=count, max_words=count)
  words = [w.strip(".,;:?!'\"()-") for w in text.split()]
  return [w[:1].upper() + w[1:] for w in words if w.isalpha()] or ["Smith"]


def _name(rng: np.random.Generator) -> str:
  surname = _words(rng, 1)[0]
  initial = chr(ord("A") + int(rng.integers(26)))
  return f"{initial}. {surname}" if rng.random() < 0.6 else f"{_words(rng, 1)[0]} {surname}"


def _date(rng: np.random.Generator) -> str:
  day, month, year = int(rng.integers(1, 29)), int(rng.integers(12)), int(rng.integers(1900, 2000))
  return (f"{day} {_MONTHS[month]} {year}" if rng.random() < 0.6 else
          f"{day}.{month + 1}.{year % 100:02d}" if rng.random() < 0.5 else
          f"{_MONTHS[month]} {day}, {year}")


def _text(slot: Slot, rng: np.random.Generator, chars: int) -> str:
  """What a slot says: by its region (a date, a salutation, a form label...), else
  running text of about `chars` characters."""
  role = slot.region
  if role == "date":
    return _date(rng)
  if role == "salutation":
    return f"Dear {_name(rng) if rng.random() < 0.5 else _words(rng, 1)[0]},"
  if slot.kind == "signature":
    return _name(rng)
  if role == "closing":
    return str(rng.choice(_CLOSINGS)) if slot.kind == "handwritten" else _name(rng)
  if role == "title":
    return str(rng.choice(_TITLES))
  if role == "letterhead":
    if slot.bold:
      return " ".join(_words(rng, int(rng.integers(1, 3)))) + str(rng.choice(_SUFFIXES))
    if slot.align == "right" or rng.random() < 0.4:
      return f"Telephone {rng.integers(100, 9999)} {rng.integers(1000, 99999)}"
    return f"{rng.integers(1, 200)} {_words(rng, 1)[0]} Street, {_words(rng, 1)[0]}"
  if role.startswith("field") and slot.kind == "printed":
    return str(rng.choice(_LABELS)) + ":"
  chars = max(chars, 3)
  words = max(1, chars // 4)  # More than fit: `max_chars` drops the last ones.
  return synthetic.sample_line(rng, min_words=max(1, words - 2), max_words=words + 1,
                               max_chars=chars)


class _Writer:
  """One hand on the page: its style, pen and colour, and its running estimate of how
  wide a character comes out (in x-heights), to choose how much text fits a line."""

  def __init__(self, style: synthetic.WriterStyle, rng: np.random.Generator,
               colours: Sequence[np.ndarray]):
    self.style = style
    self.pen = rng.uniform(0.1, 0.2)  # Pen width in x-heights.
    self.colour = colours[int(rng.integers(len(colours)))] * rng.uniform(0.7, 1.2)
    self.char_width = 0.9 * style.width_scale + 0.5 * style.letter_spacing + 0.15

  def line(self, slot: Slot, left: float, rng: np.random.Generator
           ) -> tuple[str, np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """(text, float64 `[N, 2]` page points, stroke lengths, pen width in pixels, outline,
    baseline): the line's baseline (its mean height) on the slot's."""
    size = slot.size * (1.3 if slot.kind == "signature" else 1.0)
    room = max(slot.right - left, 4 * size)
    chars = int(room * slot.fill / (self.char_width * size))
    text = _text(slot, rng, chars)
    for _ in range(3):
      ink = synthetic.write_line(text, self.style, rng)
      xy = ink.points[:, :2].astype(np.float64) * (size / self.style.x_height)
      width = float(np.ptp(xy[:, 0]))
      self.char_width = 0.7 * self.char_width + 0.3 * width / size / max(len(text), 1)
      if width <= room or " " not in text:
        break
      text = text.rsplit(" ", 1)[0]  # Too wide by far: a word less.
    if width > room:  # Slightly too wide: written a little narrower.
      xy[:, 0] *= room / width
      width = room
    pen = max(1.0, self.pen * size)
    polygon, baseline = _hand_geometry(xy, ink.stroke_lengths, pen)
    x = {"left": left, "right": slot.right - width,
         "centre": (left + slot.right - width) / 2}[slot.align]
    shift = np.array([x - xy[:, 0].min(), slot.baseline - baseline[:, 1].mean()])
    return text, xy + shift, ink.stroke_lengths, pen, polygon + shift, baseline + shift


def _paste(layer: np.ndarray, xy: np.ndarray, lengths: np.ndarray, pen: float
           ) -> np.ndarray:
  """Draws strokes at page coordinates `xy` into `layer` (float `[H, W]`, in place);
  returns how far the points were moved down (under a pixel, onto the page's grid)."""
  # `render` puts point p at p - lo + padding + pen / 2 (pixel corners; page pixel
  # centres are corners + 0.5). A padding in [2, 3) puts x on the page's grid; y, which
  # shares the padding, is moved down by under a pixel instead.
  lo = xy.min(0)
  x0 = np.floor(lo[0] + 0.5 - pen / 2 - 2.0)
  padding = float(lo[0] + 0.5 - pen / 2 - x0)
  y0 = np.ceil(lo[1] - padding - pen / 2 + 0.5)
  down = float(y0 + padding + pen / 2 - 0.5 - lo[1])
  xy = xy + [0.0, down]
  drawn = render_lib.render(Ink(np.c_[xy, np.zeros(len(xy))].astype(np.float32), lengths),
                            scale=1.0, pen_width=pen, padding=padding, supersample=2)
  x0, y0 = int(x0), int(y0)
  h, w = layer.shape
  top, left = max(y0, 0), max(x0, 0)
  bottom, right = min(y0 + drawn.shape[0], h), min(x0 + drawn.shape[1], w)
  if bottom > top and right > left:
    piece = drawn[top - y0:bottom - y0, left - x0:right - x0].astype(np.float32) / 255
    np.maximum(layer[top:bottom, left:right], piece, out=layer[top:bottom, left:right])
  return down


def _hand_geometry(xy: np.ndarray, lengths: np.ndarray, pen: float
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(outline, baseline) of handwriting at page coordinates, as `page_render` draws
  IAM-OnDB forms' lines."""
  height = max(page_render.ink_height(xy), pen)
  step = max(8.0, height / 3)
  polygon = page_render.outline(page_render.densify(xy, lengths, step / 4), step=step,
                                pad=pen / 2 + 3)
  return polygon, page_render.baseline(xy, lengths, height=height)


def _print(draw: ImageDraw.ImageDraw, slot: Slot, left: float, rng: np.random.Generator
           ) -> tuple[str, np.ndarray, np.ndarray, float]:
  """Draws a printed or typewritten line; (text, outline, baseline, right end)."""
  size = max(6, int(round(slot.size)))
  face = font(size)
  typed = slot.kind == "typewritten"
  advance = 0.6 * size  # Typewriter pitch: every character as wide.
  room = max(slot.right - left, 4 * size)
  chars = int(room * slot.fill / (advance if typed else 0.5 * size))
  text = _text(slot, rng, chars)

  def width(t: str) -> float:
    return len(t) * advance if typed else face.getlength(t)

  while width(text) > room and " " in text:
    text = text.rsplit(" ", 1)[0]
  while width(text) > room and len(text) > 1:
    text = text[:-1]
  x = {"left": left, "right": slot.right - width(text),
       "centre": (left + slot.right - width(text)) / 2}[slot.align]
  y = slot.baseline
  if typed:
    boxes = []
    for k, char in enumerate(text):
      if char == " ":
        continue
      at = (x + k * advance, y + rng.normal(0, 0.04 * size))
      draw.text(at, char, font=face, fill=int(rng.uniform(150, 255)), anchor="ls")
      boxes.append(draw.textbbox(at, char, font=face, anchor="ls"))
    box = np.array(boxes or [(x, y - size / 2, x + 1, y)], np.float64)
    left_, top, right, bottom = box[:, 0].min(), box[:, 1].min(), box[:, 2].max(), box[:, 3].max()
  else:
    stroke = 1 if slot.bold and size >= 18 else 0
    draw.text((x, y), text, font=face, fill=255, anchor="ls", stroke_width=stroke,
              stroke_fill=255)
    left_, top, right, bottom = draw.textbbox((x, y), text, font=face, anchor="ls",
                                              stroke_width=stroke)
  left_, top, right, bottom = left_ - _PAD, top - _PAD, right + _PAD, bottom + _PAD
  polygon = np.array([[left_, top], [right, top], [right, bottom], [left_, bottom]])
  return text, polygon, np.array([[left_ + _PAD, y], [right - _PAD, y]]), float(right)


def _rules(draw: ImageDraw.ImageDraw, layout: Layout) -> None:
  for x0, y, x1, dotted in layout.rules:
    if dotted:
      for x in np.arange(x0, x1, 6.0):
        draw.line([(x, y), (min(x + 2.0, x1), y)], fill=200, width=1)
    else:
      draw.line([(x0, y), (x1, y)], fill=230, width=2)


def draw_page(layout: Layout, writers: Sequence[synthetic.WriterStyle],
              rng: np.random.Generator, *, page_id: str = "") -> tuple[np.ndarray, Page]:
  """A layout written by `writers` (the author, then an annotator) on paper and taken by
  a scanner or camera. Line ids are "<page_id>-l000", "<page_id>-l001"... in order.

  Returns:
    (uint8 `[H, W, 3]` picture; its Page: one line per slot, in the layout's reading
    order, with outline, baseline, text, type and region; `image` is "").

  Raises:
    InputError: fewer writers than the layout's slots name.
  """
  needed = max(slot.writer for slot in layout.slots) + 1
  if len(writers) < needed:
    raise InputError(f"the layout needs {needed} writers, {len(writers)} given")
  shape = (layout.height, layout.width)
  hands = [_Writer(style, rng, _HAND_COLOURS if k == 0 else _NOTE_COLOURS)
           for k, style in enumerate(writers[:needed])]
  layers = [np.zeros(shape, np.float32) for _ in hands]
  printed = Image.new("L", (layout.width, layout.height), 0)
  draw = ImageDraw.Draw(printed)
  _rules(draw, layout)
  geometry = []
  end = 0.0  # The right end of the previous line (for a form's value after its label).
  for slot in layout.slots:
    left = end + slot.follows if slot.follows else slot.left
    if slot.kind in ("handwritten", "signature"):
      hand = hands[slot.writer]
      text, xy, lengths, pen, polygon, baseline = hand.line(slot, left, rng)
      down = _paste(layers[slot.writer], xy, lengths, pen)
      polygon, baseline = polygon + [0, down], baseline + [0, down]
      end = float(xy[:, 0].max())
    else:
      text, polygon, baseline, end = _print(draw, slot, left, rng)
    geometry.append((slot, text, polygon, baseline))

  sheet = page_effects.paper(shape, rng, ruling=layout.paper, pitch=layout.pitch,
                             first_rule=layout.first_rule, margin_rule=layout.margin_rule)
  for _ in range(rng.poisson(0.5)):
    page_effects.stain(sheet, rng)
  layers.append(np.asarray(printed, np.float32) * np.float32(1 / 255))
  colours = [hand.colour for hand in hands] + [np.full(3, rng.uniform(0.0, 0.12))]
  for k, (colour, layer) in enumerate(zip(colours, layers)):
    if k < len(hands):  # Pen pressure varies along the writing.
      layer *= 0.7 + 0.3 * lines.smooth_field(shape, 40.0, rng)
    alpha = layer[..., None]
    sheet *= 1 - alpha
    sheet += colour.astype(np.float32) * alpha
  pixels, matrix = page_effects.photograph(sheet, rng)

  clip = [layout.width - 1, layout.height - 1]
  page_lines = []
  for order, (slot, text, polygon, baseline) in enumerate(geometry):
    polygon = np.clip(page_effects.apply_homography(matrix, polygon), 0, clip)
    baseline = np.clip(page_effects.apply_homography(matrix, baseline), 0, clip)
    line_id = f"{page_id}-l{order:03d}" if page_id else f"l{order:03d}"
    page_lines.append(Line(line_id, polygon, baseline, text, slot.kind, order,
                           slot.region))
  return pixels, Page("", layout.width, layout.height, tuple(page_lines), "")
