"""Drawn input -> EMNIST-convention 28x28 character images.

EMNIST (and MNIST before it) crop a character to its ink, scale it to fit a
20x20 box keeping its aspect ratio, and place it in a 28x28 field so that its
centre of mass is at the centre; ink is white on black. A classifier trained on
such images only works on inputs made the same way, so every source goes
through here: synthetic glyphs and scikit-learn digits (`emnist_style`) as well
as whatever a user draws (`preprocess`: any size, dtype, channels, polarity).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from htr.errors import InputError

BOX = 20  # The glyph's longer side, in pixels.
SIZE = 28  # The output field.
_MIN_CONTRAST = 0.1  # Ink must differ from the background by this much (of full range).
_INK_THRESHOLD = 0.25  # Of the strongest ink: fainter pixels do not count for the crop.


def pil_to_array(image: Image.Image) -> np.ndarray:
  """A loaded PIL image as the array `to_gray` reads, keeping 16-bit and float depth.

  Palettes and 1-bit images become RGB(A) or gray uint8; anything with transparency
  RGBA. Pillow's own `convert("L")` would clip 16-bit values to 255.
  """
  if image.mode.startswith("I;16"):
    return np.asarray(image).astype(np.uint16)
  if image.mode == "I":  # 32-bit integers, how Pillow often opens 16-bit PNGs.
    array = np.asarray(image)
    return array.astype(np.uint16) if 0 <= array.min() and array.max() <= 65535 else array
  if image.mode == "F":
    return np.asarray(image, np.float32)
  if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
    return np.asarray(image.convert("RGBA"))
  if image.mode in ("RGB", "P", "CMYK", "YCbCr"):
    return np.asarray(image.convert("RGB"))
  return np.asarray(image.convert("L"))


def to_gray(image) -> np.ndarray:
  """float32 `[H, W]` in [0, 1] from gray, RGB or RGBA arrays of uint8, float or bool.

  Transparent pixels (RGBA) are composited onto the colour that contrasts with
  the ink, as drawing canvases often leave the background transparent black.
  """
  if isinstance(image, Image.Image):  # Palette, LA, 1-bit... -> RGBA.
    image = np.asarray(image if image.mode in ("L", "RGB", "RGBA") else image.convert("RGBA"))
  if not isinstance(image, np.ndarray) or image.dtype == object:
    raise InputError(f"expected an image array, got {type(image).__name__}")
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
    raise InputError(f"expected a [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] image, "
                     f"got shape {image.shape}")
  if min(image.shape[:2]) < 2:
    raise InputError(f"image of shape {image.shape} is too small")
  if image.dtype == bool:
    x = image.astype(np.float32)
  elif np.issubdtype(image.dtype, np.integer):
    x = image.astype(np.float32) / float(np.iinfo(image.dtype).max)
  elif np.issubdtype(image.dtype, np.floating):
    x = image.astype(np.float32)
    if not np.isfinite(x).all():
      raise InputError("image has NaN or infinite values")
    if x.max() > 1.0:  # Floats on a 0..255 scale.
      x = x / 255.0
  else:
    raise InputError(f"unsupported image dtype {image.dtype}")
  x = np.clip(x, 0.0, 1.0)
  if x.ndim == 2:
    return x
  gray = x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
  if x.shape[-1] == 4 and np.ptp(x[..., 3]) > 0:
    alpha = x[..., 3]
    ink_is_light = (gray * alpha).sum() / max(alpha.sum(), 1e-6) > 0.5
    gray = gray * alpha + float(not ink_is_light) * (1.0 - alpha)
  return gray


def ink_map(image) -> np.ndarray:
  """float32 `[H, W]`: how far each pixel is from the background, 0 to 1 (white on black).

  The background is the median of the border, so dark-on-light and light-on-dark
  inputs give the same map; the strongest ink is scaled to 1.

  Raises:
    InputError: for non-images and for images without ink (an empty canvas).
  """
  gray = to_gray(image)
  border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
  ink = np.abs(gray - np.median(border))
  strongest = float(ink.max())
  if strongest < _MIN_CONTRAST:
    raise InputError(f"the canvas is empty: no ink differs from the background by "
                     f"{_MIN_CONTRAST:.0%} (largest difference {strongest:.1%})")
  return ink / strongest


def emnist_style(glyph: np.ndarray) -> np.ndarray:
  """float32 `[28, 28]` in [0, 1]: white-on-black `glyph` in the EMNIST convention.

  Crops `glyph` (any size, float or uint8, ink > 0) to its ink, scales its longer
  side to 20 px with an anti-aliasing filter, rescales the strongest ink to 1
  and pastes it so that its centre of mass lands on the centre pixel (shifted
  back inside the field if a lopsided glyph would leave it).
  """
  x = np.asarray(glyph, np.float32)
  x = x / 255.0 if np.asarray(glyph).dtype == np.uint8 else x
  on = x > _INK_THRESHOLD * x.max() if x.max() > 0 else np.zeros(x.shape, bool)
  if not on.any():
    raise InputError("the glyph has no ink")
  rows, cols = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
  crop = x[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
  h, w = crop.shape
  factor = BOX / max(h, w)
  new_h, new_w = max(1, round(h * factor)), max(1, round(w * factor))
  small = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(
      (new_w, new_h), Image.Resampling.BILINEAR if factor > 1 else Image.Resampling.BOX))
  small = np.clip(small / max(float(small.max()), 1e-6), 0.0, 1.0)
  mass = small.sum()
  com = np.array([(small.sum(1) * np.arange(new_h)).sum(),
                  (small.sum(0) * np.arange(new_w)).sum()]) / mass
  top, left = np.clip(np.round((SIZE - 1) / 2 - com).astype(int), 0,
                      [SIZE - new_h, SIZE - new_w])
  out = np.zeros((SIZE, SIZE), np.float32)
  out[top:top + new_h, left:left + new_w] = small
  return out


def preprocess(image, *, padding: int = 2) -> np.ndarray:
  """float32 `[28, 28]` in [0, 1], white on black: a drawn character, EMNIST-style.

  Args:
    image: gray `[H, W]`, `[H, W, 1]`, RGB or RGBA array (uint8, float or bool,
      either polarity) or a PIL image, of any size.
    padding: pixels kept around the ink when cropping (anti-aliased edges).

  Raises:
    InputError: for anything that is not an image, and for an empty canvas.
  """
  ink = ink_map(image)
  on = ink > _INK_THRESHOLD
  rows, cols = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
  r0, r1 = max(rows[0] - padding, 0), rows[-1] + padding + 1
  c0, c1 = max(cols[0] - padding, 0), cols[-1] + padding + 1
  crop = ink[r0:r1, c0:c1]
  # Faint background texture (paper, JPEG noise) is not ink.
  return emnist_style(np.where(crop > _MIN_CONTRAST, crop, 0.0))
