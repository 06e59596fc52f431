"""Ops on line and word images (htr/image/lines.py): read any line image into the
recogniser's input, and degrade rendered ink into a scan or a photo for training."""

from __future__ import annotations

import numpy as np

from htr.data.registry import Example, register
from htr.errors import InputError
from htr.image import line_augment, lines


@register("line_image")
def get_line_image(height: int = 64, max_width: int = 2048, key: str = "inputs"):
  """`image` (any line image: size, colour, polarity) -> float32 `key` [height, W, 1],
  ink 1.0 on 0.0, cropped to the ink (`inputs` for CTC, `image` for encoder-decoders)."""
  def op(example: Example) -> Example:
    try:
      line = lines.prepare_line(example["image"], height=height, max_width=max_width)
    except InputError as e:
      raise InputError(e.reason, sample_id=str(example.get("id", "?"))) from None
    return {**example, key: line[..., None]}
  return op


@register("degrade_scan", random=True)
def get_degrade_scan(p_ruling: float = 0.3, p_binary: float = 0.1, p_jpeg: float = 0.5,
                     max_skew_deg: float = 2.0, uneven_light: float = 0.35):
  """Rendered ink (`image` float32 [H, W, 1], ink 1.0 on 0.0) -> uint8 RGB `image` of
  it on paper, as a scanner or a phone camera sees it (`lines.degrade`)."""
  def op(example: Example, rng: np.random.Generator) -> Example:
    return {**example, "image": lines.degrade(
        example["image"][..., 0], rng, p_ruling=p_ruling, p_binary=p_binary,
        p_jpeg=p_jpeg, max_skew_deg=max_skew_deg, uneven_light=uneven_light)}
  return op


@register("augment_line", random=True)
def get_augment_line(p: float = 0.8, rotation_deg: float = 1.5, shear: float = 0.4,
                     aspect: float = 0.15, max_width: int = 2048, key: str = "inputs"):
  """A prepared line (`key` [H, W, 1], after `line_image`) slanted, rotated and
  stretched with probability p, every letter kept (`line_augment.distort`): training
  on stored line images, which have no ink to re-render."""
  def op(example: Example, rng: np.random.Generator) -> Example:
    if p < 1.0 and rng.random() >= p:
      return example
    line = line_augment.distort(example[key][..., 0], rng, rotation_deg=rotation_deg,
                                shear=shear, aspect=aspect, max_width=max_width)
    return {**example, key: line[..., None]}
  return op
