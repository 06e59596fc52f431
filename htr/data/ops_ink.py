"""Ops on pen ink: decode the TFDS record, normalise, augment, featurise, render."""

from __future__ import annotations

import numpy as np

from htr.data.registry import Example, register
from htr.errors import InputError
from htr.ink import augment, preprocess, render
from htr.ink.ink import validate
from htr.ink.records import as_text, record_to_ink


@register("decode_ink")
def get_decode_ink(max_points: int = 200_000):
  """TFDS record -> `ink` (an Ink), checked for emptiness and NaN; ids become str."""
  def op(example: Example) -> Example:
    sample_id = as_text(example.get("id", ""))
    try:
      ink = record_to_ink(example["ink"])
    except InputError as e:
      raise InputError(e.reason, sample_id=sample_id) from None
    return {**example, "id": sample_id,
            "ink": validate(ink, sample_id=sample_id, max_points=max_points)}
  return op


@register("normalize")
def get_normalize():
  """Origin, line height and time origin of every ink made comparable."""
  return lambda ex: {**ex, "ink": preprocess.normalize(ex["ink"])}


@register("remove_duplicates")
def get_remove_duplicates():
  return lambda ex: {**ex, "ink": preprocess.remove_duplicates(ex["ink"])}


@register("resample")
def get_resample(spacing: float = 0.1):
  """Uniform arc-length spacing (in line heights): speed-independent sequences."""
  return lambda ex: {**ex, "ink": preprocess.resample(ex["ink"], spacing)}


@register("features")
def get_features(names: tuple[str, ...] = ("dx", "dy", "dt", "pen_up")):
  """`ink` -> float32 `inputs` [N, len(names)], the model's input sequence."""
  names = tuple(names)

  def op(example: Example) -> Example:
    return {**example, "inputs": preprocess.features(example["ink"], names)}
  return op


def _maybe(p: float, transform):
  """Applies `transform(ink, rng)` with probability p."""
  def op(example: Example, rng: np.random.Generator) -> Example:
    if p < 1.0 and rng.random() >= p:
      return example
    return {**example, "ink": transform(example["ink"], rng)}
  return op


@register("random_affine", random=True)
def get_random_affine(p: float = 1.0, **kwargs):
  """Scale, aspect, rotation and slant changes (see `augment.random_affine`)."""
  return _maybe(p, lambda ink, rng: augment.random_affine(ink, rng, **kwargs))


@register("jitter", random=True)
def get_jitter(p: float = 1.0, sigma: float = 0.01):
  return _maybe(p, lambda ink, rng: augment.jitter(ink, rng, sigma=sigma))


@register("time_stretch", random=True)
def get_time_stretch(p: float = 1.0, low: float = 0.8, high: float = 1.25):
  return _maybe(p, lambda ink, rng: augment.time_stretch(ink, rng, low=low, high=high))


@register("smooth_distortion", random=True)
def get_smooth_distortion(p: float = 1.0, **kwargs):
  """A baseline and letter width that drift along the line (see `augment.smooth_distortion`)."""
  return _maybe(p, lambda ink, rng: augment.smooth_distortion(ink, rng, **kwargs))


@register("render_ink", random=True)
def get_render_ink(height: int = 64, pen_width: float | tuple[float, float] = 2.0,
                   stroke_jitter: float = 0.0, max_width: int | None = None,
                   padding: float = 2.0, supersample: int = 4,
                   stroke_height: float | None = None, placement_key: str | None = None):
  """`ink` -> float32 `image` [height, W, 1] (ink 1.0 on 0.0) and int32 `image_width` W.

  The width follows the ink's aspect ratio (pad it to width buckets in the batch).
  Pen-width variation, an augmentation: `pen_width=(lo, hi)` draws each image's pen
  log-uniformly in [lo, hi] pixels, and `stroke_jitter` > 0 varies it per stroke
  (log-normal with that std). With a fixed width and no jitter the op is deterministic.

  Args:
    height: image height in pixels.
    pen_width: stroke diameter in pixels, or a (lo, hi) range to draw it from.
    stroke_jitter: std of each stroke's log pen width around the image's.
    max_width: inks wider than this at `height` are shrunk to fit it.
    padding: free pixels around the ink.
    supersample: anti-aliasing sub-pixels per pixel side.
    stroke_height: draw the ink's typical stroke this many pixels tall, centred, instead
      of fitting the whole ink to `height` (it still shrinks to fit): one glyph size for
      a lone symbol and a nest of fractions.
    placement_key: also store where the ink's points went, float32 [3] (scale, x and y
      offsets: pixel = point * scale + offset), for maps laid over the image.
  """
  lo, hi = (pen_width, pen_width) if np.isscalar(pen_width) else pen_width

  def op(example: Example, rng: np.random.Generator) -> Example:
    ink = example["ink"]
    width = np.exp(rng.uniform(np.log(lo), np.log(hi))) if hi > lo else lo
    if stroke_jitter > 0:
      width = width * np.exp(rng.normal(0.0, stroke_jitter, ink.num_strokes))
    image, placement = render.render_placed(
        ink, height=height, pen_width=width, padding=padding, max_width=max_width,
        supersample=supersample, stroke_height=stroke_height)
    out = {**example, "image": (image.astype(np.float32) / 255.0)[..., None],
           "image_width": np.int32(image.shape[1])}
    if placement_key:
      out[placement_key] = placement.astype(np.float32)
    return out
  return op
