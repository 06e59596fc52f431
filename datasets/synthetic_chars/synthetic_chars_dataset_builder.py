"""synthetic_chars: the 94 classes of the character task, drawn by synthetic writers.

EMNIST has no symbols and needs a download; this set has every class of
`htr.text.charsets.CHARS94` and builds offline in under a minute. Its `symbols`
variant draws only the 32 ASCII symbols, to complete EMNIST byclass to 94
classes (configs/char_cnn.py `data=emnist94`). See README.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from htr.text import charsets
from htr.image import canvas
from htr.ink import render, synthetic

# Seeds of the two independent streams: writers (by writer id) and images.
_WRITER_STREAM = 2026_11_23
_IMAGE_STREAM = 2
_SPLITS = ("train", "validation", "test")
# Rendering before the EMNIST resize: pixels per x-height, and the pen's diameter
# range in those pixels (after fitting into 20x20 strokes are ~1.3-4 px wide).
_PIXELS_PER_X_HEIGHT = 32.0
_PEN_WIDTH = (3.0, 8.0)


@dataclasses.dataclass(eq=False)
class SyntheticCharsConfig(tfds.core.BuilderConfig):
  """Sizes of one variant.

  Attributes:
    per_class: images of every class per split, in `_SPLITS` order.
    writers: writers per split; each split has its own writers (disjoint seeds),
      so the test split is drawn in styles never seen in training.
    seed: the image stream of this variant (writers are shared by id).
    classes: the characters drawn; labels stay indices into CHARS94 whatever
      the subset, so variants mix with each other and with EMNIST byclass.
  """

  per_class: tuple[int, int, int] = (0, 0, 0)
  writers: tuple[int, int, int] = (1, 1, 1)
  seed: int = 0
  classes: str = charsets.CHARS94


def draw(char: str, style: synthetic.WriterStyle, rng: np.random.Generator) -> np.ndarray:
  """uint8 `[28, 28]`: `char` written in `style` with a random pen, EMNIST-style."""
  ink = synthetic.write_line(char, style, rng)
  pen_width = rng.uniform(*_PEN_WIDTH)
  image = render.render(ink, scale=_PIXELS_PER_X_HEIGHT / style.x_height,
                        pen_width=pen_width, padding=1.0)
  return np.round(canvas.emnist_style(image) * 255).astype(np.uint8)


class Builder(tfds.core.GeneratorBasedBuilder):
  """Characters of Hershey stroke fonts written by random writers, in the EMNIST convention."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      SyntheticCharsConfig(
          name="small", description="Default: 400/40/80 images per class, 400 train writers.",
          per_class=(400, 40, 80), writers=(400, 40, 80), seed=1),
      SyntheticCharsConfig(
          name="symbols", description="The 32 ASCII symbols EMNIST lacks: 2,000/200/400 "
          "images per class, 800 train writers.", per_class=(2000, 200, 400),
          writers=(800, 80, 160), seed=3, classes=charsets.SYMBOLS),
      SyntheticCharsConfig(
          name="tiny", description="For tests: a few images per class, builds in seconds.",
          per_class=(3, 1, 1), writers=(6, 3, 3), seed=2),
  ]
  DEFAULT_CONFIG_NAME = "small"

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(names=list(charsets.CHARS94)),
            "id": tfds.features.Text(),
            "writer": tfds.features.Scalar(dtype=np.int32),
        }),
        supervised_keys=("image", "label"),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in _SPLITS}

  def _generate_examples(self, split: str):
    config = self.builder_config
    index = _SPLITS.index(split)
    first_writer, styles = synthetic.split_writers(config.writers, index, _WRITER_STREAM)
    for i in range(config.per_class[index]):
      for char in config.classes:
        label = charsets.CHARS94.index(char)
        rng = np.random.default_rng([_IMAGE_STREAM, config.seed, index, i, label])
        writer = int(rng.integers(len(styles)))
        key = f"{split}-{i:05d}-{label:02d}"
        yield key, {"image": draw(char, styles[writer], rng)[..., None], "label": label,
                    "id": key, "writer": first_writer + writer}
