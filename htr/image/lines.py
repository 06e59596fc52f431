"""Line and word images: what a recogniser reads, and how a scanner or camera sees ink.

`prepare_line` turns any line image (a crop of a scan or a photo, any size, colour or
polarity) into the model's input: ink 1.0 on 0.0, cropped to the ink, `height` pixels
high. `degrade` goes the other way for training: rendered ink (ink 1.0 on 0.0) becomes
an RGB picture of a line on paper, as a scanner or phone camera would give it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from htr.errors import InputError
from htr.image import canvas

_INK = 0.35  # Rows and columns with ink this strong bound the crop (ruling is fainter).


def prepare_line(image, *, height: int, max_width: int, margin: int = 2) -> np.ndarray:
  """float32 `[height, W]`, ink 1.0 on 0.0, W <= `max_width` (wider lines are shrunk).

  Raises:
    InputError: for images without ink, or too thin to hold a line.
  """
  shape = np.shape(image)
  if len(shape) < 2 or min(shape[:2]) < 2:
    raise InputError(f"a {'x'.join(map(str, shape[:2]))} image holds no line")
  gray = canvas.to_gray(image)
  try:
    ink = _line_ink(_flat_field(gray))
  except InputError:  # Ink in every row of its columns looks like paper to the flat field.
    ink = None
  if ink is None:
    ink = _line_ink(gray)  # An empty image raises here, saying so.
  if ink is None:
    raise InputError("the image holds no ink (no column darker than its own paper)")
  rows = np.flatnonzero(ink.max(axis=1) >= _INK)
  columns = np.flatnonzero(ink.max(axis=0) >= _INK)
  ink = ink[max(rows[0] - margin, 0):rows[-1] + margin + 1,
            max(columns[0] - margin, 0):columns[-1] + margin + 1]
  width = int(np.clip(round(ink.shape[1] * height / ink.shape[0]), 1, max_width))
  resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(
      (width, height), Image.Resampling.BILINEAR)
  return np.clip(np.asarray(resized, np.float32), 0.0, 1.0)


def _flat_field(gray: np.ndarray) -> np.ndarray:
  """Light that falls off across a photo, or a shadow, dims paper and ink alike, and so
  the contrast too: on light paper each column is divided by its paper's brightness
  (its median, in a line mostly free of ink)."""
  paper = np.median(gray, axis=0, keepdims=True)
  if float(np.median(paper)) <= 0.5:
    return gray
  return np.minimum(gray / np.maximum(paper, 0.05), 1.0)


def _line_ink(gray: np.ndarray) -> np.ndarray | None:
  """Ink map in [0, 1] (1 the strongest ink), or None if nothing stands out."""
  ink = canvas.ink_map(gray)
  # What light leaves uneven on dark paper: each column's median is taken off, unless
  # that takes the ink too (a word cropped to its strokes: "Il" is ink top to bottom).
  levelled = np.clip(ink - np.median(ink, axis=0, keepdims=True), 0.0, None)
  strongest = float(ink.max())
  if strongest <= 1e-6:
    return None
  if float(levelled.max()) >= 0.5 * strongest:
    return levelled / float(levelled.max())
  return ink / strongest


def smooth_field(shape: tuple[int, int], cell: float, rng: np.random.Generator
                  ) -> np.ndarray:
  """Noise in [0, 1] that varies over about `cell` pixels (paper fibres, pen pressure):
  drawn on a coarse grid and interpolated up, which costs little at any size."""
  coarse = rng.standard_normal((max(2, int(shape[0] / cell) + 2),
                                max(2, int(shape[1] / cell) + 2))).astype(np.float32)
  field = np.asarray(Image.fromarray(coarse, mode="F").resize(
      (shape[1], shape[0]), Image.Resampling.BICUBIC))
  field = field - field.min()
  return field / max(float(field.max()), 1e-6)


def _light(shape: tuple[int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
  """float32 `[H, W]` in [1 - `strength`, 1]: the light falling on each pixel of a line
  cut from an unevenly lit page (a lamp to one side, the shadow of a phone or a hand).

  A linear fall-off in a random direction (over the longer side) and soft shadows about
  a third of the line across, mixed at random, darken it by up to `strength`; a line is
  far wider than high, so most of the change runs along it, little across it.
  """
  h, w = shape
  angle = rng.uniform(0.0, 2 * np.pi)
  ramp = (np.cos(angle) * np.arange(w, dtype=np.float32)[None, :]
          + np.sin(angle) * np.arange(h, dtype=np.float32)[:, None]) / max(h, w)
  ramp -= ramp.min()
  shadow = smooth_field(shape, max(h, w) / 3, rng)
  mix = rng.uniform()
  dim = rng.uniform(0.0, strength) * np.minimum(mix * ramp + (1.0 - mix) * shadow, 1.0)
  return 1.0 - dim


def degrade(ink: np.ndarray, rng: np.random.Generator, *, p_ruling: float = 0.3,
            p_binary: float = 0.1, p_jpeg: float = 0.5, max_skew_deg: float = 2.0,
            uneven_light: float = 0.35) -> np.ndarray:
  """uint8 `[H', W', 3]`: `ink` (float `[H, W]`, 1.0 where the pen went) as a picture.

  Paper: a tint, fibre texture, optional ruling. Ink: a colour from black to blue,
  pressure varying along the line. Light: uneven over paper and ink alike (`_light`;
  `uneven_light=0` lights the line evenly). Then skew, blur, sensor noise (the same in
  the three channels, as after a scanner's or camera's colour processing), and either a
  binarised scan or JPEG compression. Every draw comes from `rng`, in a fixed number
  whatever the image, so the same rng gives the same picture.
  """
  h, w = ink.shape
  pad = max(2, h // 8)
  ink = np.pad(np.asarray(ink, np.float32), pad)
  h, w = ink.shape
  paper_tint = rng.uniform(0.78, 1.0) * np.array(
      [1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 1.0)], np.float32)
  texture = 1.0 - 0.06 * rng.uniform() * smooth_field((h, w), 3.0, rng)
  paper = texture[..., None] * paper_tint
  if rng.uniform() < p_ruling:
    spacing = rng.uniform(0.6, 1.1) * h
    base = rng.uniform(0.65, 0.9) * h
    for y in np.arange(base % spacing, h, spacing).astype(int):
      paper[y:y + 1] *= np.array([0.8, 0.85, 0.95], np.float32)
  colour = rng.choice([np.array([0.05, 0.05, 0.08]), np.array([0.1, 0.15, 0.45]),
                       np.array([0.25, 0.25, 0.3])]) * rng.uniform(0.5, 1.5)
  pressure = 0.65 + 0.35 * smooth_field((h, w), max(h / 2, 2.0), rng)
  alpha = np.clip(ink * pressure, 0.0, 1.0)[..., None]
  picture = paper * (1.0 - alpha) + colour.astype(np.float32) * alpha
  picture = Image.fromarray((np.clip(picture, 0.0, 1.0) * 255).astype(np.uint8))
  angle = rng.uniform(-max_skew_deg, max_skew_deg)
  if abs(angle) > 0.2:
    edge = tuple(int(c) for c in np.asarray(picture)[0, 0])
    picture = picture.rotate(angle, Image.Resampling.BILINEAR, expand=True, fillcolor=edge)
  # Light after the skew: it falls on the corners the rotation filled in as on the paper.
  picture = np.asarray(picture, np.float32) / 255
  picture *= _light(picture.shape[:2], uneven_light, rng)[..., None]
  sigma = rng.uniform(0.0, 1.0)
  if sigma > 0.3:
    picture = ndimage.gaussian_filter(picture, (sigma, sigma, 0.0), truncate=3.0)
  noise = rng.standard_normal((*picture.shape[:2], 1), dtype=np.float32)
  picture = np.clip(picture + rng.uniform(0.0, 0.04) * noise, 0.0, 1.0)
  if rng.uniform() < p_binary:
    gray = picture.mean(axis=2)
    threshold = 0.5 * (np.percentile(gray, 2) + np.percentile(gray, 60))
    picture = np.repeat((gray > threshold)[..., None], 3, axis=2).astype(np.float32)
  pixels = (picture * 255).round().astype(np.uint8)
  if rng.uniform() < p_jpeg:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(rng.integers(30, 90)))
    buffer.seek(0)
    pixels = np.asarray(Image.open(buffer).convert("RGB"))
  return pixels


def crop_line(page: np.ndarray, polygon: np.ndarray, baseline: np.ndarray, *,
              margin: int = 4) -> np.ndarray:
  """The line inside `polygon` cut from a page image (uint8 `[H, W]` or `[H, W, 3]`),
  the rest of its box filled with the paper's colour and rotated so that `baseline`
  (left to right) runs horizontally: marginal notes slope, the recogniser reads rows."""
  left, top = np.floor(polygon.min(0)).astype(int) - margin
  right, bottom = np.ceil(polygon.max(0)).astype(int) + margin + 1
  left, top = max(left, 0), max(top, 0)
  right, bottom = min(right, page.shape[1]), min(bottom, page.shape[0])
  if right - left < 2 or bottom - top < 2:
    raise InputError(f"a line polygon of {right - left}x{bottom - top} pixels")
  crop = Image.fromarray(np.ascontiguousarray(page[top:bottom, left:right]))
  mask = Image.new("L", crop.size, 0)
  ImageDraw.Draw(mask).polygon([(float(x - left), float(y - top)) for x, y in polygon], fill=255)
  paper = tuple(int(v) for v in np.median(np.asarray(crop).reshape(-1, len(crop.getbands())),
                                           axis=0))
  inside = Image.new(crop.mode, crop.size, paper if len(paper) > 1 else paper[0])
  inside.paste(crop, mask=mask)
  (x0, y0), (x1, y1) = baseline[0], baseline[-1]
  angle = float(np.degrees(np.arctan2(y1 - y0, max(x1 - x0, 1e-6))))
  if abs(angle) > 0.5:
    fill = paper if len(paper) > 1 else paper[0]
    inside = inside.rotate(angle, Image.Resampling.BILINEAR, expand=True, fillcolor=fill)
    mask = mask.rotate(angle, Image.Resampling.NEAREST, expand=True, fillcolor=0)
  box = mask.getbbox()
  return np.asarray(inside.crop(box) if box else inside)
