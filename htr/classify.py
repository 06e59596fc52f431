"""Classify character images with a trained workdir: drawn characters and lines of them.

Inputs go through the same canvas preprocessing as the training data
(`htr.image.canvas`: crop to the ink, fit into 20x20, centre by mass in 28x28,
white on black), so any size, colour mode or polarity works.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import jax
import numpy as np

from htr.errors import InputError
from htr.image import canvas, segment


@dataclasses.dataclass(frozen=True)
class Classification:
  """One classified character.

  Attributes:
    char: the most probable class.
    probability: its probability.
    top: the top classes as (character, probability), most probable first.
    box: (top, left, bottom, right) in the line image, for characters of a line.
  """

  char: str
  probability: float
  top: tuple[tuple[str, float], ...]
  box: tuple[int, int, int, int] | None = None


def read_image(path: str | os.PathLike) -> np.ndarray:
  """An image file (PNG, JPEG, ... anything PIL reads) as a gray, RGB or RGBA array."""
  from PIL import Image
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise InputError("no such file", path=path)
  try:
    with Image.open(path) as image:
      image.load()
      return canvas.pil_to_array(image)
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    # PIL's UnidentifiedImageError and truncated-file errors are OSErrors; modes it
    # cannot convert (LAB, CMYK TIFFs ...) are ValueErrors.
    raise InputError(f"not a readable image ({e})", path=path) from None


class Classifier:
  """Loads the best checkpoint of a workdir once; classifies batches of images."""

  def __init__(self, workdir: str):
    from htr.train import restore_for_inference
    self.task, self.variables, self.config = restore_for_inference(workdir)
    if self.config.task != "classify":
      raise InputError(f"the workdir's model is for task {self.config.task!r}, not "
                       f"character classification", path=workdir)
    self._predict = jax.jit(self.task.predict)

  def classify_arrays(self, images: np.ndarray) -> list[Classification]:
    """Already preprocessed float32 `[N, 28, 28]` images -> one result each."""
    outputs = jax.tree.map(np.asarray, self._predict(self.variables,
                                                     {"image": images[..., None]}))
    return [Classification(top[0][0], top[0][1], tuple(top)) for top in self.task.top(outputs)]

  def __call__(self, images: Sequence[np.ndarray], ids: Sequence[str] | None = None
               ) -> list[Classification]:
    """Drawn characters (any array `canvas.preprocess` accepts) -> one result each."""
    ids = list(ids) if ids is not None else [str(i) for i in range(len(images))]
    prepared = []
    for image, sample_id in zip(images, ids):
      try:
        prepared.append(canvas.preprocess(image))
      except InputError as e:
        raise InputError(e.reason, path=sample_id) from None
    return self.classify_arrays(np.stack(prepared))

  def read_line(self, image: np.ndarray, sample_id: str | None = None
                ) -> tuple[str, list[Classification]]:
    """A line of separated characters -> its text and each character's result."""
    try:
      chars, boxes = segment.to_char_images(image)
    except InputError as e:
      raise InputError(e.reason, path=sample_id) from None
    results = [dataclasses.replace(r, box=box)
               for r, box in zip(self.classify_arrays(chars), boxes)]
    return "".join(r.char for r in results), results
