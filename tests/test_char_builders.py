"""The character datasets: build into a temp dir, read back through tfds.data_source."""

import numpy as np
import pytest

from htr.text import charsets
from htr.ink.records import as_text


def _records(source) -> list[dict]:
  return [source[i] for i in range(len(source))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, build_dataset) -> dict:
  sources = build_dataset("synthetic_chars/tiny", tmp_path_factory.mktemp("tiny"))[1]
  return {split: _records(source) for split, source in sources.items()}


@pytest.fixture(scope="module")
def digits(tmp_path_factory, build_dataset) -> dict:
  sources = build_dataset("sklearn_digits", tmp_path_factory.mktemp("digits"))[1]
  return {split: _records(source) for split, source in sources.items()}


def _check_images(records, num_classes: int):
  """EMNIST convention: white on black, ink within a 20 px box, centred by mass."""
  coms = []
  for r in records:
    assert r["image"].shape == (28, 28, 1) and r["image"].dtype == np.uint8
    assert 0 <= r["label"] < num_classes
    image = r["image"][..., 0].astype(np.float32)
    assert image.max() == 255
    on = image > 64
    assert max(np.ptp(np.flatnonzero(on.any(1))), np.ptp(np.flatnonzero(on.any(0)))) < 21
    coms.append([(image.sum(1) * np.arange(28)).sum(), (image.sum(0) * np.arange(28)).sum()]
                / image.sum())
  # Lopsided glyphs are shifted back inside the field, off centre; most are centred.
  assert np.median(np.abs(np.array(coms) - 13.5).max(1)) < 0.6


def test_synthetic_chars_tiny(tiny):
  records = tiny
  assert [len(records[s]) for s in ("train", "validation", "test")] == [3 * 94, 94, 94]
  for split, rs in records.items():
    _check_images(rs, 94)
    assert sorted(int(r["label"]) for r in rs) == sorted(list(range(94)) * (len(rs) // 94))
    assert all(as_text(r["id"]).startswith(split) for r in rs)
  writers = {split: {int(r["writer"]) for r in rs} for split, rs in records.items()}
  assert not writers["test"] & (writers["train"] | writers["validation"])
  assert not writers["validation"] & writers["train"]


def test_synthetic_chars_is_deterministic(tiny, tmp_path, build_dataset):
  import tensorflow_datasets as tfds
  again = _records(build_dataset("synthetic_chars/tiny", tmp_path)[1]["validation"])
  key = lambda r: as_text(r["id"])
  for a, b in zip(sorted(tiny["validation"], key=key), sorted(again, key=key), strict=True):
    np.testing.assert_array_equal(a["image"], b["image"])
  names = tfds.builder("synthetic_chars/tiny", data_dir=str(tmp_path)).info.features["label"]
  assert "".join(names.names) == charsets.CHARS94


def test_sklearn_digits(digits):
  records = digits
  sizes = {split: len(rs) for split, rs in records.items()}
  assert sum(sizes.values()) == 1797 and sizes["test"] == 360
  for rs in records.values():
    _check_images(rs, 10)
  ids = {split: {as_text(r["id"]) for r in rs} for split, rs in records.items()}
  assert not ids["test"] & ids["train"] and not ids["validation"] & (ids["train"] | ids["test"])
  counts = np.bincount([int(r["label"]) for r in records["test"]], minlength=10)
  assert counts.min() >= 35  # Stratified: every digit ~36 times.


def test_images_are_not_blank_or_saturated(tiny, digits):
  for records in (tiny, digits):
    images = np.stack([r["image"] for r in records["test"]])
    ink = (images > 127).mean((1, 2, 3))
    assert 0.01 < ink.min() and ink.max() < 0.7


def test_synthetic_chars_symbols_subset_keeps_chars94_labels(tmp_path):
  """A class subset (the `symbols` variant's mechanism) is labelled in CHARS94 order."""
  import tensorflow_datasets as tfds
  import htr_datasets  # noqa: F401
  from htr_datasets.synthetic_chars import synthetic_chars_dataset_builder as scb
  config = scb.SyntheticCharsConfig(name="few_symbols", per_class=(2, 1, 1), writers=(2, 2, 2),
                                    seed=7, classes=charsets.SYMBOLS[:5])
  builder = tfds.builder("synthetic_chars", config=config, data_dir=str(tmp_path),
                         file_format="array_record")
  builder.download_and_prepare()
  records = _records(builder.as_data_source(split="train"))
  _check_images(records, 94)
  assert sorted(charsets.CHARS94[int(r["label"])] for r in records) == sorted(
      charsets.SYMBOLS[:5] * 2)
