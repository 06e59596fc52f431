"""Ink -> grayscale image: anti-aliased round-pen strokes, white ink on black.

PIL draws each stroke as a thick polyline on a 4x supersampled canvas (discs
make round joints and caps) and the canvas is box-filtered back down. On 48 px
glyphs this made ~7,000 images/s on one (busy) core against ~200 for a
vectorised numpy distance-to-segment renderer (same coverage within 5 grey
levels on average): PIL costs O(ink length), the distance field
O(pixels x segments).

Math ink (CROHME 2013 test expressions, 427 points on average, ~3.3x wider
than high) costs more: a disc at every vertex spent 3/4 of the time in PIL's
Python-level `ellipse`. Now points closer than half a pixel along the stroke are
dropped and discs drawn only at stroke ends and corners sharper than 30 degrees,
both found with numpy. Best of 3 runs over 300 inks on one core of a machine
loaded ~4x (so noisy; the ratios hold): height 64: 567 images/s (458 with a
disc per vertex), 857 with supersample=2; height 128: 452 (356), 848.

Three ways to place the ink:
  size=(H, W) or S: fit the ink into a fixed box, keeping its aspect ratio, centred;
  height=H: fixed height, width following the aspect ratio (text lines, formulas);
  scale=s: s pixels per ink unit (sizes stay comparable across glyphs, so a '.'
    stays a dot instead of being blown up to the box).
With `height`, `stroke_height=g` scales the ink so that its typical stroke is g pixels
tall (shrinking it further only if it would not fit), centred: a formula's glyphs keep
one size whether it is a lone `x` or a nest of fractions, where fitting every ink to the
height draws synthetic_math's typical stroke 9 to 50 pixels tall at height 64 (5th to
95th percentile).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from htr.errors import InputError
from htr.ink.ink import Ink

# Joints turning more than this get a disc; gentler ones leave no visible notch.
_CORNER_COS = np.cos(np.deg2rad(30.0))


# Larger canvases are refused: far beyond any real line or page at these scales,
# and a few bad coordinates must not allocate gigabytes.
_MAX_PIXELS = 64_000_000


def _height_scale(extent: np.ndarray, height: int, margin: float) -> float:
  """Pixels per ink unit that make the ink `height` high (1 for a flat ink)."""
  return (height - 2 * margin) / extent[1] if extent[1] > 0 else 1.0


def typical_stroke_height(ink: Ink) -> float:
  """The median height of the ink's strokes, in ink units, leaving out the flat ones
  (fraction bars, minus signs, dots), which say nothing of the writing's size; 0 for
  an ink without height."""
  y = ink.points[:, 1].astype(np.float64)
  starts = np.flatnonzero(ink.stroke_starts)
  heights = np.maximum.reduceat(y, starts) - np.minimum.reduceat(y, starts)
  if heights.max(initial=0.0) <= 0:
    return 0.0
  return float(np.median(heights[heights >= 0.25 * np.percentile(heights, 90)]))


def _placement(lo: np.ndarray, extent: np.ndarray, size, height, scale, margin: float,
               max_width: int | None = None, glyph_scale: float | None = None
               ) -> tuple[float, np.ndarray, tuple[int, int]]:
  """(pixels per unit, offset, (H, W)) such that ink * scale + offset fits the image.

  `glyph_scale`, with `height`: pixels per unit wanted, lowered if the ink would not fit.
  """
  if sum(x is not None for x in (size, height, scale)) != 1:
    raise ValueError("pass exactly one of size, height, scale")
  fit = _height_scale(extent, height, margin) if height is not None else None
  if glyph_scale is not None and height is not None:
    fit = min(fit, glyph_scale)
  if height is not None and max_width is not None and extent[0] * fit + 2 * margin > max_width:
    size, height = (height, max_width), None  # Too wide: shrunk into the widest image.
  if size is not None:
    h, w = (size, size) if np.isscalar(size) else size
    room = np.array([w, h], np.float64) - 2 * margin
    if (room <= 0).any():
      raise ValueError(f"size {size} leaves no room inside margins of {margin:.1f} px")
    ratios = room / np.maximum(extent, 1e-9)
    scale = float(ratios.min()) if extent.max() > 0 else 1.0
    offset = (np.array([w, h]) - extent * scale) / 2 - lo * scale
    return scale, offset, (int(h), int(w))
  if height is not None:
    _, width = _image_size(height, extent[0] * fit + 2 * margin)
    offset = (np.array([width, height]) - extent * fit) / 2 - lo * fit
    return float(fit), offset, (int(height), width)
  w, h = extent * scale + 2 * margin
  return float(scale), margin - lo * scale, _image_size(h, w)


def _image_size(h: float, w: float) -> tuple[int, int]:
  """(H, W) in whole pixels; refuses sizes that could only come from bad coordinates."""
  if not np.isfinite(h * w) or h * w > _MAX_PIXELS:
    raise InputError(f"the ink would render to {h:.4g}x{w:.4g} pixels (more than"
                     f" {_MAX_PIXELS:,}): its coordinates span too far for this scale")
  return int(np.ceil(h)), int(np.ceil(w))


def _decimate(pixels: np.ndarray, starts: np.ndarray, step: float
              ) -> tuple[np.ndarray, np.ndarray]:
  """Drops points closer than about `step` along the stroke: digitisers sample far
  more densely than the image resolves, and every point costs PIL time."""
  seg = np.hypot(*np.diff(pixels, axis=0, prepend=pixels[:1]).T)
  seg[starts] = 0.0
  arc = np.cumsum(seg)
  bin_ = np.floor(arc / step)
  ends = starts | np.r_[starts[1:], True]
  keep = ends | (bin_ != np.r_[-1.0, bin_[:-1]])
  return pixels[keep], starts[keep]


def _disc_points(pixels: np.ndarray, starts: np.ndarray) -> np.ndarray:
  """bool `[N]`: stroke ends and sharp corners, where a thick polyline needs a disc."""
  ends = starts | np.r_[starts[1:], True]
  before = pixels - np.roll(pixels, 1, axis=0)
  after = np.roll(pixels, -1, axis=0) - pixels
  dot = (before * after).sum(1)
  norms = np.hypot(*before.T) * np.hypot(*after.T)
  return ends | (dot < _CORNER_COS * norms)


def render(ink: Ink, **kwargs) -> np.ndarray:
  """uint8 `[H, W]` image of `ink`, white (255) strokes on black (`render_placed`'s
  arguments)."""
  return render_placed(ink, **kwargs)[0]


def render_placed(ink: Ink, *, size: int | tuple[int, int] | None = None,
                  height: int | None = None, scale: float | None = None,
                  pen_width: float | np.ndarray = 2.0, padding: float = 2.0,
                  max_width: int | None = None, supersample: int = 4,
                  stroke_height: float | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(uint8 `[H, W]` image of `ink`, float64 `[3]` placement): ink point (x, y) is drawn
  at pixel (x, y) * placement[0] + placement[1:], for what else is laid over the image.

  Args:
    ink: strokes to draw (only x, y are used; y grows downward).
    size: fit into this box, `H` or `(H, W)` pixels, keeping the aspect ratio.
    height: fit to this many pixels high; the width follows.
    scale: pixels per ink unit; the image is as large as the ink needs.
    pen_width: stroke diameter in output pixels: one for all, or one per stroke
      (pen-width variation).
    padding: free pixels between the outer edge of the ink and the border.
    max_width: with `height`, inks wider than this are shrunk to fit this width.
    supersample: sub-pixels per pixel side (s * s + 1 grey levels); the cost grows
      with its square.
    stroke_height: with `height`, draw the typical stroke this many pixels tall (the
      ink shrunk further only to fit `height` and `max_width`).
  """
  if ink.num_points == 0:
    raise InputError("cannot render an ink without points")
  widths = np.broadcast_to(np.asarray(pen_width, np.float64), (ink.num_strokes,))
  xy = ink.points[:, :2].astype(np.float64)
  lo = xy.min(0)
  margin = padding + widths.max() / 2
  glyph_scale = None
  if stroke_height is not None and (typical := typical_stroke_height(ink)) > 0:
    glyph_scale = stroke_height / typical
  scale, offset, (h, w) = _placement(lo, xy.max(0) - lo, size, height, scale, margin,
                                     max_width, glyph_scale)
  s = supersample
  canvas = Image.new("L", (w * s, h * s), 0)
  draw = ImageDraw.Draw(canvas)
  # Pixel centres sit at +0.5: PIL coordinates address pixel corners.
  pixels, starts = _decimate((xy * scale + offset) * s - 0.5, ink.stroke_starts, s / 2)
  discs = _disc_points(pixels, starts)
  bounds = np.flatnonzero(starts)[1:]
  for stroke, disc, width in zip(np.split(pixels, bounds), np.split(discs, bounds),
                                 widths * s):
    if len(stroke) > 1:
      draw.line(stroke.ravel().tolist(), fill=255, width=max(1, round(width)))
    # Round joints and caps (and dots: one-point strokes) as discs: cheaper than
    # PIL's joint="curve", which builds each pie slice in Python.
    radius = width / 2
    for x, y in stroke[disc].tolist():
      draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
  return np.asarray(canvas.reduce(s)), np.r_[scale, offset]
