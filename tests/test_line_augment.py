"""Line augmentation keeps every letter: the canvas grows with the slant and the turn."""

import numpy as np
import pytest

from htr.data import registry
from htr.image import line_augment


def _bars(width=400, height=64) -> np.ndarray:
  """Ink at both ends of the line and in the middle."""
  line = np.zeros((height, width), np.float32)
  line[8:56, 2:6] = line[8:56, width // 2:width // 2 + 4] = line[8:56, -6:-2] = 1.0
  return line


@pytest.mark.parametrize("seed", range(6))
def test_the_first_and_last_letters_survive(seed):
  line = _bars()
  out = line_augment.distort(line, np.random.default_rng(seed), rotation_deg=3.0, shear=0.6,
                             aspect=0.2)
  assert out.shape[0] == 64 and out.dtype == np.float32
  assert 0.6 * 400 < out.shape[1] < 1.5 * 400
  columns = np.flatnonzero(out.max(axis=0) > 0.3)
  # Three bars, each still inked: ink near both ends and near the middle.
  assert columns[0] < 0.15 * out.shape[1] and columns[-1] > 0.85 * out.shape[1]
  assert np.any(np.abs(columns - out.shape[1] / 2) < 0.15 * out.shape[1])
  # Nothing is cut at the canvas's edges: its border rows and columns are (nearly) empty.
  assert out[0].max() < 0.5 and out[-1].max() < 0.5


def test_the_op_is_deterministic_per_example_and_reads_the_key():
  op = registry.build("augment_line(p=1.0, max_width=300)")
  example = {"inputs": _bars()[..., None]}
  a, b = op(example, np.random.default_rng(3)), op(example, np.random.default_rng(3))
  np.testing.assert_array_equal(a["inputs"], b["inputs"])
  assert a["inputs"].shape[0] == 64 and a["inputs"].shape[1] <= 300
  untouched = registry.build("augment_line(p=0.0)")(example, np.random.default_rng(3))
  assert untouched["inputs"] is example["inputs"]
