"""Ops on pen ink: decode the TFDS record, normalise, augment, featurise."""

from __future__ import annotations

import numpy as np

from htr.data.registry import Example, register
from htr.errors import InputError
from htr.ink import augment, preprocess
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
