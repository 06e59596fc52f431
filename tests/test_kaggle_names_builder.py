"""The kaggle_names TFDS builder on a generated download in Kaggle's layout."""

import pytest

from htr.errors import InputError
from htr_datasets.kaggle_names import Builder, fixture


def test_names_are_read_and_every_skipped_row_is_reported(tmp_path, build_dataset):
  expected = fixture.write_fixture(tmp_path / "manual")
  builder, sources = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")
  assert {split: len(source) for split, source in sources.items()} == expected["sizes"]
  texts = sorted(r["text"].decode() for r in sources["train"])
  assert texts == ["BALTHAZAR", "JEAN-PAUL", "SIMON"]  # The first of a duplicated name.
  image = next(iter(sources["validation"]))["image"]
  assert image.shape == (42, 240, 1) and image.min() < 100 < image.max()
  report = builder.info.metadata
  assert report["train"]["skipped"] == expected["train_skipped"]
  assert report["train"]["missing_images"]["examples"] == expected["train_missing"]
  assert list(report["test"]["unreadable_images"]) == expected["test_unreadable"]


def test_a_csv_without_its_columns_is_an_input_error(tmp_path, build_dataset):
  fixture.write_fixture(tmp_path / "manual")
  (tmp_path / "manual" / "written_name_test_v2.csv").write_text("NAME,TEXT\na.jpg,A\n")
  with pytest.raises(InputError, match="written_name_test_v2.csv.*FILENAME,IDENTITY"):
    build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")
