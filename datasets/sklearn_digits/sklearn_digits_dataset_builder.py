"""sklearn_digits: 1,797 real handwritten digits (UCI optdigits) as 28x28 EMNIST-style images.

The data ships inside scikit-learn, so this is the offline real-handwriting
check of the character task. See README.md.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from htr.text import charsets
from htr.image import canvas

_SEED = 0  # The split is a function of this seed only.
_TEST_FRACTION = 0.2
_VALIDATION_FRACTION = 0.1  # Of what is left after the test split.


def _split_indices() -> dict[str, np.ndarray]:
  """Stratified train/validation/test indices into `load_digits()`, fixed by `_SEED`."""
  from sklearn.datasets import load_digits
  from sklearn.model_selection import train_test_split

  labels = load_digits().target
  rest, test = train_test_split(np.arange(len(labels)), test_size=_TEST_FRACTION,
                                random_state=_SEED, stratify=labels)
  train, validation = train_test_split(rest, test_size=_VALIDATION_FRACTION,
                                       random_state=_SEED, stratify=labels[rest])
  return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


class Builder(tfds.core.GeneratorBasedBuilder):
  """scikit-learn `load_digits`, upsampled from 8x8 to EMNIST's 28x28 convention."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(names=list(charsets.DIGITS)),
            "id": tfds.features.Text(),
        }),
        supervised_keys=("image", "label"),
        homepage="https://archive.ics.uci.edu/dataset/80",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The data ships with scikit-learn.
    return {split: self._generate_examples(indices)
            for split, indices in _split_indices().items()}

  def _generate_examples(self, indices: np.ndarray):
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i in indices:
      # Values count ink (0..16) in 4x4 blocks of a 32x32 bitmap: already white on black.
      image = canvas.emnist_style(digits.images[i] / 16.0)
      key = f"digit-{i:04d}"
      yield key, {"image": np.round(image * 255).astype(np.uint8)[..., None],
                  "label": int(digits.target[i]), "id": key}
