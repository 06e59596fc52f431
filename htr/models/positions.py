"""Fixed sinusoidal position encodings (Vaswani et al. 2017), in one and two dimensions."""

import numpy as np


def sinusoidal(length: int, dim: int) -> np.ndarray:
  """[length, dim] encodings: channel pairs (sin, cos) of position * geometric frequencies."""
  pos = np.arange(length)[:, None]
  freq = np.exp(-np.log(10000.0) * np.arange(0, dim, 2) / dim)
  table = np.zeros((length, dim), np.float32)
  table[:, 0::2] = np.sin(pos * freq)
  table[:, 1::2] = np.cos(pos * freq)[:, : dim // 2]
  return table


def sinusoidal_2d(height: int, width: int, dim: int) -> np.ndarray:
  """[height, width, dim]: the first dim // 2 channels encode the row, the rest the column.

  Fixed rather than learned so a feature map of any (bucketed) width has encodings,
  and a column's encoding does not depend on how far the map was padded.
  """
  rows = sinusoidal(height, dim // 2)
  cols = sinusoidal(width, dim - dim // 2)
  return np.concatenate([np.broadcast_to(rows[:, None], (height, width, dim // 2)),
                         np.broadcast_to(cols[None], (height, width, dim - dim // 2))], -1)
