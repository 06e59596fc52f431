"""Seeded benchmark inputs shaped like IAM-OnDB, identical in every process.

Lengths are points per line after htr's preprocessing (resample spacing 0.1
line heights), measured on 400 IAM-OnDB lines: median 754, 5%..95% 419..1105,
log-normal with mu 6.59, sigma 0.326; about 18 points per character.

Offline cases read a picture of a line instead: htr's synthetic ink writer,
rendered and degraded as a scanner sees it (`line_picture`), and that picture
read into the recognisers' input (`line_input`). Page cases read a synthetic
handwritten page of known lines (`page`).
"""

from __future__ import annotations

import functools
import io

import numpy as np

LOG_MEAN, LOG_STD = 6.59, 0.326
POINTS_PER_CHAR = 18
NUM_FEATURES = 4  # dx, dy, dt, pen_up
TYPICAL_LENGTH = 754  # Median IAM-OnDB line, in points.


def line_lengths(n: int, seed: int = 0, *, low: int = 32, high: int = 3072) -> np.ndarray:
  """`n` IAM-OnDB-like sequence lengths."""
  rng = np.random.default_rng(seed)
  return np.clip(np.round(np.exp(rng.normal(LOG_MEAN, LOG_STD, n))), low, high).astype(np.int32)


def bucketed_batch_lengths(batch_size: int, window_batches: int = 16, seed: int = 0
                           ) -> np.ndarray:
  """The lengths of the median batch of a length-sorted window (as htr's bucketing cuts it)."""
  lengths = np.sort(line_lengths(batch_size * window_batches, seed))
  middle = window_batches // 2 * batch_size
  return lengths[middle:middle + batch_size]


def feature_batch(lengths: np.ndarray, padded: int, seed: int = 0) -> np.ndarray:
  """float32 `[B, padded, 4]` pen features (dx, dy, dt, pen_up), zero past each length."""
  rng = np.random.default_rng(seed)
  x = np.zeros((len(lengths), padded, NUM_FEATURES), np.float32)
  for i, n in enumerate(lengths):
    x[i, :n, :2] = rng.normal(0, 0.07, (n, 2))
    x[i, :n, 2] = rng.exponential(0.01, n)
    x[i, :n, 3] = rng.random(n) < 1 / 30
  return x


def label_batch(lengths: np.ndarray, num_classes: int, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
  """int32 labels `[B, max]` (1..num_classes-1, 0 = blank padding) and their lengths."""
  rng = np.random.default_rng(seed + 1)
  label_lengths = np.maximum(1, lengths // POINTS_PER_CHAR).astype(np.int32)
  labels = np.zeros((len(lengths), int(label_lengths.max())), np.int32)
  for i, n in enumerate(label_lengths):
    labels[i, :n] = rng.integers(1, num_classes, n)
  return labels, label_lengths


def peaky_logprobs(batch: int, frames: int, num_classes: int, seed: int = 0) -> np.ndarray:
  """float32 `[B, T, C]` log-probabilities like a trained CTC model's.

  Mostly blank frames, runs of 2-4 frames per character, the best class at
  p ~ 0.6-0.95 and a tail over the rest, so beam pruning sees realistic frames.
  """
  rng = np.random.default_rng(seed)
  logits = rng.normal(0.0, 1.0, (batch, frames, num_classes))
  best = np.zeros((batch, frames), np.int64)
  for b in range(batch):
    t = 0
    while t < frames:
      run = int(rng.integers(2, 5))
      best[b, t:t + run] = rng.integers(1, num_classes)
      t += run + int(rng.integers(3, 12))
  np.put_along_axis(logits, best[..., None], rng.uniform(6.0, 9.0, (batch, frames, 1)), -1)
  logits -= logits.max(-1, keepdims=True)
  return (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)


def inks(n: int, seed: int = 0) -> list:
  """`n` synthetic handwritten lines (htr.ink.Ink, IAM-OnDB-like raw points)."""
  from htr.ink import synthetic
  rng = np.random.default_rng(seed)
  out = []
  while len(out) < n:
    style = synthetic.sample_writer(rng)
    out.append(synthetic.write_line(synthetic.sample_line(rng, min_words=4, max_words=7),
                                     style, rng))
  return out


LINE_HEIGHT = 64  # Pixels: configs/offline_crnn.py's data.height.
LINE_WIDTH = 1000  # Pixels: the "1,000-pixel-wide line".


def line_picture(width: int = LINE_WIDTH, seed: int = 0) -> np.ndarray:
  """uint8 `[H, width]` grey picture of a handwritten line on paper, as scanned.

  A synthetic line whose ink, drawn LINE_HEIGHT pixels high, is about `width` wide
  (within 5 %, or the closest of 50 lines), so the picture reads back about `width`
  columns at that height; degraded by htr's scan model (paper, ink colour and
  pressure, blur, noise; no skew) and scaled to exactly `width` columns.
  """
  from PIL import Image

  from htr.image import lines
  from htr.ink import render, synthetic
  rng = np.random.default_rng(seed)
  words = max(1, round(width / 150))  # ~150 pixels a word at 64 pixels high.
  best = None
  for _ in range(50):
    ink = synthetic.write_line(synthetic.sample_line(rng, min_words=words, max_words=words + 2),
                               synthetic.sample_writer(rng), rng)
    drawn = render.render(ink, height=LINE_HEIGHT, pen_width=2.5)
    if best is None or abs(drawn.shape[1] - width) < abs(best.shape[1] - width):
      best = drawn
    if abs(best.shape[1] - width) <= 0.05 * width:
      break
  drawn = best
  picture = lines.degrade(drawn.astype(np.float32) / 255, rng, max_skew_deg=0.0)
  grey = Image.fromarray(picture).convert("L")
  height = round(grey.height * width / grey.width)
  return np.asarray(grey.resize((width, height), Image.Resampling.BILINEAR))


def line_input(height: int = LINE_HEIGHT, width: int = LINE_WIDTH, seed: int = 0
               ) -> np.ndarray:
  """float32 `[height, width]`, ink 1.0 on 0.0: `line_picture` as htr reads it
  (`prepare_line`), scaled to exactly `width` columns. Both sides get this array."""
  from PIL import Image

  from htr.image import lines
  line = lines.prepare_line(line_picture(width, seed), height=height, max_width=4 * width)
  resized = Image.fromarray(line, mode="F").resize((width, height), Image.Resampling.BILINEAR)
  return np.clip(np.asarray(resized, np.float32), 0.0, 1.0)


PAGE_LINES = 25  # Lines on the page of the page cases (issue 18: "~25 lines").
PAGE_WIDTH = 950  # Pixels: a synthetic_pages page (850-1050 wide, ~1.4 times as high).


@functools.lru_cache(maxsize=4)
def page(lines: int = PAGE_LINES, width: int = PAGE_WIDTH, seed: int = 0):
  """(uint8 RGB `[H, width, 3]` picture, its Page): a handwritten note of exactly `lines`
  lines by htr's synthetic pages (`page_layouts`, `synthetic_pages.draw_page`), the first
  layout of that many lines in the seed's stream, photographed as the dataset's are."""
  from htr.image import page_layouts, synthetic_pages
  from htr.ink import synthetic
  for i in range(1000):
    rng = np.random.default_rng([seed, i])
    layout = page_layouts.sample_layout("note", i % page_layouts.TEMPLATES, width, rng)
    if len(layout.slots) == lines:
      writers = [synthetic.sample_writer(np.random.default_rng([seed, i, k])) for k in (0, 1)]
      return synthetic_pages.draw_page(layout, writers, rng)
  raise ValueError(f"no note of {lines} lines in 1000 layouts")


def page_png(lines: int = PAGE_LINES, width: int = PAGE_WIDTH, seed: int = 0) -> bytes:
  """`page` as PNG bytes: what a reader decodes."""
  from PIL import Image
  buffer = io.BytesIO()
  Image.fromarray(page(lines, width, seed)[0]).save(buffer, format="PNG")
  return buffer.getvalue()
