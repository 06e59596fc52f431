"""The offline peer: a PyTorch CRNN of seed 004's kind, reading line images.

Seed 004 (handwritten names from form images) describes its model as a CNN for
visual features, a BiLSTM over the columns and a Linear layer to the characters,
trained with CTC; batch normalisation and dropout are only planned. It gives no
layer sizes and no input size, so they are chosen here (written here, no code
copied), as a classic CRNN: 4 x (3x3 Conv2d -> ReLU -> MaxPool2d), 1 -> 32 -> 64 ->
128 -> 256 channels, pools (rows, columns) 2x2, 2x2, 2x1, 2x1 (64-pixel lines end 4
rows high, one frame per 4 columns), the 4 x 256 values of each column into a
2-layer BiLSTM of 256 units, a Linear layer to the classes. It reads any width: the
fixed-size name images of the seed become one line 64 pixels high and as wide as
it is. Recognition is the seed's: eval mode, no autograd, argmax, collapse.
Installed only by the `bench` extra (torch).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from bench.peer_torch import collapse


class SeedCRNN(nn.Module):
  """Conv2d x4 + BiLSTM x2 + Linear over `[B, 1, H, W]` line images -> `[B, W / 4, C]`."""

  def __init__(self, num_classes: int, *, height: int = 64, channels=(32, 64, 128, 256),
               pools=((2, 2), (2, 2), (2, 1), (2, 1)), hidden: int = 256, layers: int = 2):
    super().__init__()
    blocks, width = [], 1
    for out, pool in zip(channels, pools, strict=True):
      blocks += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(pool, pool)]
      width = out
      height //= pool[0]
    self.conv = nn.Sequential(*blocks)
    self.lstm = nn.LSTM(width * height, hidden, num_layers=layers, bidirectional=True,
                        batch_first=True)
    self.fc = nn.Linear(2 * hidden, num_classes)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = self.conv(x)  # [B, C, H', W']
    x = x.permute(0, 3, 1, 2).flatten(2)  # Columns: [B, W', C * H'].
    return self.fc(self.lstm(x)[0])


def recognise_fn(model: SeedCRNN) -> Callable[[torch.Tensor], list[list[int]]]:
  """Forward in eval mode under inference_mode, argmax, collapse per line."""
  model.eval()

  def recognise(images: torch.Tensor) -> list[list[int]]:
    with torch.inference_mode():
      pred = model(images).argmax(2).numpy()
    return [collapse(p) for p in pred]
  return recognise


def prepare(picture: np.ndarray, height: int, width: int) -> torch.Tensor:
  """A grey (or RGB) picture -> `[1, 1, height, width]` in [0, 1], ink high: a fixed-size
  pipeline's grey conversion, resize (no crop, the aspect ratio not kept) and scaling."""
  grey = Image.fromarray(picture).convert("L")
  resized = grey.resize((width, height), Image.Resampling.BILINEAR)
  ink = 1.0 - np.asarray(resized, np.float32) / 255.0
  return torch.from_numpy(ink)[None, None]
