"""synthetic_ink: IAM-OnDB-like online handwriting lines, generated offline.

htr's default dataset: it needs no download, builds in about a minute, and a
Conv1D + BiLSTM + CTC model learns to read real-ish ink from it. See README.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from htr.ink import records, synthetic
from htr.ink.ink import Ink

# Seeds of the two independent streams: writers (by writer id) and lines.
_WRITER_STREAM = 2026_11_22
_LINE_STREAM = 1
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(eq=False)
class SyntheticInkConfig(tfds.core.BuilderConfig):
  """Sizes of one variant.

  Attributes:
    lines: lines per split, in `SPLITS` order.
    writers: writers per split; each split has its own writers, so the test
      split is written by parameter draws never seen in training.
    min_words: fewest words per line.
    max_words: most words per line.
    max_chars: longest line, in characters (trailing words are dropped).
    seed: the line stream of this variant (writers are shared by id).
  """

  lines: tuple[int, int, int] = (0, 0, 0)
  writers: tuple[int, int, int] = (1, 1, 1)
  min_words: int = 1
  max_words: int = 5
  max_chars: int = 32
  seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
  """Synthetic online handwriting: Hershey fonts written by random writers."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      SyntheticInkConfig(
          name="small", description="Default: 1-5 word lines, 1,000 training writers.",
          lines=(20_000, 500, 1_000), writers=(1_000, 25, 50), seed=1),
      SyntheticInkConfig(
          name="tiny", description="For tests: a few dozen lines, builds in seconds.",
          lines=(48, 16, 16), writers=(8, 4, 4), max_words=3, max_chars=24, seed=2),
      SyntheticInkConfig(
          name="base", description="IAM-OnDB-like 2-8 word lines, 2,500 training writers.",
          lines=(50_000, 1_000, 2_000), writers=(2_500, 50, 100), min_words=2,
          max_words=8, max_chars=48, seed=3),
  ]
  DEFAULT_CONFIG_NAME = "small"

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),
            "writer": tfds.features.Scalar(dtype=np.int32),
            "ink": records.ink_feature(),
            "text": tfds.features.Text(),
        }),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split: str):
    for i, writer, text, ink in generate_lines(self.builder_config, split):
      key = f"{split}-{i:06d}"
      yield key, {"id": key, "writer": writer, "ink": records.ink_to_record(ink), "text": text}


def generate_lines(config: SyntheticInkConfig, split: str) -> Iterator[tuple[int, int, str, Ink]]:
  """(index, writer id, text, ink) of every line of `split`, in index order.

  Line i depends only on (config.seed, split, i) and its writer only on the writer's
  id, so builders that start from these lines (synthetic_lines) share writers by id:
  a config with the same `writers` keeps test writers out of training in both.
  """
  index = SPLITS.index(split)
  first_writer, styles = synthetic.split_writers(config.writers, index, _WRITER_STREAM)
  num_writers = len(styles)
  for i in range(config.lines[index]):
    rng = np.random.default_rng([_LINE_STREAM, config.seed, index, i])
    text = synthetic.sample_line(rng, min_words=config.min_words, max_words=config.max_words,
                                 max_chars=config.max_chars)
    yield i, first_writer + i % num_writers, text, synthetic.write_line(
        text, styles[i % num_writers], rng)
