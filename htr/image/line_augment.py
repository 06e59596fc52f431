"""Geometric augmentation of prepared line images (ink 1.0 on 0.0, fixed height).

A line is long and low, so the character recipe (an affine map about the centre
into the same canvas) would cut the first and last letters off as soon as it
zooms, slants or rotates. Here the canvas grows to hold the whole transformed
line, which is then scaled back to the model's height: every letter the label
names stays in the picture.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def distort(line: np.ndarray, rng: np.random.Generator, *, rotation_deg: float = 1.5,
            shear: float = 0.4, aspect: float = 0.15, max_width: int = 2048) -> np.ndarray:
  """A slanted, rotated, stretched copy of `line` [H, W] at the same height H.

  Args:
    line: float32 [H, W], ink 1.0 on 0.0.
    rng: the randomness (the op's per-example generator).
    rotation_deg: rotation uniform in +-rotation_deg (a line written uphill).
    shear: slant, x += shear * (centre - y) with shear uniform in +-shear.
    aspect: width stretch, log-uniform in [1 - aspect, 1 + aspect] (narrow or wide hands).
    max_width: the result is at most this wide (squeezed if needed).
  """
  height, width = line.shape
  angle = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
  slant = rng.uniform(-shear, shear)
  stretch = np.exp(rng.uniform(np.log(1 - aspect), np.log(1 + aspect)))
  c, s = np.cos(angle), np.sin(angle)
  # Forward map of (row, col): rotate, then slant columns by height above the centre,
  # then stretch columns.
  forward = (np.array([[1.0, 0.0], [0.0, stretch]]) @ np.array([[1.0, 0.0], [-slant, 1.0]])
             @ np.array([[c, -s], [s, c]]))
  corners = np.array([[0, 0], [0, width - 1], [height - 1, 0], [height - 1, width - 1]], float)
  moved = corners @ forward.T
  low, high = moved.min(axis=0), moved.max(axis=0)
  shape = np.ceil(high - low + 1).astype(int)
  inverse = np.linalg.inv(forward)  # affine_transform maps output -> input coordinates.
  out = ndimage.affine_transform(line, inverse, offset=inverse @ low, output_shape=tuple(shape),
                                 order=1, mode="constant")
  new_width = min(max_width, max(1, round(shape[1] * height / shape[0])))
  zoom = (height / shape[0], new_width / shape[1])
  out = ndimage.zoom(out, zoom, order=1, grid_mode=True, mode="grid-constant")
  return np.clip(out[:height, :new_width], 0.0, 1.0).astype(np.float32)
