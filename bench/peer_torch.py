"""The peer: the seed document's PyTorch model, trainer step and greedy recogniser.

Written here from the architecture the seed describes (its code is not copied):
3 x (Conv1d -> BatchNorm1d -> ReLU -> Dropout), 4 -> 64 -> 128 -> 256 channels,
kernels 5/5/3; a 3-layer bidirectional LSTM of 256 units over packed sequences
(dropout between layers; `packed=False` runs it over the padded batch instead,
which on CPU takes PyTorch's fused kernels: its backward over packed sequences
zero-fills a full-size gradient every timestep, ~300 s per training step of 32
IAM-length lines on one thread); a Linear layer to the classes; CTC loss (blank 0,
zero_infinity), Adam (lr 1e-3, weight decay 1e-4), gradient norm clipped to 5.
Installed only by the `bench` extra (torch).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


class SeedModel(nn.Module):
  """Conv1d x3 + BiLSTM x3 + Linear over `[B, T, 4]` pen features."""

  def __init__(self, num_classes: int, *, channels=(64, 128, 256), kernels=(5, 5, 3),
               hidden: int = 256, layers: int = 3, dropout: float = 0.3,
               packed: bool = True):
    super().__init__()
    self.packed = packed
    blocks, width = [], 4
    for out, k in zip(channels, kernels):
      blocks += [nn.Conv1d(width, out, k, padding=k // 2), nn.BatchNorm1d(out), nn.ReLU(),
                 nn.Dropout(dropout)]
      width = out
    self.conv = nn.Sequential(*blocks)
    self.lstm = nn.LSTM(width, hidden, num_layers=layers, bidirectional=True,
                        batch_first=True, dropout=dropout if layers > 1 else 0.0)
    self.fc = nn.Linear(2 * hidden, num_classes)

  def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    x = self.conv(x.transpose(1, 2)).transpose(1, 2)
    if not self.packed:
      return self.fc(self.lstm(x)[0])
    x = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
    x, _ = self.lstm(x)
    x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True)
    return self.fc(x)


def train_step_fn(model: SeedModel) -> Callable[..., float]:
  """The seed trainer's inner loop body: forward, CTC loss, backward, clip, Adam."""
  criterion = nn.CTCLoss(blank=0, zero_infinity=True)
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)

  def step(features, lengths, labels, label_lengths) -> float:
    model.train()
    optimizer.zero_grad()
    log_probs = model(features, lengths).log_softmax(2).transpose(0, 1)  # [T, B, C]
    targets = torch.cat([labels[i, :n] for i, n in enumerate(label_lengths.tolist())])
    loss = criterion(log_probs, targets, lengths, label_lengths)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    return float(loss.detach())
  return step


def collapse(pred) -> list[int]:
  """The seed's greedy CTC collapse: drop repeats and blanks (0), one frame at a time."""
  result, prev = [], -1
  for p in pred:
    if p != 0 and p != prev:
      result.append(p)
    prev = p
  return result


def recognise_fn(model: SeedModel) -> Callable[..., list[list[int]]]:
  """Forward in eval mode without gradients, argmax, collapse per line (the seed's path)."""
  def recognise(features, lengths) -> list[list[int]]:
    model.eval()
    with torch.no_grad():
      pred = model(features, lengths).argmax(2).numpy()
    return [collapse(p[:n]) for p, n in zip(pred, lengths.tolist())]
  return recognise


def tensors(*arrays: np.ndarray) -> list[torch.Tensor]:
  return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
