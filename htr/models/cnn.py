"""Image classifiers for single characters (28x28 glyphs -> class logits).

`Model` is the seed's CNN: conv blocks (conv -> BatchNorm -> ReLU -> pool ->
dropout growing with depth), then fully connected layers with dropout. `ResNet`
is its residual variant: stages of two-conv residual blocks and global average
pooling, fewer parameters for the same depth. Both take `image [B,H,W,C]` and an
optional per-example `mask`, so padding rows never shift the batch statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


def _norm(train: bool) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9)


def _stats_mask(mask, x):
  """A per-example mask broadcast to `x`, for BatchNorm's statistics."""
  return None if mask is None else mask.astype(bool).reshape((-1,) + (1,) * (x.ndim - 1))


class Model(nn.Module):
  """The seed's character CNN.

  Attributes:
    num_classes: output classes.
    conv_features: channels of each conv block.
    pool: whether each conv block ends with 2x2 max pooling.
    conv_dropout: dropout after each conv block (progressive: deeper, higher).
    dense_features: units of the hidden fully connected layers.
    dense_dropout: dropout after each hidden fully connected layer.
  """

  num_classes: int
  conv_features: Sequence[int] = (32, 64, 128, 256)
  pool: Sequence[bool] = (True, True, True, False)
  conv_dropout: Sequence[float] = (0.25, 0.25, 0.25, 0.5)
  dense_features: Sequence[int] = (512, 256, 128)
  dense_dropout: float = 0.5

  @nn.compact
  def __call__(self, image, mask=None, *, train: bool = False):
    """Returns logits [B, num_classes]."""
    x = image
    for features, pool, rate in zip(self.conv_features, self.pool, self.conv_dropout,
                                    strict=True):
      x = nn.Conv(features, (3, 3), padding="SAME", use_bias=False)(x)
      x = nn.relu(_norm(train)(x, mask=_stats_mask(mask, x)))
      if pool:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
      x = nn.Dropout(rate, deterministic=not train)(x)
    x = x.reshape(x.shape[0], -1)
    for features in self.dense_features:
      x = nn.Dense(features, use_bias=False)(x)
      x = nn.relu(_norm(train)(x, mask=_stats_mask(mask, x)))
      x = nn.Dropout(self.dense_dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)


class ResidualBlock(nn.Module):
  """Two 3x3 convs with BatchNorm and a shortcut (1x1 conv when the shape changes).

  Attributes:
    features: output channels.
    stride: spatial subsampling of the first conv and the shortcut.
  """

  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x, mask, *, train: bool):
    residual = x
    y = nn.Conv(self.features, (3, 3), strides=self.stride, padding="SAME", use_bias=False)(x)
    y = nn.relu(_norm(train)(y, mask=_stats_mask(mask, y)))
    y = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False)(y)
    # Zero-initialised last scale: each block starts as the identity (Goyal et al.).
    y = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                     scale_init=nn.initializers.zeros)(y, mask=_stats_mask(mask, y))
    if residual.shape != y.shape:
      residual = nn.Conv(self.features, (1, 1), strides=self.stride, use_bias=False)(x)
      residual = _norm(train)(residual, mask=_stats_mask(mask, residual))
    return nn.relu(residual + y)


class ResNet(nn.Module):
  """A small residual CNN (the seed's "v3"): stem, stages of blocks, average pool.

  Attributes:
    num_classes: output classes.
    stem_features: channels of the first conv.
    stage_features: channels of each stage; every stage after the first halves
      the resolution.
    blocks_per_stage: residual blocks in each stage.
    dropout: dropout before the classifier.
  """

  num_classes: int
  stem_features: int = 32
  stage_features: Sequence[int] = (64, 128, 256)
  blocks_per_stage: Sequence[int] = (2, 3, 3)
  dropout: float = 0.3

  @nn.compact
  def __call__(self, image, mask=None, *, train: bool = False):
    """Returns logits [B, num_classes]."""
    x = nn.Conv(self.stem_features, (3, 3), padding="SAME", use_bias=False)(image)
    x = nn.relu(_norm(train)(x, mask=_stats_mask(mask, x)))
    for i, (features, blocks) in enumerate(zip(self.stage_features, self.blocks_per_stage,
                                               strict=True)):
      for j in range(blocks):
        x = ResidualBlock(features, stride=2 if i > 0 and j == 0 else 1)(x, mask, train=train)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)
