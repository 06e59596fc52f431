"""The seed document's host-side code paths, reimplemented in its style (no torch needed).

- `SeedPreprocessor`: points as per-point dicts, bounding-box normalisation, then
  per stroke a Python loop that builds scipy `interp1d` resamplers, then deltas.
- `prefix_beam_search`: the textbook dict-of-prefixes CTC beam search in plain
  Python (what the seed gets from pyctcdecode, which cannot be installed next to
  numpy 2), with the usual pruning of classes below a log-probability.
"""

from __future__ import annotations

import collections
import math

import numpy as np
from scipy.interpolate import interp1d


def to_seed_strokes(points: np.ndarray, stroke_lengths: np.ndarray) -> list[dict]:
  """An ink's arrays -> the seed's input format: strokes of per-point dicts."""
  strokes, start = [], 0
  for n in stroke_lengths.tolist():
    strokes.append({"points": [{"x": float(x), "y": float(y), "t": float(t), "pen_down": 1}
                               for x, y, t in points[start:start + n]]})
    start += n
  return strokes


class SeedPreprocessor:
  """normalize -> resample -> extract_features, one stroke at a time.

  Attributes:
    target_height: bounding-box height after normalisation.
    resample_density: points per unit of arc length.
  """

  def __init__(self, target_height: float = 60.0, resample_density: float = 20.0):
    self.target_height = target_height
    self.resample_density = resample_density

  def normalize(self, strokes: list[dict]) -> list[dict]:
    points = np.array([(p["x"], p["y"]) for s in strokes for p in s["points"]])
    x_min, y_min = points.min(axis=0)
    height = points[:, 1].max() - y_min
    scale = self.target_height / height if height > 0 else 1.0
    return [{"x": [(p["x"] - x_min) * scale for p in s["points"]],
             "y": [(p["y"] - y_min) * scale for p in s["points"]],
             "t": [p["t"] for p in s["points"]],
             "pen_down": [p["pen_down"] for p in s["points"]]} for s in strokes]

  def resample(self, strokes: list[dict]) -> list[dict]:
    out = []
    for stroke in strokes:
      x, y = np.array(stroke["x"]), np.array(stroke["y"])
      cumulative = np.concatenate([[0], np.cumsum(np.sqrt(np.diff(x) ** 2 + np.diff(y) ** 2))])
      total = cumulative[-1]
      num_points = int(total * self.resample_density)
      if num_points < 2 or len(x) < 2 or total <= 0:
        out.append(stroke)  # The seed keeps the stroke as it is when it cannot resample.
        continue
      grid = np.linspace(0, total, num_points)
      # interp1d needs a strictly increasing axis: drop repeated points first.
      keep = np.concatenate([[True], np.diff(cumulative) > 0])
      fx = interp1d(cumulative[keep], x[keep], kind="linear")
      fy = interp1d(cumulative[keep], y[keep], kind="linear")
      ft = interp1d(cumulative[keep], np.array(stroke["t"])[keep], kind="linear")
      out.append({"x": fx(grid).tolist(), "y": fy(grid).tolist(), "t": ft(grid).tolist(),
                  "pen_down": stroke["pen_down"][:num_points]})
    return out

  def extract_features(self, strokes: list[dict]) -> np.ndarray:
    features = []
    for stroke in strokes:
      x, y, t = np.array(stroke["x"]), np.array(stroke["y"]), np.array(stroke["t"])
      pen = np.zeros(len(x))
      pen[0] = 1
      features.append(np.stack([np.diff(x, prepend=x[0]), np.diff(y, prepend=y[0]),
                                np.diff(t, prepend=t[0]), pen], axis=1))
    return np.vstack(features)

  def process(self, strokes: list[dict]) -> np.ndarray:
    return self.extract_features(self.resample(self.normalize(strokes)))


def prefix_beam_search(logprobs: np.ndarray, beam_width: int = 16, blank: int = 0,
                       prune: float = math.log(1e-3)) -> tuple[int, ...]:
  """Best labelling of `[T, C]` log-probabilities by prefix beam search (plain Python)."""
  def add(a: float, b: float) -> float:
    if a == -math.inf:
      return b
    if b == -math.inf:
      return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))

  beams = {(): (0.0, -math.inf)}  # prefix -> (log P ending in blank, log P ending in label)
  for frame in logprobs.tolist():
    best = max(frame)
    nxt = collections.defaultdict(lambda: (-math.inf, -math.inf))
    for prefix, (pb, pnb) in beams.items():
      for c, p in enumerate(frame):
        if p < prune and p < best:
          continue
        if c == blank:
          b, nb = nxt[prefix]
          nxt[prefix] = (add(b, add(pb, pnb) + p), nb)
          continue
        extended = prefix + (c,)
        b, nb = nxt[extended]
        if prefix and prefix[-1] == c:
          nxt[extended] = (b, add(nb, pb + p))
          b, nb = nxt[prefix]
          nxt[prefix] = (b, add(nb, pnb + p))
        else:
          nxt[extended] = (b, add(nb, add(pb, pnb) + p))
    beams = dict(sorted(nxt.items(), key=lambda kv: -add(*kv[1]))[:beam_width])
  return max(beams.items(), key=lambda kv: add(*kv[1]))[0]
