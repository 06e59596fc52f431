"""Swin encoder: shapes, the shifted-window mask, and independence from width padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from htr.models import swin


def _model(**kwargs):
  return swin.Swin(**{**dict(patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 4),
                             window=4), **kwargs})


def test_grid_shape_and_mask_follow_the_real_width():
  model = _model()
  image = jax.random.uniform(jax.random.key(0), (2, 32, 96, 1))
  variables = jax.jit(model.init)(jax.random.key(1), image, jnp.array([96, 40]))
  grid, mask = jax.jit(model.apply)(variables, image, jnp.array([96, 40]))
  # 32x96 -> patches 8x24 -> merged 4x12, 32 channels.
  assert grid.shape == (2, 4, 12, 32) and mask.shape == (2, 4, 12)
  # 40 px -> 10 patch columns -> 5 merged columns of 4 rows.
  assert mask[0].sum() == 48 and mask[1].sum() == 4 * 5


@pytest.mark.parametrize("conv_stem", [False, True])
def test_real_positions_do_not_depend_on_the_padded_width(conv_stem):
  model = _model(depths=(2, 2, 2), num_heads=(1, 2, 2), conv_stem=conv_stem)
  ink = jax.random.uniform(jax.random.key(0), (1, 32, 70, 1))
  narrow = jnp.pad(ink, ((0, 0), (0, 0), (0, 26), (0, 0)))   # 96 wide
  wide = jnp.pad(ink, ((0, 0), (0, 0), (0, 186), (0, 0)))    # 256 wide
  variables = jax.jit(model.init)(jax.random.key(1), wide, jnp.array([70]))
  apply = jax.jit(model.apply)
  a, mask_a = apply(variables, narrow, jnp.array([70]))
  b, mask_b = apply(variables, wide, jnp.array([70]))
  h = 2  # Rows after two merges of 32 / 4.
  cols = int(mask_a.sum()) // h
  assert int(mask_b.sum()) // h == cols
  np.testing.assert_allclose(a[:, :, :cols], b[:, :, :cols], atol=1e-5)


def test_shift_regions_keep_wrapped_pieces_apart():
  ids = swin.region_ids(8, 8, (4, 4), (2, 2))
  assert len(np.unique(ids)) == 9
  rolled = np.roll(np.arange(64).reshape(8, 8), (-2, -2), axis=(0, 1))
  windows = np.asarray(swin.to_windows(jnp.asarray(ids)[None], (4, 4)))[0]
  origins = np.asarray(swin.to_windows(jnp.asarray(rolled)[None], (4, 4)))[0]
  for window_ids, window_origin in zip(windows, origins):
    for region in np.unique(window_ids):
      rows, cols = np.divmod(window_origin[window_ids == region], 8)
      # One region is one contiguous block of the unrolled image.
      assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 4
  assert len(np.unique(swin.region_ids(8, 8, (4, 4), (0, 0)))) == 1


def test_windows_round_trip_and_relative_index_is_symmetric_in_range():
  x = jnp.arange(2 * 8 * 12 * 3).reshape(2, 8, 12, 3)
  np.testing.assert_array_equal(swin.from_windows(swin.to_windows(x, (4, 6)), (4, 6), 8, 12), x)
  index = swin.relative_position_index(3, 5)
  assert index.shape == (15, 15) and index.min() == 0 and index.max() == 5 * 9 - 1
  assert len(set(np.diag(index))) == 1  # Zero offset: one table row.


def test_absolute_positions_tell_identical_patches_apart():
  """A blank image's patches are all alike; only the 2-D positions can separate them."""
  image = jnp.zeros((1, 32, 64, 1))
  width = jnp.array([64])
  memories = {}
  for absolute in (False, True):
    model = _model(absolute_positions=absolute)
    variables = model.init(jax.random.key(1), image, width)
    grid = np.asarray(model.apply(variables, image, width)[0][0])  # [H', W', C]
    memories[absolute] = grid.reshape(-1, grid.shape[-1])
  spread = {k: np.abs(m - m[0]).max() for k, m in memories.items()}
  assert spread[False] < 1e-5 and spread[True] > 0.1


@pytest.mark.parametrize("conv_stem", [False, True])
def test_blank_patches_keep_gradients_bounded(conv_stem):
  """Paper is most of an ink image: a blank patch embeds to the bias alone, and a zero
  bias (a constant vector) would meet the LayerNorm after it with zero variance; its
  gradient here was ~1e13 at initialisation and swamped clipping by global norm."""
  model = _model(conv_stem=conv_stem)
  image = jnp.zeros((2, 32, 64, 1)).at[:, 12:20, 4:30].set(1.0)  # A stroke, then paper.
  widths = jnp.array([64, 40])
  variables = model.init(jax.random.key(1), image, widths)

  def loss(params):
    grid, mask = model.apply({"params": params}, image, widths)
    return jnp.sum(jnp.mean(grid, -1) ** 2 * mask)
  grads = jax.grad(loss)(variables["params"])
  norms = {jax.tree_util.keystr(k): float(jnp.linalg.norm(g))
           for k, g in jax.tree_util.tree_flatten_with_path(grads)[0]}
  assert max(norms.values()) < 1e3, sorted(norms.items(), key=lambda kv: -kv[1])[:3]


def test_the_conv_stem_reaches_the_patch_grid_and_needs_a_power_of_two():
  image = jax.random.uniform(jax.random.key(0), (1, 32, 96, 1))
  grid, mask = _model(conv_stem=True).init_with_output(
      jax.random.key(1), image, jnp.array([40]))[0]
  assert grid.shape == (1, 4, 12, 32) and int(mask.sum()) == 4 * 5  # As patches of 4.
  with pytest.raises(ValueError, match="power-of-two"):
    _model(patch_size=6, conv_stem=True).init(jax.random.key(1), image, jnp.array([40]))
