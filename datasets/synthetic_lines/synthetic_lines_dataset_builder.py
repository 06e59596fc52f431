"""synthetic_lines: line and word images of synthetic handwriting, as scanners and phone
cameras see it. htr's offline default: no download, deterministic, built in minutes.

The lines are synthetic_ink's (the first lines of each of its splits, same writers);
each is drawn once through the ops `configs/offline_crnn.py` trains with (`RENDER`), so
the stored images are fixed pictures from the training distribution. See README.md.
"""

from __future__ import annotations

import dataclasses
import io
import itertools

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from htr.data import registry
from htr.ink import records
from htr_datasets.synthetic_ink import synthetic_ink_dataset_builder as synthetic_ink

# Seed of the pictures' stream (synthetic_ink's lines use 1, its writers 2026_11_22).
_PICTURE_STREAM = 2
# configs/offline_crnn.py's pp_train up to the picture: the ink normalised, resized,
# slanted and rotated a little, drawn with a random pen (width per line and per stroke),
# then `lines.degrade`: paper tint and texture, ruling, ink colour and pressure, uneven
# light, skew, blur, noise, binarisation or JPEG.
RENDER = ("normalize|random_affine(p=0.8, scale=(0.9, 1.1), aspect=(0.85, 1.15), "
          "rotation_deg=1.5, shear=0.35)|render_ink(height=80, pen_width=(1.2, 4.0), "
          "stroke_jitter=0.15)|degrade_scan")


@dataclasses.dataclass(eq=False)
class SyntheticLinesConfig(tfds.core.BuilderConfig):
  """One variant: the first `lines` of a synthetic_ink config's splits, pictured.

  Attributes:
    ink_config: the synthetic_ink config the lines come from (its writers, words, seed).
    lines: lines per split (train, validation, test), at most synthetic_ink's: line i of
      a split is line i of the same split of synthetic_ink (same text, ink and writer).
    render: the ops (htr/data/ops_*.py) that make a line's picture from its ink.
  """

  ink_config: str = "small"
  lines: tuple[int, int, int] = (0, 0, 0)
  render: str = RENDER


class Builder(tfds.core.GeneratorBasedBuilder):
  """Synthetic handwritten lines as scans and photos, with their ink and writer."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      SyntheticLinesConfig(name="small", description="Default: synthetic_ink/small's 1-5 "
                           "word lines, 1,000 training writers.", ink_config="small",
                           lines=(6_000, 500, 1_000)),
      SyntheticLinesConfig(name="tiny", description="For tests: a few dozen lines, builds "
                           "in about a second.", ink_config="tiny", lines=(24, 8, 8)),
      SyntheticLinesConfig(name="base", description="synthetic_ink/base's IAM-like 2-8 word "
                           "lines, 2,500 training writers.", ink_config="base",
                           lines=(20_000, 1_000, 2_000)),
  ]
  DEFAULT_CONFIG_NAME = "small"

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),
            "writer": tfds.features.Scalar(dtype=np.int32),
            "text": tfds.features.Text(),
            "ink": records.ink_feature(),
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
        }),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in synthetic_ink.SPLITS}

  def _generate_examples(self, split: str):
    config = self.builder_config
    ink_config = next(c for c in synthetic_ink.Builder.BUILDER_CONFIGS
                      if c.name == config.ink_config)
    index = synthetic_ink.SPLITS.index(split)
    if config.lines[index] > ink_config.lines[index]:
      raise ValueError(f"synthetic_lines/{config.name} wants {config.lines[index]} {split} "
                       f"lines; synthetic_ink/{ink_config.name} has {ink_config.lines[index]}")
    picture = registry.build(config.render)
    lines = synthetic_ink.generate_lines(ink_config, split)
    for i, writer, text, ink in itertools.islice(lines, config.lines[index]):
      # Each picture's draws depend on (config, split, index) only, not on build order.
      rng = np.random.default_rng([_PICTURE_STREAM, ink_config.seed, index, i])
      key = f"{split}-{i:06d}"
      yield key, {"id": key, "writer": writer, "text": text,
                  "ink": records.ink_to_record(ink),
                  "image": _png(picture({"ink": ink}, rng)["image"])}


def _png(pixels: np.ndarray) -> bytes:
  """PNG bytes of a uint8 RGB picture. zlib level 1: as small as level 6 on noisy
  pictures (noise does not compress) and ~4x faster, most of the build time otherwise."""
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
  return buffer.getvalue()
