"""A convolutional image encoder for an attention decoder (WAP/CoMER's choice of a CNN
over a vision Transformer): conv blocks with masked BatchNorm (htr/models/crnn.py's
`ConvBlock`), then the feature grid with fixed 2-D positions as the decoder's memory.

Convolutions see every glyph at every position with the same weights from the first
step, which is what a small model on a CPU budget needs; Swin's windows learn that
locality instead. Output `(grid [B, H', W', C], valid [B, H', W'])`, the encoder
contract of htr/models/transformer_decoder.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from htr.models.crnn import ConvBlock
from htr.models.positions import sinusoidal_2d


class Model(nn.Module):
  """`image [B,H,W,1]`, `image_width [B]` -> (grid, valid).

  Attributes:
    features: channels of each conv block.
    pools: (rows, columns) max-pool after each block ((1, 1): none); their product is
      the grid's stride.
    dropout: dropout after each block.
    dtype: accepted for the encoder contract; the blocks compute in the input's dtype.
  """

  features: Sequence[int] = (32, 64, 64, 128, 128, 256)
  pools: Sequence[tuple[int, int]] = ((2, 2), (1, 1), (2, 2), (1, 1), (2, 2), (2, 2))
  dropout: float = 0.0
  dtype: Any = None

  @nn.compact
  def __call__(self, image: jax.Array, image_width: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, jax.Array]:
    x = image
    mask = jnp.arange(x.shape[2])[None] < image_width[:, None]
    for features, pool in zip(self.features, self.pools, strict=True):
      x, mask = ConvBlock(features, tuple(pool), self.dropout)(x, mask, train=train)
    x = nn.LayerNorm(name="norm")(x)
    batch, height, width, channels = x.shape
    valid = jnp.broadcast_to(mask[:, None, :], (batch, height, width))
    x = x + jnp.asarray(sinusoidal_2d(height, width, channels), x.dtype) * valid[..., None]
    return x, valid
