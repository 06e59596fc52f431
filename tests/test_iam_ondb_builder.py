"""The iam_ondb TFDS builder on the generated fixture, archives and extracted folders."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from htr.errors import InputError
from htr.ink import records
from htr_datasets.iam_ondb import Builder, fixture


@pytest.mark.parametrize("archives", [True, False])
def test_build_and_read_back(tmp_path, archives, build_dataset):
  expected = fixture.write_fixture(tmp_path / "manual", archives=archives)
  assert (tmp_path / "manual" / "lineStrokes-all.tar.gz").exists() == archives
  builder = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")[0]

  sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
  assert sizes == expected["split_sizes"]
  assert set(sizes) == {"trainset", "testset_v", "testset_t", "testset_f"}
  # Reopened from disk, the report survives with the data.
  metadata = tfds.builder("iam_ondb", data_dir=str(tmp_path / "data")).info.metadata
  assert metadata["mismatched_forms"] == {"a08-551z": "3 line files, 2 CSR lines"}
  assert list(metadata["mismatched_forms"]) == expected["mismatched_forms"]
  assert not metadata["unreadable_lines"] and not metadata["missing_forms"]

  seen = set()
  for split, size in sizes.items():
    source = tfds.data_source("iam_ondb", data_dir=str(tmp_path / "data"), split=split)
    assert len(source) == size
    for record in source:
      line_id = records.as_text(record["id"])
      seen.add(line_id)
      assert records.as_text(record["form"]) == line_id.rpartition("-")[0]
      assert records.as_text(record["text"]) == expected["labels"][line_id]
      ink, want = records.record_to_ink(record["ink"]), expected["inks"][line_id]
      np.testing.assert_array_equal(ink.stroke_lengths, want.stroke_lengths)
      np.testing.assert_allclose(ink.points, want.points, atol=1e-6)
  assert seen == set(expected["labels"])


def test_missing_task_file_and_unreadable_line(tmp_path, build_dataset):
  manual = tmp_path / "manual"
  expected = fixture.write_fixture(manual, archives=False)
  (manual / "testset_t.txt").unlink()
  (manual / "lineStrokes/a01/a01-003/a01-003-02.xml").write_bytes(b"<Whiteboard")
  builder = build_dataset(Builder, tmp_path / "data", manual_dir=manual)[0]

  sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
  assert "testset_t" not in sizes
  assert sizes["trainset"] == expected["split_sizes"]["trainset"] - 1
  metadata = builder.info.metadata
  assert metadata["missing_task_files"] == ["testset_t"]
  assert list(metadata["unreadable_lines"]) == ["a01-003-02"]
  assert "malformed XML" in metadata["unreadable_lines"]["a01-003-02"]


def test_missing_files_are_input_errors(tmp_path, build_dataset):
  manual = tmp_path / "manual"
  fixture.write_fixture(manual, archives=True)
  (manual / "ascii-all.tar.gz").unlink()
  with pytest.raises(InputError, match="ascii-all.tar.gz"):
    build_dataset(Builder, tmp_path / "data", manual_dir=manual)[0]
