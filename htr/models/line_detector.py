"""A small fully convolutional text-line detector (DBNet-style, Liao et al. 2020).

A page image `[B, S, S, 1]` (S a multiple of 32) goes through a stride-2 stem and
stages of strided residual blocks (strides 4, 8, 16, 32); a feature pyramid merges them
top-down (1x1 laterals, nearest upsampling, sum), every level is brought to stride 4 and
concatenated, and a small head predicts `num_maps` maps at stride 4 (the detect task
asks for 3: line-core logits, and distances up to each line's top and down to its bottom). All BatchNorm; no dense layer, so any S that divides works, and
the work is linear in the page's area: what keeps it fast on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from htr.models.cnn import ResidualBlock, _norm

STRIDE = 4  # Output maps are at 1/STRIDE of the input.
TOTAL_STRIDE = 32  # The input side must be a multiple of this.


def _upsample(x: jax.Array, factor: int) -> jax.Array:
  """Nearest-neighbour upsampling by an integer factor (a repeat: exact and cheap)."""
  if factor == 1:
    return x
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


class Model(nn.Module):
  """Page image -> line maps at stride 4.

  Attributes:
    stem_features: channels of the stride-2 stem conv.
    stage_features: channels of the four stages (strides 4, 8, 16, 32).
    blocks_per_stage: residual blocks per stage (the first one strided).
    fpn_features: channels of the pyramid's levels.
    num_maps: output maps (detect: core logits, top and bottom distances).
  """

  stem_features: int = 16
  stage_features: Sequence[int] = (32, 64, 96, 128)
  blocks_per_stage: Sequence[int] = (1, 1, 1, 1)
  fpn_features: int = 64
  num_maps: int = 1

  @nn.compact
  def __call__(self, image, mask=None, *, train: bool = False):
    """Returns logits `[B, S/4, S/4, num_maps]`."""
    del mask  # Padding pages are all zeros; BatchNorm sees them as blank pages.
    x = nn.Conv(self.stem_features, (3, 3), strides=2, padding="SAME", use_bias=False)(image)
    x = nn.relu(_norm(train)(x))
    levels = []
    for features, blocks in zip(self.stage_features, self.blocks_per_stage, strict=True):
      for j in range(blocks):
        x = ResidualBlock(features, stride=2 if j == 0 else 1)(x, None, train=train)
      levels.append(x)
    # Top-down pathway: each level gets the coarser one's features added.
    merged = [None] * len(levels)
    top = None
    for i in reversed(range(len(levels))):
      lateral = nn.Conv(self.fpn_features, (1, 1), name=f"lateral{i}")(levels[i])
      top = lateral if top is None else lateral + _upsample(top, 2)
      merged[i] = top
    outs = []
    for i, level in enumerate(merged):
      y = nn.Conv(self.fpn_features // 4, (3, 3), padding="SAME", use_bias=False,
                  name=f"smooth{i}")(level)
      y = nn.relu(_norm(train)(y))
      outs.append(_upsample(y, 2 ** i))
    y = jnp.concatenate(outs, axis=-1)
    y = nn.Conv(self.fpn_features // 2, (3, 3), padding="SAME", use_bias=False)(y)
    y = nn.relu(_norm(train)(y))
    # Map 0 starts at a prior of 1% text cells, so the first steps are not spent
    # unlearning 0.5; the others (distances) at one cell, the order of a small line's.
    core = nn.Conv(1, (1, 1), bias_init=nn.initializers.constant(-4.6), name="core")(y)
    if self.num_maps == 1:
      return core
    rest = nn.Conv(self.num_maps - 1, (1, 1), bias_init=nn.initializers.ones,
                   name="distances")(y)
    return jnp.concatenate([core, rest], axis=-1)
