"""synthetic_math: handwritten-like math expressions and their LaTeX, generated offline.

htr's default math dataset: it needs no download and a Swin + Transformer model can be
trained on it on a CPU. Expressions come from a grammar, are laid out in 2-D and written
with Hershey glyphs by random writers (`htr/ink/synthetic_math.py`). See README.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from htr.text import latex
from htr.ink import records, synthetic, synthetic_math

# Seeds of the two independent streams: writers (by writer id) and expressions.
_WRITER_STREAM = 2026_11_23
_EXPRESSION_STREAM = 4
_SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(eq=False)
class SyntheticMathConfig(tfds.core.BuilderConfig):
  """Sizes of one variant.

  Attributes:
    expressions: expressions per split, in `_SPLITS` order.
    writers: writers per split; each split has its own writers, so the test split is
      written by parameter draws never seen in training.
    depth: how deep structures (fractions, roots, scripts, ...) nest.
    max_tokens: longest normalised label, in LaTeX tokens (longer draws are redrawn).
    seed: the expression stream of this variant (writers are shared by id).
  """

  expressions: tuple[int, int, int] = (0, 0, 0)
  writers: tuple[int, int, int] = (1, 1, 1)
  depth: int = 2
  max_tokens: int = 48
  seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
  """Synthetic math ink: grammar expressions written with Hershey glyphs."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "stroke_tokens: the token each stroke draws (same expressions)."}
  BUILDER_CONFIGS = [
      SyntheticMathConfig(
          name="small", description="Default: 16,000 training expressions, 800 writers.",
          expressions=(16_000, 500, 1_000), writers=(800, 25, 50), depth=2, max_tokens=48,
          seed=1),
      SyntheticMathConfig(
          name="flat", description="A curriculum's first stage (depth 0): numbers, letters, "
          "operators and relations, scripts of one symbol; no fractions, roots or brackets.",
          expressions=(16_000, 500, 1_000), writers=(800, 25, 50), depth=0, max_tokens=24,
          seed=3),
      SyntheticMathConfig(
          name="tiny", description="For tests: a few dozen expressions, builds in seconds.",
          expressions=(48, 16, 16), writers=(8, 4, 4), depth=1, max_tokens=24, seed=2),
  ]
  DEFAULT_CONFIG_NAME = "small"

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),  # <split>-<index>.
            "writer": tfds.features.Scalar(dtype=np.int32),  # Writer id, unique across splits.
            "ink": records.ink_feature(),  # Whiteboard units, y down, t in seconds.
            "label": tfds.features.Text(),  # The LaTeX as generated.
            "normalized_label": tfds.features.Text(),  # latex.normalize(label).
            # The normalised token each ink stroke draws, space separated (a fraction's
            # bar: \frac): where each symbol is, for the `symbol_map` op.
            "stroke_tokens": tfds.features.Text(),
        }),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in _SPLITS}

  def _generate_examples(self, split: str):
    config = self.builder_config
    index = _SPLITS.index(split)
    first_writer, styles = synthetic.split_writers(config.writers, index, _WRITER_STREAM)
    for i in range(config.expressions[index]):
      rng = np.random.default_rng([_EXPRESSION_STREAM, config.seed, index, i])
      label, ink, stroke_tokens = synthetic_math.sample(
          rng, styles[i % len(styles)], depth=config.depth, max_tokens=config.max_tokens)
      key = f"{split}-{i:06d}"
      yield key, {"id": key, "writer": first_writer + i % len(styles),
                  "ink": records.ink_to_record(ink), "label": label,
                  "normalized_label": latex.normalize(label),
                  "stroke_tokens": " ".join(stroke_tokens)}
