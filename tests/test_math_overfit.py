"""The recipe check of the math family: a model that can learn at all memorises a few
expressions exactly (greedy decoding, whole expressions), with either encoder.

What it rules out: shifted-target, mask or padding bugs in teacher forcing, a decoder
that cannot see the image, and search that decodes differently from training; each would
keep the exact-match rate of memorised expressions below 1.
"""

import pytest

from htr import evaluate, train


@pytest.mark.parametrize("encoder", ["swin", "conv"])
def test_sixteen_expressions_are_memorised_exactly(encoder, data_dir, load_config, tmp_path):
  config = load_config("math_swin", f"overfit=16,size=tiny,encoder={encoder}")
  config.data.name = "synthetic_math/tiny"
  config.data.data_dir = data_dir
  config.data.window_batches = 1
  config.batch_size = config.eval_batch_size = 8
  config.num_train_steps = 300       # Swin: 100 % at step 150 on 1 device, 15 of 16 at 200 on 8.
  config.eval_every = config.checkpoint_every = 300
  config.optimizer.learning_rate = 3e-3
  config.optimizer.warmup_steps = 20
  train.train_and_evaluate(config, str(tmp_path))
  metrics = evaluate.evaluate(config, str(tmp_path), split="train[:16]")["metrics"]
  assert metrics["num_examples"] == 16
  assert metrics["exprate"] == 1.0, metrics
