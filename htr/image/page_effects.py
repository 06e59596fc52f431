"""Paper and camera for synthetic pages: a sheet (tint, fibres, ruled or squared lines,
stains) that ink is laid on, and what a scanner or a phone does to the whole page after
(skew or perspective, shadows, uneven light, blur, sensor noise).

`htr.image.lines.degrade` does the same for one line image; a page needs its own because
the geometry moves too: `photograph` returns the homography it applied, so that line
polygons and baselines can follow the pixels (`apply_homography`). Every draw comes from
the rng passed in.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from htr.image import lines

RULE_COLOUR = np.array([0.55, 0.7, 0.92], np.float32)  # Faint blue, as exercise books.
MARGIN_COLOUR = np.array([0.95, 0.45, 0.45], np.float32)


def paper(shape: tuple[int, int], rng: np.random.Generator, *, ruling: str = "plain",
          pitch: float = 0.0, first_rule: float = 0.0, margin_rule: float = -1.0,
          top: float = 0.0) -> np.ndarray:
  """float32 `[H, W, 3]` in [0, 1]: a sheet: tint, fibre texture, and for `ruling`
  "ruled" lines every `pitch` pixels through `first_rule` (from `top` down), for
  "squared" a grid of `pitch`/2 cells; a red margin line at x=`margin_rule` if >= 0."""
  h, w = shape
  tint = rng.uniform(0.84, 1.0) * np.array(
      [1.0, rng.uniform(0.95, 1.0), rng.uniform(0.86, 1.0)], np.float32)
  texture = 1.0 - 0.05 * rng.uniform(0.2, 1.0) * lines.smooth_field(shape, 4.0, rng)
  sheet = texture[..., None] * tint
  if ruling != "plain" and pitch > 0:
    strength = rng.uniform(0.5, 1.0)
    colour = 1.0 - strength * (1.0 - RULE_COLOUR)
    thick = max(1, int(round(pitch / 40)))
    spacing = pitch if ruling == "ruled" else pitch / 2
    start = first_rule - np.floor((first_rule - top) / spacing) * spacing
    for y in np.arange(start, h, spacing):
      sheet[int(y):int(y) + thick] *= colour
    if ruling == "squared":
      offset = rng.uniform(0, spacing)
      for x in np.arange(offset, w, spacing):
        sheet[:, int(x):int(x) + thick] *= colour
  if margin_rule >= 0:
    x = int(margin_rule)
    sheet[:, x:x + 2] *= 1.0 - rng.uniform(0.5, 1.0) * (1.0 - MARGIN_COLOUR)
  return sheet


def stain(sheet: np.ndarray, rng: np.random.Generator) -> None:
  """A coffee ring or a blot, brownish, somewhere on `sheet` (in place)."""
  h, w = sheet.shape[:2]
  radius = rng.uniform(0.04, 0.15) * w
  cx, cy = rng.uniform(0, w), rng.uniform(0, h)
  x0, x1 = int(max(cx - 1.3 * radius, 0)), int(min(cx + 1.3 * radius, w))
  y0, y1 = int(max(cy - 1.3 * radius, 0)), int(min(cy + 1.3 * radius, h))
  if x1 <= x0 or y1 <= y0:
    return
  yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
  wobble = 1.0 + 0.15 * (lines.smooth_field((y1 - y0, x1 - x0), radius / 2, rng) - 0.5)
  d = np.hypot(xx - cx, yy - cy) / (radius * wobble)
  ring = rng.random() < 0.6
  edge = np.exp(-((d - 1.0) / 0.04) ** 2) if ring else np.zeros_like(d)
  inside = np.clip((1.0 - d) / 0.05, 0.0, 1.0) * (0.35 if ring else 1.0)
  amount = rng.uniform(0.08, 0.25) * np.clip(edge + inside, 0.0, 1.0)
  brown = np.array([0.35, 0.55, 0.85], np.float32)  # What a coffee stain absorbs, per channel.
  sheet[y0:y1, x0:x1] *= 1.0 - amount[..., None] * brown


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
  """float64 `[3, 3]` mapping the four `src` points onto the four `dst` points."""
  rows, rhs = [], []
  for (x, y), (u, v) in zip(np.asarray(src, np.float64), np.asarray(dst, np.float64)):
    rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
    rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    rhs += [u, v]
  return np.append(np.linalg.solve(np.array(rows), np.array(rhs)), 1.0).reshape(3, 3)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
  """float32 `[N, 2]`: `points` (pixel centres) mapped by `matrix`."""
  points = np.asarray(points, np.float64).reshape(-1, 2)
  # PIL's transform addresses pixel corners: centres sit at +0.5.
  moved = np.c_[points + 0.5, np.ones(len(points))] @ matrix.T
  return (moved[:, :2] / moved[:, 2:3] - 0.5).astype(np.float32)


def _view(shape: tuple[int, int], rng: np.random.Generator
          ) -> tuple[str, np.ndarray]:
  """How the page is taken: ("flat"|"scan"|"camera", the homography page -> picture)."""
  h, w = shape
  corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
  mode = str(rng.choice(["flat", "scan", "camera"], p=[0.25, 0.4, 0.35]))
  if mode == "flat":
    return mode, np.eye(3)
  if mode == "scan":  # A slightly crooked sheet on the glass, same picture size.
    angle = np.deg2rad(rng.uniform(-2.5, 2.5))
    centre = np.array([w, h]) / 2
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (corners - centre) @ rotation.T + centre + rng.uniform(-0.01, 0.01, 2) * [w, h]
  else:  # A phone above the desk: the sheet smaller in the frame, its corners pulled.
    border = rng.uniform(0.02, 0.07)
    dst = border * np.array([w, h]) + corners * (1 - 2 * border)
    dst += rng.uniform(-0.035, 0.035, (4, 2)) * [w, h]
    angle = np.deg2rad(rng.uniform(-3.0, 3.0))
    centre = dst.mean(0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (dst - centre) @ rotation.T + centre
  return mode, homography(corners, dst)


def _light(shape: tuple[int, int], mode: str, rng: np.random.Generator) -> np.ndarray:
  """float32 `[H, W]` light on the picture: a fall-off across the frame, sometimes the
  soft shadow of a hand or a phone, vignetting for a camera. Smooth, so it is computed
  on a grid 8 times coarser and resized."""
  h, w = shape
  small = (max(2, h // 8), max(2, w // 8))
  yy, xx = np.mgrid[0:small[0], 0:small[1]].astype(np.float32)
  yy, xx = yy * (h / small[0]), xx * (w / small[1])
  angle = rng.uniform(0, 2 * np.pi)
  ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / max(h, w)
  light = 1.0 - rng.uniform(0.0, 0.25) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
  if rng.random() < 0.35:
    normal = rng.normal(size=2)
    normal /= np.linalg.norm(normal)
    side = (normal[0] * (xx - w / 2) + normal[1] * (yy - h / 2)) / max(h, w)
    edge = rng.uniform(0.1, 0.4)
    soft = rng.uniform(0.01, 0.06)
    light *= 1.0 - rng.uniform(0.15, 0.45) / (1.0 + np.exp(-(side - edge) / soft))
  if mode == "camera":
    r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
    light *= 1.0 - rng.uniform(0.0, 0.5) * r2
  return np.asarray(Image.fromarray(light.astype(np.float32), mode="F").resize(
      (w, h), Image.Resampling.BILINEAR))


def photograph(sheet: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
  """(uint8 `[H, W, 3]` picture, the homography page -> picture): `sheet` (float
  `[H, W, 3]` in [0, 1], inked) flat, scanned crooked or photographed in perspective on a
  desk, then shadows and uneven light, blur and sensor noise."""
  h, w = sheet.shape[:2]
  mode, matrix = _view((h, w), rng)
  pixels = Image.fromarray((np.clip(sheet, 0.0, 1.0) * 255).astype(np.uint8))
  if mode != "flat":
    inverse = np.linalg.inv(matrix)
    inverse /= inverse[2, 2]
    background = (tuple(int(c) for c in rng.uniform(20, 110, 3)) if mode == "camera"
                  else tuple(int(c) for c in rng.uniform(200, 250) * np.ones(3)))
    pixels = pixels.transform((w, h), Image.Transform.PERSPECTIVE, tuple(inverse.ravel()[:8]),
                              Image.Resampling.BILINEAR, fillcolor=background)
  blur = rng.uniform(0.0, 1.2)
  if blur > 0.6:  # Half the pictures (blur is also a training augmentation).
    pixels = pixels.filter(ImageFilter.GaussianBlur(blur))
  picture = np.asarray(pixels, np.float32) * np.float32(1 / 255)
  picture *= _light((h, w), mode, rng)[..., None]
  noise = rng.standard_normal((h, w, 1), dtype=np.float32)
  picture += np.float32(rng.uniform(0.003, 0.03)) * noise
  picture *= 255
  picture += 0.5
  return np.clip(picture, 0, 255).astype(np.uint8), matrix
