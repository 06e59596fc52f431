"""Sinusoidal position encodings: values, and rows/columns kept in separate channels."""

import numpy as np

from htr.models.positions import sinusoidal, sinusoidal_2d


def test_sinusoidal_table():
  table = sinusoidal(50, 8)
  np.testing.assert_allclose(table[0], [0, 1] * 4)
  assert np.all(np.abs(table) <= 1)
  np.testing.assert_allclose(table[10, 0], np.sin(10.0))


def test_2d_table_encodes_rows_then_columns():
  table = sinusoidal_2d(3, 5, 7)  # Odd: 3 row channels, 4 column channels.
  assert table.shape == (3, 5, 7)
  np.testing.assert_allclose(table[2, 4, :3], sinusoidal(3, 3)[2])
  np.testing.assert_allclose(table[2, 4, 3:], sinusoidal(5, 4)[4])
  # Every cell differs from every other: the map has no two positions alike.
  flat = table.reshape(15, 7)
  distances = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
  assert np.all(distances[~np.eye(15, dtype=bool)] > 1e-3)
  # A narrower map is the left part of a wider one (encodings do not depend on padding).
  np.testing.assert_allclose(sinusoidal_2d(3, 9, 7)[:, :5], table)
