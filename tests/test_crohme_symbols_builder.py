"""The crohme_symbols TFDS builder on the crohme fixture's segmented expressions."""

from htr.ink import records
from htr_datasets.crohme import fixture
from htr_datasets.crohme_symbols import Builder
from htr_datasets.crohme_symbols.crohme_symbols_dataset_builder import to_char


def test_symbols_are_cut_labelled_and_counted(tmp_path, build_dataset):
  fixture.write_fixture(tmp_path / "manual", archives=False)
  builder, sources = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")
  rows = [r for source in sources.values() for r in source]
  assert rows, "the fixture has segmented expressions"
  for row in rows:
    ink = records.record_to_ink(row["ink"])
    assert ink.num_points > 0 and row["label"]
    char = row["char"].decode()
    assert char == to_char(row["label"].decode())
  report = builder.info.metadata
  counted = sum(sum(split["labels"].values()) for split in report.values())
  assert counted == len(rows)


def test_labels_map_to_the_94_classes():
  assert [to_char(x) for x in ("x", "7", "\\lt", "COMMA", "\\{", "+")] == \
      ["x", "7", "<", ",", "{", "+"]
  assert to_char("\\alpha") == "" and to_char("\\frac") == ""
