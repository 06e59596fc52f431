"""Conv1D + BiLSTM encoder for CTC over pen-point sequences.

The convolutions see a few neighbouring points (local stroke shape), the
bidirectional LSTMs see the whole line (context across characters), and a
linear layer gives per-frame logits over the alphabet plus the CTC blank.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from htr.models.bilstm import BiLSTM, from_flax_cells


class ConvBlock(nn.Module):
  """Conv1D -> BatchNorm -> ReLU -> Dropout, with optional time subsampling.

  Attributes:
    features: output channels.
    kernel_size: taps along time.
    stride: time subsampling factor (1 keeps every frame).
    dropout: dropout rate after the activation.
  """

  features: int
  kernel_size: int
  stride: int = 1
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, mask, *, train: bool):
    x = nn.Conv(self.features, (self.kernel_size,), strides=(self.stride,), padding="SAME",
                use_bias=False)(x)
    # Output frame i is centred on input frame i * stride. Gathering those (rather
    # than slicing ::stride) gives the mask the conv's own symbolic length, which
    # shape-polymorphic export (htr/export.py) cannot prove equal to the slice's.
    mask = mask[:, jnp.arange(x.shape[1]) * self.stride]
    # Batch statistics over real frames only: padding must not shift the norm.
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x, mask=mask[..., None])
    x = nn.relu(x) * mask[..., None]
    return nn.Dropout(self.dropout, deterministic=not train)(x), mask


class Model(nn.Module):
  """The online-handwriting recogniser of htr's first task.

  Attributes:
    num_classes: alphabet size + 1 (the blank).
    conv_features: channels of each conv block.
    conv_kernels: kernel size of each conv block.
    conv_strides: time stride of each conv block (product = total subsampling).
    conv_dropout: dropout rate in the conv blocks.
    lstm_units: hidden units per direction of each BiLSTM layer.
    lstm_dropout: dropout between recurrent layers and before the output.
    unroll: recurrence steps per loop iteration (fewer loop trips: faster on CPU).
    recurrence: "fused" (htr/models/bilstm.py: both directions in one scan, input
      projections hoisted; fast) or "flax" (nn.Bidirectional of nn.RNN scans: the
      reference, and the layout of checkpoints written before the fused layer;
      `convert_flax_params` turns those into fused ones).
  """

  num_classes: int
  conv_features: Sequence[int] = (64, 128, 256)
  conv_kernels: Sequence[int] = (5, 5, 3)
  conv_strides: Sequence[int] = (1, 1, 1)
  conv_dropout: float = 0.2
  lstm_units: Sequence[int] = (256, 256, 256)
  lstm_dropout: float = 0.3
  unroll: int = 8
  recurrence: str = "fused"

  @property
  def time_stride(self) -> int:
    stride = 1
    for s in self.conv_strides:
      stride *= s
    return stride

  def output_lengths(self, lengths):
    """Frames left after the conv strides ('SAME' padding rounds up)."""
    for s in self.conv_strides:
      lengths = (lengths + s - 1) // s
    return lengths

  @nn.compact
  def __call__(self, inputs, lengths, *, train: bool = False):
    """Returns logits [B, T', num_classes] and their lengths [B]."""
    mask = (jnp.arange(inputs.shape[1])[None] < lengths[:, None]).astype(inputs.dtype)
    x = inputs * mask[..., None]
    for features, kernel, stride in zip(self.conv_features, self.conv_kernels,
                                        self.conv_strides, strict=True):
      x, mask = ConvBlock(features, kernel, stride, self.conv_dropout)(x, mask, train=train)
    lengths = self.output_lengths(lengths)
    for units in self.lstm_units:
      if self.recurrence == "fused":
        x = BiLSTM(units, unroll=self.unroll)(x, lengths)
      elif self.recurrence == "flax":
        x = nn.Bidirectional(nn.RNN(nn.OptimizedLSTMCell(units), unroll=self.unroll),
                             nn.RNN(nn.OptimizedLSTMCell(units), unroll=self.unroll)
                             )(x, seq_lengths=lengths)
      else:
        raise ValueError(f"recurrence must be 'fused' or 'flax', got {self.recurrence!r}")
      x = nn.Dropout(self.lstm_dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x), lengths


def convert_flax_params(params: dict) -> dict:
  """Params of a `recurrence="flax"` Model -> the same model with `recurrence="fused"`.

  The flax layout names the cells OptimizedLSTMCell_{2k} (forward) and _{2k+1}
  (backward) for BiLSTM layer k; everything else is shared unchanged.
  """
  out = {k: v for k, v in params.items() if not k.startswith("OptimizedLSTMCell_")}
  layers = sum(k.startswith("OptimizedLSTMCell_") for k in params) // 2
  for k in range(layers):
    out[f"BiLSTM_{k}"] = from_flax_cells(params[f"OptimizedLSTMCell_{2 * k}"],
                                         params[f"OptimizedLSTMCell_{2 * k + 1}"])
  return out
