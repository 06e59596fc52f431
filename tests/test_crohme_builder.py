"""The crohme TFDS builder on a generated fixture in the real packages' layout."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from htr.text import latex
from htr.errors import InputError
from htr.ink import records
from htr_datasets.crohme import Builder, fixture


@pytest.mark.parametrize("archives", [True, False])
def test_build_and_read_back(tmp_path, archives, build_dataset):
  expected = fixture.write_fixture(tmp_path / "manual", archives=archives)
  assert (tmp_path / "manual" / "TrainINKML.tar.gz").exists() == archives
  builder = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")[0]
  sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
  assert sizes == fixture.SPLIT_SIZES
  rejected = builder.info.metadata["unreadable_files"]
  assert set(rejected) == set(fixture.REJECTED)
  for name, reason in fixture.REJECTED.items():
    assert reason in rejected[name]

  records_by_id = {}
  for split in sizes:
    for record in tfds.data_source("crohme", data_dir=str(tmp_path / "data"), split=split):
      records_by_id[records.as_text(record["id"])] = record
  assert len(records_by_id) == sum(sizes.values())
  for key, record in records_by_id.items():
    truth = expected["truths"][key]
    label = records.as_text(record["label"])
    assert label == truth.strip().strip("$").strip()
    assert records.as_text(record["normalized_label"]) == latex.normalize(truth)
    ink = records.record_to_ink(record["ink"])
    want = expected["strokes"][key]
    np.testing.assert_array_equal(ink.stroke_lengths, [len(s) for s in want])
    np.testing.assert_allclose(ink.points[:, :2], np.concatenate(want), atol=1e-3)
    # The fixture's one symbol group holds the first trace, an x.
    assert records.as_text(record["stroke_tokens"]).split() == ["x"] + ["<unk>"] * (
        ink.num_strokes - 1)
  kaist = records_by_id["TrainINKML/KAIST/KME1G3_0_sub_10"]
  assert records.as_text(kaist["normalized_label"]) == latex.normalize(r"\frac{\pi r^{2}h}{3}")
  assert records.as_text(kaist["source"]) == "KAIST"
  edwin = records_by_id["TrainINKML/expressmatch/101_edwin"]
  assert records.as_text(edwin["normalized_label"]) == "M < N"
  assert records.as_text(records_by_id["TestINKMLGT/106_em_118"]["writer"]) == "106"


def test_no_package_is_an_input_error(tmp_path, build_dataset):
  (tmp_path / "manual").mkdir()
  (tmp_path / "manual" / "README.txt").write_text("not CROHME")
  with pytest.raises(InputError, match="manual.*TrainINKML"):
    build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")[0]


def test_bad_file_error_names_the_file():
  from htr_datasets.crohme.crohme_dataset_builder import read_expression
  with pytest.raises(InputError, match="pkg/a.inkml: malformed XML"):
    read_expression(b"<ink><trace>1 2</trace>", "pkg/a.inkml")
  with pytest.raises(InputError, match="pkg/b.inkml: no LaTeX truth"):
    read_expression(b"<ink><annotation type='truth'>$ $</annotation><trace>1 2</trace></ink>",
                    "pkg/b.inkml")
