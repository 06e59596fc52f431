"""The encoder-decoder: cached step-by-step decoding equals teacher forcing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from htr.models.transformer_decoder import Model


def _model(positions="sinusoidal", dtype=None):
  return Model(vocab_size=23, dtype=dtype,
               encoder=dict(name="swin.Swin", patch_size=4, embed_dim=16, depths=(2, 2),
                            num_heads=(2, 2), window=4),
               decoder=dict(num_layers=2, dim=32, num_heads=4, mlp_dim=64, max_length=16,
                            positions=positions, dropout=0.1))


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_cached_decoding_equals_the_full_forward_pass(positions):
  model = _model(positions)
  image = jax.random.uniform(jax.random.key(0), (3, 32, 64, 1))
  width = jnp.array([64, 30, 50])
  tokens = jax.random.randint(jax.random.key(1), (3, 12), 0, 23)
  variables = jax.jit(model.init)(jax.random.key(2), image, width, tokens)
  full = jax.jit(model.apply)(variables, image, width, tokens)
  cache = jax.jit(lambda v: model.apply(v, *model.apply(v, image, width, method=Model.encode),
                                        16, method=Model.init_cache))(variables)
  step = jax.jit(lambda t, p, c: model.apply(variables, t, p, c, method=Model.decode_step))
  steps = []
  for t in range(tokens.shape[1]):
    logits, cache = step(tokens[:, t], jnp.array(t), cache)
    steps.append(logits)
  np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-4)


def test_later_tokens_do_not_change_earlier_logits_and_dropout_trains():
  model = _model()
  image = jax.random.uniform(jax.random.key(0), (2, 32, 64, 1))
  width = jnp.array([64, 64])
  tokens = jax.random.randint(jax.random.key(1), (2, 8), 0, 23)
  variables = jax.jit(model.init)(jax.random.key(2), image, width, tokens)
  changed = tokens.at[:, 5:].set(7)
  apply = jax.jit(model.apply, static_argnames="train")
  a = apply(variables, image, width, tokens)
  b = apply(variables, image, width, changed)
  np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-5)
  assert not np.allclose(a[:, 5:], b[:, 5:])
  trained = apply(variables, image, width, tokens, train=True,
                  rngs={"dropout": jax.random.key(3)})
  assert not np.allclose(trained, a)


def test_bfloat16_computation_keeps_float32_parameters():
  model = _model(dtype="bfloat16")
  image = jnp.ones((1, 32, 32, 1))
  tokens = jnp.zeros((1, 4), jnp.int32)
  variables = jax.jit(model.init)(jax.random.key(0), image, jnp.array([32]), tokens)
  assert {x.dtype for x in jax.tree.leaves(variables)} == {jnp.dtype("float32")}
  logits = jax.jit(model.apply)(variables, image, jnp.array([32]), tokens)
  assert logits.dtype == jnp.float32 and np.all(np.isfinite(logits))


def test_captured_queries_and_keys_give_the_cross_attention():
  """notebooks/math.ipynb draws cross-attention without a hook in the model: each layer's
  `cross_q` and `cross_kv_N` outputs, captured by flax, give the weights the layer used
  (checked through `cross_out`, whose output they must reproduce)."""
  model = _model()
  image = jax.random.uniform(jax.random.key(0), (2, 32, 64, 1))
  width = jnp.array([64, 30])
  tokens = jax.random.randint(jax.random.key(1), (2, 6), 0, 23)
  variables = jax.jit(model.init)(jax.random.key(2), image, width, tokens)
  _, state = model.apply(variables, image, width, tokens, mutable=["intermediates"],
                         capture_intermediates=lambda m, method: method == "__call__" and str(
                             m.name).startswith(("cross_q", "cross_kv_", "cross_out")))
  _, memory_mask = model.apply(variables, image, width, method=Model.encode)
  found = state["intermediates"]["text_decoder"]
  params = variables["params"]["text_decoder"]
  for layer in range(2):
    q = found[f"layers_{layer}"]["cross_q"]["__call__"][0]
    kv = found[f"cross_kv_{layer}"]["__call__"][0]
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, kv[:, :, 0]) / np.sqrt(q.shape[-1])
    weights = jax.nn.softmax(jnp.where(memory_mask[:, None, None].astype(bool), logits,
                                       -jnp.inf), axis=-1)
    out = params[f"layers_{layer}"]["cross_out"]
    y = jnp.einsum("bhqk,bkhd->bqhd", weights, kv[:, :, 1])
    expected = jnp.einsum("bqhd,hdo->bqo", y, out["kernel"]) + out["bias"]
    np.testing.assert_allclose(found[f"layers_{layer}"]["cross_out"]["__call__"][0], expected,
                               atol=1e-5)
    masked = ~np.asarray(memory_mask, bool)[1]
    assert masked.any() and np.all(np.asarray(weights)[1][..., masked] == 0.0)


def test_symbol_counts_sum_densities_over_real_cells_only():
  model = Model(vocab_size=23, count_symbols=True,
                encoder=dict(name="swin.Swin", patch_size=4, embed_dim=16, depths=(2, 2),
                             num_heads=(2, 2), window=4),
                decoder=dict(num_layers=1, dim=32, num_heads=4, mlp_dim=64, max_length=16))
  image = jax.random.uniform(jax.random.key(0), (2, 32, 64, 1))
  width = jnp.array([64, 32])
  tokens = jnp.zeros((2, 8), jnp.int32)
  variables = jax.jit(model.init)(jax.random.key(2), image, width, tokens)
  _, sown = model.apply(variables, image, width, tokens, mutable=["intermediates"])
  (counts,) = sown["intermediates"]["symbol_counts"]
  assert counts.shape == (2, 23) and bool(jnp.all(counts >= 0))
  # The head starts near zero density: the counting loss does not swamp the decoder's.
  assert float(counts.max()) < 0.1
  # Padding the second image wider (its real width unchanged) adds no cells to count.
  wide = jnp.pad(image, ((0, 0), (0, 0), (0, 32), (0, 0)))
  _, wider = model.apply(variables, wide, width, tokens, mutable=["intermediates"])
  np.testing.assert_allclose(wider["intermediates"]["symbol_counts"][0][1], counts[1],
                             rtol=1e-4)
