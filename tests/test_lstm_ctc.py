"""The Conv1D + BiLSTM model: output shapes, subsampled lengths, padding invariance."""

import jax
import jax.numpy as jnp
import numpy as np

from htr.models.lstm_ctc import Model


def _model(**kwargs):
  return Model(num_classes=11, conv_features=(8, 8), conv_kernels=(3, 3), lstm_units=(6,),
               conv_dropout=0.0, lstm_dropout=0.0, **kwargs)


def test_shapes_and_strided_lengths():
  model = _model(conv_strides=(2, 2))
  x = jnp.ones((3, 37, 4))
  lengths = jnp.array([37, 10, 1])
  variables = model.init(jax.random.key(0), x, lengths)
  logits, out_lengths = model.apply(variables, x, lengths)
  assert logits.shape == (3, 10, 11)
  np.testing.assert_array_equal(out_lengths, [10, 3, 1])


def test_padding_does_not_change_real_frames():
  model = _model(conv_strides=(1, 1))
  x = jax.random.normal(jax.random.key(1), (1, 20, 4))
  variables = model.init(jax.random.key(0), x, jnp.array([20]))
  short, _ = model.apply(variables, x, jnp.array([20]))
  padded = jnp.concatenate([x, 100 * jnp.ones((1, 12, 4))], axis=1)
  long, _ = model.apply(variables, padded, jnp.array([20]))
  np.testing.assert_allclose(short[0], long[0, :20], atol=1e-5)


def test_train_mode_updates_batch_statistics():
  model = _model(conv_strides=(1, 1))
  x = jax.random.normal(jax.random.key(1), (2, 16, 4))
  variables = model.init(jax.random.key(0), x, jnp.array([16, 9]))
  _, updates = model.apply(variables, x, jnp.array([16, 9]), train=True,
                           rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"])
  before = jax.tree.leaves(variables["batch_stats"])
  after = jax.tree.leaves(updates["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))


def test_frames_needed_counts_a_blank_between_repeated_labels():
  """"ll" needs 3 frames: over 2, optax's loss is ~1e5 and must not count as a loss."""
  import optax

  from htr.tasks.ctc import frames_needed
  labels = jnp.array([[3, 3, 0, 0], [3, 4, 0, 0], [5, 5, 5, 9], [2, 2, 7, 7]])
  lengths = jnp.array([2, 2, 4, 2])  # The last row's 7, 7 lies beyond its length.
  np.testing.assert_array_equal(frames_needed(labels, lengths), [3, 2, 6, 3])
  logits = jnp.zeros((2, 2, 6))
  label_pad = jnp.zeros((2, 2))
  losses = optax.ctc_loss(logits, jnp.zeros((2, 2)), labels[:2, :2], label_pad)
  assert losses[0] > 1e4 and losses[1] < 10  # Unalignable vs a real loss.
