"""Ink <-> TFDS record, shared by every ink dataset builder and the input pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np

from htr.ink.ink import Ink


def ink_feature():
  """The TFDS feature for one ink (imported lazily: TFDS is heavy)."""
  import tensorflow_datasets as tfds
  return tfds.features.FeaturesDict({
      "points": tfds.features.Tensor(shape=(None, 3), dtype=np.float32),
      "stroke_lengths": tfds.features.Tensor(shape=(None,), dtype=np.int32),
  })


def ink_to_record(ink: Ink) -> dict[str, np.ndarray]:
  return {"points": ink.points, "stroke_lengths": ink.stroke_lengths}


def record_to_ink(record: dict[str, Any]) -> Ink:
  return Ink(np.asarray(record["points"]), np.asarray(record["stroke_lengths"]))


def as_text(value: Any) -> str:
  """TFDS text features come back as bytes from data sources and str elsewhere."""
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)
