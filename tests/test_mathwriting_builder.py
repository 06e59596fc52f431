"""The mathwriting TFDS builder on a generated fixture in the release's layout."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from htr.text import latex
from htr.errors import InputError
from htr.ink import records
from htr_datasets.mathwriting import Builder, fixture


@pytest.mark.parametrize("archive", [True, False])
def test_build_and_read_back(tmp_path, archive, build_dataset):
  expected = fixture.write_fixture(tmp_path / "manual", archive=archive)
  assert (tmp_path / "manual" / "mathwriting-2024.tgz").exists() == archive
  builder = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")[0]
  sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
  assert sizes == {"train": 2, "valid": 1, "test": 1, "synthetic": 1, "symbols": 1}
  assert list(builder.info.metadata["unreadable_files"]) == [f"{fixture.PART}/{fixture.BROKEN}"]

  for split in sizes:
    for record in tfds.data_source("mathwriting", data_dir=str(tmp_path / "data"),
                                   split=split):
      sample_id = records.as_text(record["id"])
      want_split, _, label, normalized, ink_method, label_method = (
          expected["samples"][sample_id])
      assert want_split == split == records.as_text(record["splitTagOriginal"])
      assert records.as_text(record["sampleId"]) == sample_id
      assert records.as_text(record["label"]) == label
      assert records.as_text(record["normalizedLabel"]) == (normalized or "")
      assert records.as_text(record["inkCreationMethod"]) == ink_method
      assert records.as_text(record["labelCreationMethod"]) == (label_method or "")
      assert records.as_text(record["normalized_label"]) == latex.normalize(
          normalized or label)
      ink = records.record_to_ink(record["ink"])
      want = np.concatenate(expected["strokes"][sample_id])
      np.testing.assert_allclose(ink.points[:, :2], want[:, :2], atol=1e-3)
      np.testing.assert_allclose(ink.points[:, 2], want[:, 2] / 1000, atol=1e-6)  # ms -> s.


def test_missing_corpus_is_an_input_error(tmp_path, build_dataset):
  (tmp_path / "manual").mkdir()
  (tmp_path / "manual" / "notes.txt").write_text("nothing here")
  with pytest.raises(InputError, match="mathwriting-2024"):
    build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")[0]


def test_bad_file_error_names_the_file():
  from htr_datasets.mathwriting.mathwriting_dataset_builder import read_sample
  with pytest.raises(InputError, match="train/x.inkml: malformed XML"):
    read_sample(b"<ink><trace>1 2</trace>", "train/x.inkml")
  with pytest.raises(InputError, match="train/y.inkml: no label"):
    read_sample(b'<ink xmlns="http://www.w3.org/2003/InkML"><trace>1 2</trace></ink>',
                "train/y.inkml")


def test_excerpt_without_some_folders(tmp_path, build_dataset):
  import shutil
  fixture.write_fixture(tmp_path / "manual", archive=False)
  excerpt = tmp_path / "manual" / "mathwriting-2024-excerpt"
  (tmp_path / "manual" / fixture.PART).rename(excerpt)
  shutil.rmtree(excerpt / "synthetic")
  builder = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")[0]
  assert set(builder.info.splits) == {"train", "valid", "test", "symbols"}
