"""The page peer: htr's line detector (htr/models/line_detector.py) written in PyTorch.

The seed's page stack (YOLOv8 lines, TrOCR reading) cannot be installed offline, so
the peer is a detector of the same shape, written here layer for layer: a stride-2 3x3
stem, one strided residual block per stage (htr/models/cnn.py `ResidualBlock`: two 3x3
convs, the second BatchNorm's scale starting at zero, a 1x1 strided shortcut), 1x1
laterals summed top-down with nearest upsampling, a 3x3 smoothing conv per level brought
to stride 4, concatenated, a 3x3 conv and two 1x1 heads (core logit; top and bottom
distances). Same channels, strides and parameter count (`num_params`, checked against
htr's in the bench and the tests). One difference that costs nothing: a strided 3x3
conv here pads one pixel on every side, where XLA's SAME pads only after, so the
sampling grid is shifted by a pixel; the shapes and the work are the same. Detection is
eval mode (BatchNorm on running statistics) under `torch.inference_mode`.
Installed only by the `bench` extra (torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
  return [nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False),
          nn.BatchNorm2d(cout)]


class ResidualBlock(nn.Module):
  """Two 3x3 convs with BatchNorm and a shortcut (1x1 conv + BatchNorm when the shape
  changes), ReLU after the sum."""

  def __init__(self, cin: int, cout: int, stride: int):
    super().__init__()
    self.body = nn.Sequential(*_conv_bn(cin, cout, 3, stride), nn.ReLU(),
                              *_conv_bn(cout, cout, 3))
    nn.init.zeros_(self.body[-1].weight)  # Each block starts as the identity, as htr's.
    self.shortcut = (nn.Sequential(*_conv_bn(cin, cout, 1, stride))
                     if stride != 1 or cin != cout else nn.Identity())

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.relu(self.shortcut(x) + self.body(x))


class LineDetector(nn.Module):
  """Page `[B, 1, S, S]` -> maps `[B, num_maps, S/4, S/4]` (core logit, distances)."""

  def __init__(self, *, stem_features: int = 16,
               stage_features: Sequence[int] = (32, 64, 96, 128),
               blocks_per_stage: Sequence[int] = (1, 1, 1, 1), fpn_features: int = 64,
               num_maps: int = 3):
    super().__init__()
    self.stem = nn.Sequential(*_conv_bn(1, stem_features, 3, 2), nn.ReLU())
    stages, width = [], stem_features
    for features, blocks in zip(stage_features, blocks_per_stage, strict=True):
      stages.append(nn.Sequential(*[ResidualBlock(width if j == 0 else features, features,
                                                  2 if j == 0 else 1) for j in range(blocks)]))
      width = features
    self.stages = nn.ModuleList(stages)
    self.laterals = nn.ModuleList(nn.Conv2d(c, fpn_features, 1) for c in stage_features)
    self.smooth = nn.ModuleList(nn.Sequential(*_conv_bn(fpn_features, fpn_features // 4, 3),
                                              nn.ReLU()) for _ in stage_features)
    self.fuse = nn.Sequential(*_conv_bn(fpn_features // 4 * len(stage_features),
                                        fpn_features // 2, 3), nn.ReLU())
    self.core = nn.Conv2d(fpn_features // 2, 1, 1)
    self.distances = nn.Conv2d(fpn_features // 2, num_maps - 1, 1)

  def forward(self, image: torch.Tensor) -> torch.Tensor:
    x = self.stem(image)
    levels = []
    for stage in self.stages:
      x = stage(x)
      levels.append(x)
    top, outs = None, [None] * len(levels)
    for i in reversed(range(len(levels))):  # Top-down: each level gets the coarser one.
      lateral = self.laterals[i](levels[i])
      top = lateral if top is None else lateral + F.interpolate(top, scale_factor=2,
                                                                mode="nearest")
      y = self.smooth[i](top)
      outs[i] = y if i == 0 else F.interpolate(y, scale_factor=2 ** i, mode="nearest")
    y = self.fuse(torch.cat(outs, 1))
    return torch.cat([self.core(y), self.distances(y)], 1)


def num_params(model: nn.Module) -> int:
  return int(sum(p.numel() for p in model.parameters()))


def detect_fn(model: LineDetector) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
  """A fitted page `[S, S, 1]` (htr's `fit_page`) -> {"region" `[S/4, S/4]`
  probabilities, "edges" `[S/4, S/4, 2]`}, as htr's detect task predicts them."""
  model.eval()

  def detect(image: np.ndarray) -> dict[str, np.ndarray]:
    with torch.inference_mode():
      maps = model(torch.from_numpy(np.ascontiguousarray(image[None, :, :, 0]))[None])[0]
      return {"region": torch.sigmoid(maps[0]).numpy(),
              "edges": maps[1:].permute(1, 2, 0).numpy()}
  return detect
