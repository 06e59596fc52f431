"""The crohme_symbols TFDS builder on the crohme fixture's segmented expressions."""

from htr.ink import records
from htr_datasets.crohme import fixture
from htr_datasets.crohme_symbols import Builder
from htr_datasets.crohme_symbols.crohme_symbols_dataset_builder import to_char


def test_symbols_are_cut_labelled_and_counted(tmp_path, build_dataset):
  fixture.write_fixture(tmp_path / "manual", archives=False)
  builder, sources = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual",
                                   config="all")
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


def test_real94_mixes_real_symbols_into_the_character_task(tmp_path, load_config):
  """char_cnn data=real94: CROHME symbols (the fixture's), synthetic glyphs and digits,
  one step on 8 devices, evaluated on held-out writers."""
  from htr import train
  fixture.write_fixture(tmp_path / "manual", archives=False)
  config = load_config("char_cnn", "data=real94,runlocal,size=tiny")
  config.data.data_dir = str(tmp_path / "data")
  config.data.manual_dir = str(tmp_path / "manual")
  config.num_train_steps = 1
  metrics = train.train_and_evaluate(config, str(tmp_path / "work"))
  assert metrics["num_examples"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
