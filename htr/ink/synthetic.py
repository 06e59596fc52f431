"""Synthetic online handwriting: Hershey stroke fonts, a writer model and pen timing.

The offline default dataset (`datasets/synthetic_ink`) is made of these lines, so
a model can be trained and tested without downloading IAM-OnDB. Three parts:

- Text (`sample_line`): English words by (flattened) frequency with IAM-like
  capitals, numbers and punctuation, always inside `IAM_ONDB_CHARSET`.
- Writers (`WriterStyle`, `sample_writer`): a font (or two, mixed per letter),
  size, slant, spacing, baseline drift, smooth distortion, jitter and pen timing.
  A writer is a fixed draw of these parameters; every line varies around it.
- Ink (`write_line`): Hershey glyph polylines laid out and joined into pen
  strokes (cursive letters connect, i-dots and t-bars may come after the word),
  bent by the writer's distortions, then sampled in time like a digitiser does:
  fast on straight runs, slow in tight curves and at stroke ends (the 2/3 power
  law), with pen-up pauses between strokes. Output is IAM-OnDB-like: integer
  whiteboard coordinates with y down, time in seconds at 10 ms resolution.

Everything is drawn from the `np.random.Generator` passed in, so a line is a
function of its seeds. Geometry is in x-heights until the final scaling to
`WriterStyle.x_height` output units.
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np
import wordfreq
from HersheyFonts import HersheyFonts

from htr.text.alphabet import IAM_ONDB as IAM_ONDB_CHARSET
from htr.errors import InputError
from htr.ink.ink import Ink

# ---------------------------------------------------------------------------
# Fonts.
# ---------------------------------------------------------------------------

# Single-line Hershey fonts that look handwritten (script) or hand-printed
# (futural). The "complex" script font draws thick parts as doubled lines; the
# duplicates are removed on loading (a pen traces a line once). The serif fonts
# (times*) are left out: serifs are many tiny strokes no writer makes.
FONTS = ("cursive", "scripts", "scriptc", "futural")
_FONT_WEIGHTS = (0.2, 0.15, 0.25, 0.4)
# Fonts whose letters are designed to join: each ends where the next begins.
_JOINED_FONTS = frozenset({"cursive", "scripts", "scriptc"})
_DOUBLED_FONTS = frozenset({"scriptc", "futuram", "rowmand"})
# Where a font's missing glyph is taken from: the same look first.
_FALLBACKS = {
    "cursive": ("scripts", "scriptc", "futural"),
    "scripts": ("cursive", "scriptc", "futural"),
    "scriptc": ("scripts", "cursive", "futural"),
    "futural": ("rowmans", "futuram", "scripts"),
}
# Strokes a writer may add after the rest of the word: i/j dots, t/f bars and
# the second stroke of x (always after the rest of their own letter).
_DELAYABLE = {"i": "dots", "j": "dots", "t": "last", "f": "last", "x": "last"}
_DOUBLE_TOLERANCE = 1.6  # Font units: a stroke this close to a longer one is its double.
_DOT_SIZE = 0.25  # x-heights: strokes smaller than this are dots (a short dab).


@dataclasses.dataclass(frozen=True)
class Glyph:
  """One character of a stroke font, ready to lay out (units: x-heights).

  Attributes:
    points: float64 `[n, 2]`: x from the glyph's left edge, y down from the baseline.
    stroke_lengths: int64 `[s]`, Hershey's pen order.
    delayed: bool `[s]`: dots and bars that may be written after the word.
    exits: bool `[s]`: the stroke leaves at the right edge (may join the next letter).
    width: the advance to the next glyph.
    joins: a letter of a joined-script font.
  """

  points: np.ndarray
  stroke_lengths: np.ndarray
  delayed: np.ndarray
  exits: np.ndarray
  width: float
  joins: bool


def _densify(stroke: np.ndarray, step: float = 0.5) -> np.ndarray:
  """Points every `step` along a polyline (for distances to it)."""
  if len(stroke) == 1:
    return stroke
  arc = np.r_[0.0, np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))]
  s = np.linspace(0.0, arc[-1], max(2, int(arc[-1] / step) + 1))
  return np.stack([np.interp(s, arc, stroke[:, 0]), np.interp(s, arc, stroke[:, 1])], 1)


def _drop_doubles(strokes: list[np.ndarray]) -> list[np.ndarray]:
  """Removes strokes that retrace (within 1.6 units) most of a longer kept stroke."""
  dense = [_densify(s) for s in strokes]
  kept = []
  for i in sorted(range(len(strokes)), key=lambda i: -len(dense[i])):
    if kept:
      ref = np.concatenate([dense[j] for j in kept])
      dist = np.sqrt(((dense[i][:, None] - ref[None]) ** 2).sum(-1)).min(1)
      if (dist > _DOUBLE_TOLERANCE).mean() < 0.3:
        continue
    kept.append(i)
  return [strokes[i] for i in sorted(kept)]


@functools.cache
def _font(name: str) -> dict[str, Glyph]:
  """All glyphs of a Hershey font, in x-height units (characters without strokes omitted)."""
  hershey = HersheyFonts()
  hershey.load_default_font(name)
  raw = hershey.all_glyphs
  baseline = hershey.render_options["base_line"]
  # Top of "x" = the x-height line (9 units in the script fonts, 14 in futural).
  x_height = baseline - min(y for s in raw["x"].strokes for _, y in s)
  glyphs = {}
  for char, glyph in raw.items():
    strokes = [np.array(s, np.float64) for s in glyph.strokes]
    if not strokes:
      continue
    if name in _DOUBLED_FONTS:
      strokes = _drop_doubles(strokes)
    strokes = [(s - [glyph.left_offset, baseline]) / x_height for s in strokes]
    dots = np.array([np.ptp(s, axis=0).max() < _DOT_SIZE for s in strokes])
    # A dot becomes a short dab down-right (Hershey draws a tiny polygon).
    strokes = [s.mean(0) + [[0.0, 0.0], [0.03, 0.05]] if d else s
               for s, d in zip(strokes, dots)]
    delayed = np.zeros(len(strokes), bool)
    if len(strokes) > 1 and _DELAYABLE.get(char) == "dots":
      delayed = dots
    elif len(strokes) > 1 and _DELAYABLE.get(char) == "last":
      delayed[-1] = True
    width = glyph.char_width / x_height
    glyphs[char] = Glyph(
        points=np.concatenate(strokes),
        stroke_lengths=np.array([len(s) for s in strokes]),
        delayed=delayed,
        exits=np.array([s[-1, 0] >= width - 0.15 for s in strokes]),
        width=width,
        joins=name in _JOINED_FONTS and char.isalpha())
  return glyphs


@functools.cache
def glyph(font: str, char: str) -> Glyph:
  """`char` in `font`, or in the first fallback font that has it (x-height units)."""
  for name in (font,) + _FALLBACKS.get(font, ()):
    if char in _font(name):
      return _font(name)[char]
  raise InputError(f"no font can draw {char!r} (font {font!r})")


def can_draw(font: str, char: str) -> bool:
  """Whether `write_line` can draw `char` for a writer of `font` (fallbacks included)."""
  try:
    glyph(font, char)
  except InputError:
    return False
  return True


# ---------------------------------------------------------------------------
# Text.
# ---------------------------------------------------------------------------

_VOCABULARY_SIZE = 20_000  # Most frequent English words considered.
# p(word) ~ frequency ** 0.7: flatter than Zipf, so rarer words (and the letters
# they hold: j, q, x, z) appear often enough to be learnt.
_ZIPF_POWER = 0.7
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")  # Letters, maybe one apostrophe: "don't".
# Web-frequent words that have no place in IAM-like text.
_PROFANITY = frozenset("""
    ass asshole bastard bitch bitches bullshit cock crap cunt damn dick dildo fag faggot
    fuck fucked fucker fuckin fucking fucks motherfucker nigga niggas nigger piss porn
    porno pussy retard retarded shit shitty slut tits twat whore wtf""".split())
_TITLES = ("Mr", "Mrs", "Dr", "St", "No")
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Per token: punctuation after it (sentence ends capitalise the next word).
_AFTER = ((",", 0.07), (".", 0.045), (";", 0.006), (":", 0.008), ("?", 0.007),
          ("!", 0.005), ("...", 0.002))
_SENTENCE_END = frozenset({".", "?", "!"})


@functools.cache
def _vocabulary() -> tuple[tuple[str, ...], np.ndarray]:
  """Common English words within the charset and their sampling probabilities."""
  frequencies = wordfreq.get_frequency_dict("en")
  words = [w for w in wordfreq.top_n_list("en", _VOCABULARY_SIZE)
           if _WORD.fullmatch(w) and w.split("'")[0] not in _PROFANITY]
  words = [w.capitalize() if w == "i" or w.startswith("i'") else w for w in words]
  p = np.array([frequencies[w.lower()] for w in words]) ** _ZIPF_POWER
  return tuple(words), p / p.sum()


def _number(rng: np.random.Generator) -> str:
  """A number as people write them in running text."""
  kind = rng.choice(8, p=[0.35, 0.2, 0.18, 0.08, 0.05, 0.05, 0.05, 0.04])
  if kind == 0:
    return str(rng.integers(1, 21))
  if kind == 1:
    return str(rng.integers(21, 1000))
  if kind == 2:
    return str(rng.integers(1900, 2030))
  if kind == 3:
    return f"{rng.integers(0, 100)}.{rng.integers(0, 100)}"
  if kind == 4:
    return f"{rng.integers(1, 100)}%"
  if kind == 5:
    return f"{rng.integers(1, 100)},{rng.integers(0, 1000):03d}"
  if kind == 6:
    n = int(rng.integers(1, 32))
    suffix = "th" if 10 <= n % 100 < 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
  return f"{rng.integers(1, 13)}.{rng.integers(0, 60):02d}"


def _symbol(rng: np.random.Generator, word: str) -> str:
  """The rare characters of the charset, in plausible company."""
  kind, digit = int(rng.integers(8)), int(rng.integers(1, 10))
  return ("&", "+", "*", f"#{digit}", "@", f"[{word}]", f"{word}_{digit}", f"{word}/{digit}")[kind]


def sample_line(rng: np.random.Generator, *, min_words: int = 1, max_words: int = 8,
                max_chars: int | None = None) -> str:
  """A line of English-like text in `IAM_ONDB_CHARSET`, of min..max_words words.

  Words follow (flattened) English frequencies; sentences start with capitals,
  some words look like proper nouns or acronyms; numbers and punctuation are
  attached as in IAM transcriptions, sometimes spaced off ("Mr ." style).
  Trailing words beyond `max_chars` characters are dropped (a whiteboard line
  is only so wide; IAM-OnDB lines have at most 64), but never the first.
  """
  if not 1 <= min_words <= max_words:
    raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
  words, p = _vocabulary()
  n = int(rng.integers(min_words, max_words + 1))
  picks = rng.choice(len(words), size=n, p=p)
  tokens: list[str] = []  # Each with the separator that follows it.
  capital = rng.random() < 0.35  # Lines start mid-sentence more often than not.
  close = ""  # A quote or bracket to close after some token.
  close_at = -1
  for k in range(n):
    word = words[picks[k]]
    u = rng.random()
    if u < 0.04:
      token = _number(rng)
    elif u < 0.055:
      token = _symbol(rng, word)
    elif u < 0.065 and k < n - 1:
      tokens.append(str(rng.choice(_TITLES)) + ". ")
      capital = True  # The name that follows.
      continue
    elif u < 0.08:
      # Initials and acronyms: the only common source of rare capitals (Q, X, Z).
      letters = rng.choice(list(_UPPER), size=int(rng.integers(1, 4)))
      token = ".".join(letters) + "." if rng.random() < 0.5 else "".join(letters)
    else:
      v = rng.random()
      if capital or v < 0.08:
        token = word[0].upper() + word[1:]
      elif v < 0.09 and len(word) <= 5:
        token = word.upper()
      else:
        token = word
      if rng.random() < 0.02 and not token.endswith("'s"):
        token += "'s"
    capital = False
    if not close and rng.random() < 0.035:
      close = str(rng.choice(['"', '"', "'", ")"]))
      token = ("(" if close == ")" else close) + token
      close_at = k + int(rng.integers(0, 3))
    if close and k >= min(close_at, n - 1):
      token += close
      close = ""
    mark = _punctuation(rng)
    if mark:
      token += " " + mark if rng.random() < 0.1 else mark
      capital = mark in _SENTENCE_END
    if k < n - 1 and not mark and rng.random() < 0.02:
      token += "-" if rng.random() < 0.7 else " - "  # well-known / a dash.
    else:
      token += " "
    tokens.append(token)
  while max_chars and len(tokens) > 1 and len("".join(tokens).strip()) > max_chars:
    tokens.pop()
  return "".join(tokens).strip()


def _punctuation(rng: np.random.Generator) -> str:
  u = rng.random()
  for mark, p in _AFTER:
    if u < p:
      return mark
    u -= p
  return ""


# ---------------------------------------------------------------------------
# Writers.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WriterStyle:
  """How one writer writes. Lengths are in x-heights unless said otherwise.

  Attributes:
    font: the Hershey font of most letters.
    alt_font: a second font, for the letters in `alt_chars` (mixed styles).
    alt_chars: the characters this writer draws in `alt_font`.
    x_height: size of the output, in whiteboard units per x-height.
    width_scale: horizontal stretch of every glyph.
    extenders: vertical scale of what lies above the x-height or below the
      baseline (ascenders, descenders, capitals) relative to the font's.
    slant: shear of upright strokes, x per unit of height (> 0 leans right).
    letter_spacing: extra space after every glyph.
    word_spacing: the width of a space.
    size_jitter: std of the log size of each glyph.
    offset_jitter: std of each glyph's vertical offset.
    slant_jitter: std of each glyph's own extra slant.
    spacing_jitter: std of each glyph's extra advance.
    word_jitter: std of each word's vertical offset.
    tilt: std of the whole line's slope (radians).
    drift: amplitude of the baseline's slow wave.
    drift_period: wavelength of the baseline's wave.
    distortion: amplitude of the smooth random displacement field.
    distortion_scale: wavelength of that field.
    jitter: std of per-point noise.
    roundness: half-width, in 0.08 x-height steps, of the smoothing of sharp corners.
    reach: pen moves within a word shorter than this (in the font) do not lift the pen.
    connect_prob: probability that a cursive letter joins the next one.
    lift_prob: probability of lifting the pen where the strokes would join.
    delay_prob: probability that an i-dot or t-bar is written after the word.
    speed: top pen speed, x-heights per second.
    pause: median pen-up pause between strokes, seconds.
    word_pause: extra pause before a new word, seconds.
    sample_rate: digitiser points per second while the pen is down.
    drop_prob: probability that the digitiser misses a point (irregular dt).
  """

  font: str
  alt_font: str
  alt_chars: str
  x_height: float
  width_scale: float
  extenders: float
  slant: float
  letter_spacing: float
  word_spacing: float
  size_jitter: float
  offset_jitter: float
  slant_jitter: float
  spacing_jitter: float
  word_jitter: float
  tilt: float
  drift: float
  drift_period: float
  distortion: float
  distortion_scale: float
  jitter: float
  roundness: int
  reach: float
  connect_prob: float
  lift_prob: float
  delay_prob: float
  speed: float
  pause: float
  word_pause: float
  sample_rate: float
  drop_prob: float

  def font_for(self, char: str) -> str:
    return self.alt_font if char in self.alt_chars else self.font


def sample_writer(rng: np.random.Generator) -> WriterStyle:
  """A random writer, from parameter ranges tuned to look like IAM-OnDB writers."""
  font = str(rng.choice(FONTS, p=_FONT_WEIGHTS))
  others = [f for f in FONTS if f != font]
  # Script writers mostly mix in printed letters.
  alt_font = "futural" if font != "futural" and rng.random() < 0.6 else str(rng.choice(others))
  # Most writers keep to one style; some mix in many letters of another.
  mix = rng.beta(0.6, 3.0)
  chars = IAM_ONDB_CHARSET.strip()
  alt_chars = "".join(c for c, u in zip(chars, rng.random(len(chars))) if u < mix)
  u = rng.uniform
  return WriterStyle(
      font=font,
      alt_font=alt_font,
      alt_chars=alt_chars,
      x_height=u(70.0, 170.0),
      width_scale=float(np.exp(u(np.log(0.7), np.log(1.15)))),
      extenders=u(0.7, 1.05),
      slant=u(-0.15, 0.45),
      letter_spacing=u(-0.1, 0.15),
      word_spacing=u(0.5, 1.3),
      size_jitter=u(0.02, 0.1),
      offset_jitter=u(0.01, 0.08),
      slant_jitter=u(0.0, 0.1),
      spacing_jitter=u(0.0, 0.08),
      word_jitter=u(0.0, 0.15),
      tilt=u(0.0, 0.03),
      drift=u(0.0, 0.3),
      drift_period=u(8.0, 30.0),
      distortion=u(0.02, 0.1),
      distortion_scale=u(1.5, 5.0),
      jitter=u(0.002, 0.015),
      roundness=int(rng.integers(0, 4)),
      reach=u(0.15, 0.75),
      connect_prob=u(0.5, 1.0),
      lift_prob=u(0.0, 0.15),
      delay_prob=u(0.0, 1.0),
      speed=u(7.0, 16.0),
      pause=u(0.08, 0.35),
      word_pause=u(0.05, 0.4),
      sample_rate=u(35.0, 80.0),
      drop_prob=u(0.0, 0.3))


# ---------------------------------------------------------------------------
# Ink.
# ---------------------------------------------------------------------------

_TOUCH = 0.15  # x-heights: stroke ends this close (in the font) are one pen stroke.
_LIGATURE = 1.4  # x-heights: the longest connection from one cursive letter to the next.
_STEP = 0.08  # x-heights: polyline spacing for smoothing, distortion and timing.
_TIME_RESOLUTION = 0.01  # Seconds, as IAM-OnDB timestamps.


def _segments(xy: np.ndarray, starts: np.ndarray) -> np.ndarray:
  """`[N]` length of the segment into each point, 0 at stroke starts."""
  lengths = np.zeros(len(xy))
  lengths[1:] = np.hypot(*np.diff(xy, axis=0).T)
  lengths[starts] = 0.0
  return lengths


def _resample(xy: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Inserts points so that no segment is longer than `_STEP`; returns points, lengths."""
  starts = np.cumsum(lengths) - lengths
  is_start = np.zeros(len(xy), bool)
  is_start[starts] = True
  seg = _segments(xy, is_start)
  counts = np.where(is_start, 1, np.maximum(1, np.ceil(seg / _STEP))).astype(np.int64)
  owner = np.repeat(np.arange(len(xy)), counts)
  k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1
  frac = (k / counts[owner])[:, None]
  prev = np.where(is_start, np.arange(len(xy)), np.arange(len(xy)) - 1)[owner]
  dense = xy[prev] + frac * (xy[owner] - xy[prev])
  stroke = np.repeat(np.arange(len(lengths)), lengths)
  return dense, np.bincount(stroke[owner], minlength=len(lengths))


def _bounds(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """For every point, the index of the first and of the last point of its stroke."""
  first = np.repeat(np.cumsum(lengths) - lengths, lengths)
  return first, first + np.repeat(lengths, lengths) - 1


def _smooth(values: np.ndarray, bounds: tuple[np.ndarray, np.ndarray],
            half_width: int) -> np.ndarray:
  """Moving average within strokes (ends repeated): rounds the font's polygon corners."""
  i = np.arange(len(values))
  out = values.copy()
  for offset in range(1, half_width + 1):
    out += values[np.maximum(i - offset, bounds[0])] + values[np.minimum(i + offset, bounds[1])]
  return out / (2 * half_width + 1)


def _field(xy: np.ndarray, rng: np.random.Generator, amplitude: float,
           wavelength: float) -> np.ndarray:
  """A smooth random displacement: three plane waves per axis."""
  k = 2 * np.pi / (wavelength * rng.uniform(0.6, 1.4, (2, 3)))
  angle = rng.uniform(0.0, 2 * np.pi, (2, 3))
  direction = np.stack([np.cos(angle), np.sin(angle)], -1) * k[..., None]  # [2, 3, 2]
  phase = rng.uniform(0.0, 2 * np.pi, (6, 1))
  waves = np.sin(direction.reshape(6, 2) @ xy.T + phase)  # [6, N]
  weights = rng.normal(0.0, amplitude / np.sqrt(3), (2, 3))
  return np.stack([weights[0] @ waves[:3], weights[1] @ waves[3:]], 1)


def _distance_to_strokes(xy: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """`[S]`: distance from the start of stroke k + 1 to stroke k (inf for the last)."""
  first = np.cumsum(lengths) - lengths
  stroke = np.repeat(np.arange(len(lengths)), lengths)
  target = xy[first[np.minimum(stroke[:-1] + 1, len(lengths) - 1)]]
  a, ab = xy[:-1], np.diff(xy, axis=0)
  along = np.clip(((target - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
  distance = np.hypot(*(a + along[:, None] * ab - target).T)
  distance[stroke[:-1] != stroke[1:]] = np.inf  # Not a segment: joins two strokes.
  distance = np.minimum.reduceat(np.r_[distance, np.inf], first)
  distance[-1] = np.inf
  return distance


def _layout(text: str, style: WriterStyle, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Glyphs placed on the line and joined into pen strokes.

  Returns:
    Points `[N, 2]`, stroke lengths `[S]` and whether each stroke starts a word `[S]`.
  """
  glyphs = [glyph(style.font_for(c), c) if c != " " else None for c in text]
  space = np.array([g is None for g in glyphs])
  word = np.cumsum(space)  # Word index of every glyph (spaces count with the next word).
  kept = np.flatnonzero(~space)
  glyphs = [glyphs[i] for i in kept]
  num = len(text)

  # Per-glyph size, position and slant around the writer's own.
  scale = np.exp(rng.normal(0.0, style.size_jitter, num))
  width = np.full(num, style.word_spacing)
  width[kept] = [g.width for g in glyphs]
  advance = np.where(space, style.word_spacing * np.exp(rng.normal(0.0, 0.2, num)),
                     width * scale * style.width_scale + style.letter_spacing
                     + rng.normal(0.0, style.spacing_jitter, num))
  origin = np.cumsum(advance) - advance
  offset = rng.normal(0.0, style.offset_jitter, num) + rng.normal(
      0.0, style.word_jitter, word[-1] + 1)[word]
  shear = style.slant + rng.normal(0.0, style.slant_jitter, num)
  canonical_origin = np.cumsum(width) - width

  # Strokes in writing order: each letter's dots and bars after its body, or
  # after the whole word (delayed strokes).
  lengths = np.concatenate([g.stroke_lengths for g in glyphs])
  delayed = np.concatenate([g.delayed for g in glyphs])
  exits = np.concatenate([g.exits for g in glyphs])
  joins = np.array([g.joins for g in glyphs])
  sglyph = np.repeat(kept, [len(g.stroke_lengths) for g in glyphs])  # Text index.
  word_end = np.r_[np.flatnonzero(space) - 1, num - 1][word]  # Its word's last glyph.
  late = delayed & (rng.random(len(lengths)) < style.delay_prob)
  order = np.argsort(np.where(late, word_end[sglyph] + 0.75, sglyph + 0.5 * delayed),
                     kind="stable")
  starts = np.cumsum(lengths) - lengths
  lengths, delayed, exits, sglyph = lengths[order], delayed[order], exits[order], sglyph[order]
  local = np.concatenate([g.points for g in glyphs])[
      np.repeat(starts[order] - (np.cumsum(lengths) - lengths), lengths)
      + np.arange(lengths.sum())]
  pglyph = np.repeat(sglyph, lengths)

  # Which consecutive strokes are one pen stroke: the next starts near the end of
  # the last, or on it (the pen goes back along a stem, as in "n"), or a cursive
  # exit runs into the next letter.
  first = np.cumsum(lengths) - lengths
  last = first + lengths - 1
  canonical = local + np.stack([canonical_origin[pglyph], np.zeros(len(pglyph))], 1)
  gap = np.hypot(*(canonical[first[1:]] - canonical[last[:-1]]).T)
  reach = max(_TOUCH, style.reach)
  on_last = _distance_to_strokes(canonical, lengths)[:-1] <= reach
  retrace = on_last & (sglyph[1:] == sglyph[:-1]) & ~delayed[1:]
  same_word = word[sglyph[1:]] == word[sglyph[:-1]]
  g0, g1 = np.searchsorted(kept, sglyph[:-1]), np.searchsorted(kept, sglyph[1:])
  ligature = ((sglyph[1:] == sglyph[:-1] + 1) & exits[:-1] & ~delayed[1:]
              & joins[g0] & joins[g1] & (gap <= _LIGATURE)
              & (rng.random(len(gap)) < style.connect_prob))
  join = same_word & ((gap <= reach) | retrace | ligature)
  join &= rng.random(len(gap)) >= style.lift_prob
  pen_stroke = np.r_[0, np.cumsum(~join)]
  merged = np.bincount(pen_stroke, weights=lengths).astype(np.int64)
  first_stroke = np.r_[True, pen_stroke[1:] != pen_stroke[:-1]]
  stroke_word = word[sglyph[first_stroke]]
  new_word = np.r_[False, stroke_word[1:] != stroke_word[:-1]]

  y = local[:, 1]  # Ascenders above -1 (the x-height line), descenders below 0.
  y = np.where(y < -1.0, style.extenders * (y + 1.0) - 1.0,
               np.where(y > 0.0, style.extenders * y, y))
  x = (local[:, 0] - shear[pglyph] * y) * scale[pglyph] * style.width_scale
  y = y * scale[pglyph] + offset[pglyph]
  return np.stack([x + origin[pglyph], y], 1), merged, new_word


def _timing(xy: np.ndarray, lengths: np.ndarray, bounds: tuple[np.ndarray, np.ndarray],
            style: WriterStyle, rng: np.random.Generator, new_word: np.ndarray) -> np.ndarray:
  """Time of every (dense) point: 2/3 power law speed, slow ends, pen-up pauses."""
  n = len(xy)
  starts = np.cumsum(lengths) - lengths
  is_start = np.zeros(n, bool)
  is_start[starts] = True
  seg = _segments(xy, is_start)
  i = np.arange(n)
  chord_in = xy - xy[np.maximum(i - 2, bounds[0])]
  chord_out = xy[np.minimum(i + 2, bounds[1])] - xy
  turn = np.abs(np.arctan2(chord_in[:, 0] * chord_out[:, 1] - chord_in[:, 1] * chord_out[:, 0],
                           (chord_in * chord_out).sum(1)))
  arc = np.hypot(*chord_in.T) + np.hypot(*chord_out.T)
  radius = arc / np.maximum(turn, 1e-3)
  # 2/3 power law: speed ~ radius ** (1/3), top speed on radii of 2 x-heights.
  speed = style.speed * np.clip((radius / 2.0) ** (1 / 3), 0.2, 1.0)
  cum = np.cumsum(seg)
  to_end = np.minimum(cum - cum[bounds[0]], cum[bounds[1]] - cum)
  speed *= np.sqrt(np.clip((to_end + 0.05) / 0.4, 0.1, 1.0))
  speed = _smooth(speed, bounds, 2)
  dt = np.zeros(n)
  dt[1:] = seg[1:] / (0.5 * (speed[1:] + speed[:-1]))
  dt[is_start] = 0.0
  clock = np.cumsum(dt)
  local = clock - clock[bounds[0]]
  duration = local[starts + lengths - 1]
  travel = np.r_[0.0, np.hypot(*(xy[starts[1:]] - xy[starts[:-1] + lengths[:-1] - 1]).T)]
  pause = (style.pause * np.exp(rng.normal(0.0, 0.5, len(lengths)))
           + travel / (2 * style.speed) + style.word_pause * new_word)
  pause[0] = 0.0
  begin = np.cumsum(pause) + np.cumsum(duration) - duration
  return local + np.repeat(begin, lengths)


def write_line(text: str, style: WriterStyle, rng: np.random.Generator) -> Ink:
  """Ink of `text` in `style`; `rng` draws everything that varies between lines.

  Raises:
    InputError: if `text` has nothing to draw or a character no font can draw.
  """
  if not text.strip():
    raise InputError(f"nothing to write in {text!r}")
  return write_strokes(*_layout(text, style, rng), style, rng)


def write_strokes(xy: np.ndarray, lengths: np.ndarray, new_word: np.ndarray,
                  style: WriterStyle, rng: np.random.Generator) -> Ink:
  """Ink of laid-out pen strokes, as `style` writes them: rounded, bent, timed, sampled.

  Args:
    xy: float `[N, 2]` stroke points in x-heights, y down from the baseline.
    lengths: int `[S]` points per pen stroke.
    new_word: bool `[S]`: the stroke starts a word (a longer pause before it).
    style: the writer.
    rng: draws everything that varies between lines.
  """
  xy, lengths = _resample(xy, lengths)
  bounds = _bounds(lengths)
  xy = _smooth(xy, bounds, style.roundness)
  # Line-level bends: slope, a slow baseline wave and a smooth random field.
  x = xy[:, 0]
  wave = style.drift * np.sin(2 * np.pi * x / style.drift_period + rng.uniform(0, 2 * np.pi))
  xy = xy + np.stack([np.zeros_like(x), wave + np.tan(rng.normal(0.0, style.tilt)) * x], 1)
  xy += _field(xy, rng, style.distortion, style.distortion_scale)

  starts = np.cumsum(lengths) - lengths
  t = _timing(xy, lengths, bounds, style, rng, new_word)

  # The digitiser: points every 1/rate seconds (some missed) along each stroke.
  ends = starts + lengths - 1
  duration = t[ends] - t[starts]
  counts = np.maximum(1, np.round(duration * style.sample_rate)).astype(np.int64) + 1
  stroke = np.repeat(np.arange(len(lengths)), counts)
  k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
  times = t[starts][stroke] + duration[stroke] * k / (counts[stroke] - 1)
  keep = (k == 0) | (k == counts[stroke] - 1) | (rng.random(len(k)) >= style.drop_prob)
  times, stroke = times[keep], stroke[keep]
  out = np.stack([np.interp(times, t, xy[:, 0]), np.interp(times, t, xy[:, 1])], 1)
  out += rng.normal(0.0, style.jitter, out.shape)

  # Whiteboard units: integer coordinates somewhere on the board, y down.
  corner = rng.uniform([200.0, 500.0], [1500.0, 3000.0])
  out = np.round(out * style.x_height + corner)
  times = np.round(times / _TIME_RESOLUTION) * _TIME_RESOLUTION
  return Ink(np.concatenate([out, times[:, None]], 1).astype(np.float32),
             np.bincount(stroke, minlength=len(lengths)))


def split_writers(counts: tuple[int, ...], index: int, stream: int
                  ) -> tuple[int, list[WriterStyle]]:
  """Writers of split `index` when splits get `counts` writers each, never shared.

  Returns the first writer id of the split and its styles; writer w is drawn from
  the seed (stream, w), so splits are disjoint and builds are reproducible.
  """
  first = sum(counts[:index])
  return first, [sample_writer(np.random.default_rng([stream, first + w]))
                 for w in range(counts[index])]
