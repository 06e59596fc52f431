"""CRNN for CTC over line or word images: a 2-D conv stack, the height collapsed into
features per column, htr's fused BiLSTM across the columns, per-column logits.

Input `[B, H, W, C]` with the real width of each image (`lengths`, padding on the
right); output `(logits [B, W / time_stride, classes], lengths)`, the frames CTC
aligns. Padded columns are masked in the BatchNorm statistics and zeroed after every
block, so an image reads the same in any width bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from htr.models.bilstm import BiLSTM


class ConvBlock(nn.Module):
  """3x3 conv -> BatchNorm (over real columns) -> ReLU -> max-pool -> dropout.

  Attributes:
    features: output channels.
    pool: (rows, columns) pooling window and stride; (1, 1): none.
    dropout: dropout rate after the block.
  """

  features: int
  pool: tuple[int, int] = (2, 2)
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, mask, *, train: bool):
    x = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(
        x, mask=mask[:, None, :, None])
    x = nn.relu(x)
    if self.pool != (1, 1):
      x = nn.max_pool(x, self.pool, strides=self.pool, padding="SAME")
      # A pooled column is real if the first column of its window is.
      mask = mask[:, jnp.arange(x.shape[2]) * self.pool[1]]
    x = x * mask[:, None, :, None]
    return nn.Dropout(self.dropout, deterministic=not train)(x), mask


class Model(nn.Module):
  """Line image -> per-column character logits.

  Attributes:
    num_classes: alphabet size + 1 (the blank).
    conv_features: channels of each conv block.
    conv_pools: (rows, columns) max-pool of each block; the product of the columns is
      `time_stride`, of the rows what is left of the height (collapsed into features).
    conv_dropout: dropout rate after each conv block.
    lstm_units: hidden units per direction of each BiLSTM layer.
    lstm_dropout: dropout after each BiLSTM layer.
    unroll: recurrence steps per loop iteration.
  """

  num_classes: int
  conv_features: Sequence[int] = (32, 64, 128, 128)
  conv_pools: Sequence[tuple[int, int]] = ((2, 2), (2, 2), (2, 1), (2, 1))
  conv_dropout: float = 0.0
  lstm_units: Sequence[int] = (128, 128)
  lstm_dropout: float = 0.0
  unroll: int = 8

  @property
  def time_stride(self) -> int:
    """Input columns per output frame (the export pads widths to multiples of it)."""
    stride = 1
    for _, columns in self.conv_pools:
      stride *= columns
    return stride

  @nn.compact
  def __call__(self, inputs, lengths, *, train: bool = False):
    x = inputs
    mask = jnp.arange(x.shape[2])[None] < lengths[:, None]
    for features, pool in zip(self.conv_features, self.conv_pools, strict=True):
      x, mask = ConvBlock(features, tuple(pool), self.conv_dropout)(x, mask, train=train)
    batch, height, width, channels = x.shape
    x = x.transpose(0, 2, 1, 3).reshape(batch, width, height * channels)  # Columns.
    lengths = jnp.sum(mask, axis=1).astype(jnp.int32)
    for units in self.lstm_units:
      x = BiLSTM(units, unroll=self.unroll)(x, lengths)
      x = nn.Dropout(self.lstm_dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x), lengths
