"""The character CNNs: logit shapes, batch statistics, padding rows kept out of them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from htr.models.cnn import Model, ResNet

MODELS = {
    "cnn": lambda: Model(num_classes=7, conv_features=(4, 4, 8, 8), dense_features=(16, 8)),
    "resnet": lambda: ResNet(num_classes=7, stem_features=4, stage_features=(4, 8),
                             blocks_per_stage=(1, 2)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_logit_shapes(name):
  model = MODELS[name]()
  x = jnp.ones((3, 28, 28, 1))
  variables = model.init(jax.random.key(0), x)
  assert set(variables) == {"params", "batch_stats"}
  assert model.apply(variables, x).shape == (3, 7)


def test_seed_cnn_flattens_256_channels_of_3x3():
  """The seed's layout: 28 -> 14 -> 7 -> 3 after three pools, 2304 features into the MLP."""
  variables = jax.eval_shape(Model(num_classes=94).init, jax.random.key(0),
                             jnp.ones((1, 28, 28, 1)))
  assert variables["params"]["Dense_0"]["kernel"].shape == (2304, 512)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_train_mode_updates_batch_statistics_from_real_rows_only(name):
  model = MODELS[name]()
  x = jax.random.uniform(jax.random.key(1), (4, 28, 28, 1))
  variables = model.init(jax.random.key(0), x)

  def stats(images, mask):
    _, updates = model.apply(variables, images, mask, train=True,
                             rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"])
    return jax.tree.leaves(updates["batch_stats"])

  mask = jnp.array([1.0, 1.0, 0.0, 0.0])
  real = stats(x, mask)
  assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(variables["batch_stats"]),
                                                   real))
  garbage = x.at[2:].set(100.0)
  for a, b in zip(real, stats(garbage, mask)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_dropout_only_in_training():
  model = MODELS["cnn"]()
  x = jax.random.uniform(jax.random.key(1), (2, 28, 28, 1))
  variables = model.init(jax.random.key(0), x)
  np.testing.assert_array_equal(model.apply(variables, x), model.apply(variables, x))
  a, _ = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)},
                     mutable=["batch_stats"])
  b, _ = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)},
                     mutable=["batch_stats"])
  assert not np.allclose(a, b)
