"""Swin Transformer image encoder (Liu et al. 2021) for variable-width ink images.

patch embedding -> stages of (window attention, shifted-window attention) blocks
with relative position bias -> patch merging (2x2 -> half resolution, twice the
channels) between stages. Input is single-channel `image [B,H,W,1]` whose width is
padded to a bucket; `image_width [B]` says how much is real. Padded columns are
masked as attention KEYS and zeroed at every stage boundary, so the features of
real positions do not depend on the bucket an image was padded to.

The output is the feature grid `[B, H', W', C]` with its validity mask `[B, H', W']`
(a Transformer decoder reads it flattened as its memory). Fixed 2-D sinusoidal positions
are added to it: window attention only knows offsets inside a window, so without
them a decoder could not tell where in the image (left of what) a feature is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from htr.models.positions import sinusoidal_2d

# Added to masked attention logits (softmax runs in float32: finite, never NaN).
_NEG = -1e9


def relative_position_index(wh: int, ww: int) -> np.ndarray:
  """[wh*ww, wh*ww] indices into a (2wh-1)*(2ww-1) bias table (Swin's formula)."""
  coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
  rel = coords[:, :, None] - coords[:, None, :]
  return (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)


def region_ids(height: int, width: int, window: tuple[int, int], shift: tuple[int, int]
               ) -> np.ndarray:
  """[height, width] region labels of the rolled map: windows only attend within a region.

  After rolling by -shift, the last window row/column holds pieces from opposite
  edges of the image; Swin labels the pieces so attention never joins them.
  """
  ids = np.zeros((height, width), np.int32)
  count = 0
  for hs in _bands(height, window[0], shift[0]):
    for ws in _bands(width, window[1], shift[1]):
      ids[hs, ws] = count
      count += 1
  return ids


def _bands(size: int, window: int, shift: int) -> list[slice]:
  if not shift:
    return [slice(0, size)]
  return [slice(0, size - window), slice(size - window, size - shift), slice(size - shift, size)]


def to_windows(x: jax.Array, window: tuple[int, int]) -> jax.Array:
  """[B, H, W, ...] -> [B, nH*nW, wh*ww, ...] (H, W multiples of the window)."""
  b, h, w = x.shape[:3]
  rest = x.shape[3:]
  wh, ww = window
  x = x.reshape(b, h // wh, wh, w // ww, ww, *rest)
  x = jnp.moveaxis(x, 3, 2)
  return x.reshape(b, (h // wh) * (w // ww), wh * ww, *rest)


def from_windows(x: jax.Array, window: tuple[int, int], h: int, w: int) -> jax.Array:
  """Inverse of `to_windows`."""
  b = x.shape[0]
  rest = x.shape[3:]
  wh, ww = window
  x = x.reshape(b, h // wh, w // ww, wh, ww, *rest)
  x = jnp.moveaxis(x, 2, 3)
  return x.reshape(b, h, w, *rest)


class WindowAttention(nn.Module):
  """Multi-head self-attention inside windows, with a learned relative position bias.

  Attributes:
    num_heads: attention heads.
    window: (height, width) of a window.
    dtype: computation dtype (None: that of the inputs and parameters).
  """

  num_heads: int
  window: tuple[int, int]
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, key_mask: jax.Array) -> jax.Array:
    """x [B, nW, N, C]; key_mask [B, nW, N, N] bool (True: may attend) -> [B, nW, N, C]."""
    c = x.shape[-1]
    head = c // self.num_heads
    qkv = nn.DenseGeneral((3, self.num_heads, head), dtype=self.dtype, name="qkv")(x)
    q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
    logits = jnp.einsum("bwqhd,bwkhd->bwhqk", q, k).astype(jnp.float32) / np.sqrt(head)
    wh, ww = self.window
    table = self.param("relative_position_bias", nn.initializers.truncated_normal(0.02),
                       ((2 * wh - 1) * (2 * ww - 1), self.num_heads))
    bias = table[relative_position_index(wh, ww)]  # [N, N, heads]
    logits = logits + jnp.moveaxis(bias, -1, 0)
    logits = jnp.where(key_mask[:, :, None], logits, _NEG)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    out = jnp.einsum("bwhqk,bwkhd->bwqhd", weights, v)
    return nn.DenseGeneral(c, axis=(-2, -1), dtype=self.dtype, name="attention_out")(out)


class SwinBlock(nn.Module):
  """Pre-norm (shifted) window attention + MLP, both residual.

  Attributes:
    num_heads: attention heads.
    window: (height, width) of a window.
    shift: (rows, columns) the map is rolled by before windowing (0: plain windows).
    mlp_ratio: MLP hidden width / channels.
    dropout: dropout on the residual branches.
    dtype: computation dtype (None: that of the inputs and parameters).
  """

  num_heads: int
  window: tuple[int, int]
  shift: tuple[int, int]
  mlp_ratio: float = 4.0
  dropout: float = 0.0
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, valid: jax.Array, *, train: bool) -> jax.Array:
    """x [B, H, W, C] (H, W multiples of the window); valid [B, H, W] bool."""
    _, h, w, c = x.shape
    sh, sw = self.shift
    y = nn.LayerNorm(dtype=self.dtype)(x)
    rolled = jnp.roll(y, (-sh, -sw), axis=(1, 2))
    keys = to_windows(jnp.roll(valid, (-sh, -sw), axis=(1, 2)), self.window)  # [B, nW, N]
    regions = to_windows(jnp.asarray(region_ids(h, w, self.window, self.shift))[None],
                         self.window)  # [1, nW, N]
    mask = (regions[..., :, None] == regions[..., None, :]) & keys[..., None, :]
    y = WindowAttention(self.num_heads, self.window, self.dtype)(
        to_windows(rolled, self.window), mask)
    y = jnp.roll(from_windows(y, self.window, h, w), (sh, sw), axis=(1, 2))
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    y = nn.LayerNorm(dtype=self.dtype)(x)
    y = nn.Dense(int(c * self.mlp_ratio), dtype=self.dtype, name="mlp_in")(y)
    y = nn.Dense(c, dtype=self.dtype, name="mlp_out")(nn.gelu(y))
    return x + nn.Dropout(self.dropout, deterministic=not train)(y)


class PatchMerging(nn.Module):
  """2x2 neighbouring patches -> one of twice the channels (half the resolution)."""

  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    x = nn.LayerNorm(dtype=self.dtype)(x.reshape(b, h // 2, w // 2, 4 * c))
    return nn.Dense(2 * c, use_bias=False, dtype=self.dtype)(x)


def _pad_to(x: jax.Array, h: int, w: int) -> jax.Array:
  widths = [(0, 0), (0, h - x.shape[1]), (0, w - x.shape[2])] + [(0, 0)] * (x.ndim - 3)
  return jnp.pad(x, widths)


class Swin(nn.Module):
  """Swin-T-style encoder: `image [B,H,W,1]`, `image_width [B]` -> (grid, valid).

  Attributes:
    patch_size: side of the square patches embedded by a strided convolution.
    conv_stem: embed with log2(patch_size) 3x3 stride-2 convolutions instead of one
      patch_size x patch_size patch projection (Xiao et al. 2021, "Early convolutions
      help transformers see better"): features that do not jump when a thin stroke
      moves by a pixel across a patch border.
    embed_dim: channels after the patch embedding (doubled by each merge).
    depths: blocks per stage (pairs of plain + shifted windows).
    num_heads: attention heads per stage.
    window: window side; clamped per stage to the feature map's height.
    mlp_ratio: MLP hidden width / channels.
    dropout: dropout on residual branches.
    absolute_positions: add fixed 2-D sinusoidal positions (row, column) to the output.
    dtype: computation dtype (None: that of the inputs and parameters).
  """

  patch_size: int = 4
  conv_stem: bool = False
  embed_dim: int = 96
  depths: Sequence[int] = (2, 2, 6, 2)
  num_heads: Sequence[int] = (3, 6, 12, 24)
  window: int = 8
  mlp_ratio: float = 4.0
  dropout: float = 0.0
  absolute_positions: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, image: jax.Array, image_width: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, jax.Array]:
    p = self.patch_size
    # A blank patch (paper, ink 0) embeds to the bias alone. Flax's zero bias would make
    # that a constant vector, whose LayerNorm has zero variance: its gradient scales with
    # 1/sqrt(epsilon), ~1e9 in the first steps, and clipping by global norm then shrinks
    # every other gradient with it. PyTorch's Conv default, a bias spread like the
    # kernel's outputs (1/sqrt(fan_in)), gives blank patches a real spread.
    x = self._conv_stem(image) if self.conv_stem else image
    k = 1 if self.conv_stem else p  # After the stem, a 1x1 projection.
    x = nn.Conv(self.embed_dim, (k, k), strides=(k, k), padding="VALID", dtype=self.dtype,
                bias_init=nn.initializers.normal((k * k * x.shape[-1]) ** -0.5),
                name="patch_embed")(x)
    x = nn.LayerNorm(dtype=self.dtype)(x)
    width = -(-image_width // p)  # Columns holding any real pixel.
    for stage, (depth, heads) in enumerate(zip(self.depths, self.num_heads, strict=True)):
      if stage:
        x = _pad_to(x, x.shape[1] + x.shape[1] % 2, x.shape[2] + x.shape[2] % 2)
        x = PatchMerging(self.dtype, name=f"merge{stage}")(x)
        width = -(-width // 2)
      h, w = x.shape[1:3]
      window = (min(self.window, h), self.window)
      hp, wp = -(-h // window[0]) * window[0], -(-w // window[1]) * window[1]
      valid = jnp.broadcast_to((jnp.arange(wp)[None] < width[:, None])[:, None],
                               (x.shape[0], hp, wp)) & (jnp.arange(hp) < h)[None, :, None]
      x = _pad_to(x, hp, wp) * valid[..., None].astype(x.dtype)
      for i in range(depth):
        shift = ((window[0] // 2 if h > window[0] else 0, window[1] // 2)
                 if i % 2 else (0, 0))
        x = SwinBlock(heads, window, shift, self.mlp_ratio, self.dropout, self.dtype,
                      name=f"stage{stage}_block{i}")(x, valid, train=train)
      x = x[:, :h, :w] * valid[:, :h, :w, None].astype(x.dtype)
      valid = valid[:, :h, :w]
    x = nn.LayerNorm(dtype=self.dtype, name="norm")(x)
    _, h, w, c = x.shape
    if self.absolute_positions:
      x = x + jnp.asarray(sinusoidal_2d(h, w, c), x.dtype) * valid[..., None].astype(x.dtype)
    return x, valid

  def _conv_stem(self, image: jax.Array) -> jax.Array:
    """3x3 stride-2 convolutions with GELU, channels growing to embed_dim: the image at
    1 / patch_size resolution. The patch embedding after it is a 1x1 projection."""
    steps = int(np.log2(self.patch_size))
    if 2 ** steps != self.patch_size:
      raise ValueError(f"conv_stem needs a power-of-two patch_size, not {self.patch_size}")
    x = image
    for i in range(steps):
      features = max(8, self.embed_dim >> (steps - 1 - i))
      x = nn.gelu(nn.Conv(features, (3, 3), strides=(2, 2), padding="SAME", dtype=self.dtype,
                          name=f"stem{i}")(x))
    return x
