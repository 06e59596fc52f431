"""The graph port of ink preprocessing against the numpy original, on device-like inks."""

import jax
import numpy as np
import pytest

from htr.ink import preprocess, preprocess_jax, synthetic
from htr.ink.ink import Ink

BUFFER = 2048  # Padded input points: one compilation for every ink.
MAX_POINTS = 3072


def _inks(seed: int, count: int) -> list[Ink]:
  """Synthetic lines in whiteboard units (integer coordinates, so repeated points)."""
  rng = np.random.default_rng(seed)
  inks = []
  while len(inks) < count:
    ink = synthetic.write_line(synthetic.sample_line(rng, max_words=4),
                               synthetic.sample_writer(rng), rng)
    if ink.num_points <= BUFFER:
      inks.append(ink)
  # Degenerate ones: a dot, one repeated point, a straight two-point line.
  inks.append(Ink(np.array([[5.0, 7.0, 0.5]]), [1]))
  inks.append(Ink(np.array([[5.0, 7.0, 0.0]] * 4), [2, 2]))
  inks.append(Ink(np.array([[0.0, 0.0, 0.0], [300.0, 10.0, 0.2]]), [2]))
  return inks


def _padded(ink: Ink, stroke_ids: np.ndarray | None = None) -> np.ndarray:
  points = np.zeros((BUFFER, 4), np.float32)
  points[:ink.num_points, :3] = ink.points
  points[:ink.num_points, 3] = ink.stroke_ids if stroke_ids is None else stroke_ids
  points[ink.num_points:] = 99.0  # Padding content must not matter.
  return points


def _numpy(ink: Ink, names) -> np.ndarray:
  ink = preprocess.resample(preprocess.normalize(preprocess.remove_duplicates(ink)), 0.1)
  return preprocess.features(ink, names)


# Float32 (graph) against float64 (numpy): positions agree to ~1e-5 line heights;
# directions of the shortest segments and speeds (divided by small dt) less well.
TOLERANCE = {"x": 2e-4, "y": 2e-4, "dx": 2e-4, "dy": 2e-4, "dt": 1e-5, "pen_up": 0.0,
             "stroke_end": 0.0, "cos": 1e-2, "sin": 1e-2, "curvature": 1e-2, "speed": 5e-2}


def test_pipeline_matches_numpy_feature_by_feature():
  names = preprocess.FEATURE_NAMES
  spec = (f"decode_ink|remove_duplicates|normalize|resample(spacing=0.1)"
          f"|features(names={names!r})|keep(keys=('id', 'inputs'))")
  run = jax.jit(preprocess_jax.build(spec, MAX_POINTS))
  for ink in _inks(0, 8):
    expected = _numpy(ink, names)
    got, length, cut = run(_padded(ink), ink.num_points)
    got = np.asarray(got)
    assert int(length) == len(expected) and int(cut) == 0
    np.testing.assert_array_equal(got[len(expected):], 0.0)
    for j, name in enumerate(names):
      np.testing.assert_allclose(got[:len(expected), j], expected[:, j], rtol=1e-3,
                                 atol=TOLERANCE[name], err_msg=name)


def test_stroke_numbering_is_free_and_padding_ignored():
  spec = "remove_duplicates|normalize|resample(spacing=0.1)|features(names=('dx', 'dy'))"
  run = jax.jit(preprocess_jax.build(spec, MAX_POINTS))
  ink = _inks(3, 1)[0]
  reference, length, _ = run(_padded(ink), ink.num_points)
  # Any labels that change between strokes work, e.g. client-side stroke ids.
  ids = np.repeat(np.arange(ink.num_strokes) * 7 + 100, ink.stroke_lengths)
  other, other_length, _ = run(_padded(ink, ids), ink.num_points)
  assert int(other_length) == int(length)
  np.testing.assert_array_equal(np.asarray(other), np.asarray(reference))


def test_long_inks_are_cut_at_the_buffer():
  spec = "normalize|resample(spacing=0.01)|features(names=('dx',))"
  ink = _inks(4, 1)[0]
  got, length, cut = jax.jit(preprocess_jax.build(spec, 64))(_padded(ink), ink.num_points)
  assert got.shape == (64, 1) and int(length) == 64
  _, full_length, none_cut = jax.jit(preprocess_jax.build(spec, 8192))(_padded(ink),
                                                                      ink.num_points)
  assert int(none_cut) == 0 and int(cut) == int(full_length) - 64 > 0


@pytest.mark.parametrize("spec, message", [
    ("normalize|random_affine|features(names=('dx',))", "no graph version"),
    ("normalize|resample(spacing=0.1)", "ends with features"),
])
def test_unexportable_specs_are_refused(spec, message):
  with pytest.raises(ValueError, match=message):
    preprocess_jax.build(spec, 16)
