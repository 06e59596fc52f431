"""synthetic_pages: page records like page_layout's, deterministic, splits apart, columns
read in order, and the line detector trains on them."""

import jax
import numpy as np
import pytest

from htr import inputs, train
from htr.errors import InputError
from htr.image import page_layouts, page_records, reading_order
from htr_datasets.synthetic_pages import synthetic_pages_dataset_builder as builder_lib

TYPES = {"handwritten", "signature", "printed", "typewritten"}


@pytest.fixture(scope="module")
def built(data_dir, build_dataset):
  """synthetic_pages/tiny in the session's data dir: (builder, {split: records})."""
  builder, sources = build_dataset("synthetic_pages/tiny", data_dir)
  return builder, {split: list(source) for split, source in sources.items()}


def _config():
  return next(c for c in builder_lib.Builder.BUILDER_CONFIGS if c.name == "tiny")


def test_records_are_page_layout_records(built):
  builder, splits = built
  assert repr(builder.info.features) == repr(page_records.page_features())
  assert {split: len(rows) for split, rows in splits.items()} == \
      {"train": 10, "validation": 5, "test": 5}
  for rows in splits.values():
    for record in rows:
      page = page_records.record_to_page(record)
      image = inputs.decode_image(record["image_bytes"], "page.jpg", formats=None)
      assert image.shape[:2] == (page.height, page.width)
      assert page.ordered and len(page.lines) >= 5
      np.testing.assert_array_equal(record["line_order"], np.arange(len(page.lines)))
      for line in page.lines:
        assert line.text.strip() and line.type in TYPES and line.region
        assert line.id.startswith(page.image + "-l")
        assert len(line.polygon) >= 4 and len(line.baseline) >= 2
        points = np.concatenate([line.polygon, line.baseline])
        assert (points >= 0).all() and (points[:, 0] <= page.width - 1).all()
        assert (points[:, 1] <= page.height - 1).all()
        left, top, right, bottom = line.box
        assert top - 2 <= line.baseline[:, 1].mean() <= bottom + 2  # The baseline is inside.
        # Ink where the line is: darker inside its box than the page on average.
        gray = image.mean(-1)
        inside = gray[int(top):int(bottom) + 1, int(left):int(right) + 1]
        assert inside.min() < np.median(gray) - 40
  types = {t.decode() for rows in splits.values() for r in rows for t in r["line_type"]}
  assert {"handwritten", "printed", "signature"} <= types


def test_pages_are_made_from_their_seed_alone(built):
  _, splits = built
  config = _config()
  for split, i in (("test", 1), ("train", 7)):
    key, pixels, page = builder_lib.make_page(config, split, i)
    stored = next(r for r in splits[split] if r["id"] == key.encode())
    quality = builder_lib.page_plan(config, split, i).quality
    assert builder_lib._jpeg(pixels, quality) == stored["image_bytes"]
    again = page_records.page_to_record(page, b"", key)
    for field in ("line_text", "line_type", "line_region"):
      assert list(again[field]) == [text.decode() for text in stored[field]]
    np.testing.assert_array_equal(again["polygons"], stored["polygons"])


def test_test_writers_and_layouts_are_not_in_training(built):
  builder, _ = built
  config = _config()
  plans = {split: [builder_lib.page_plan(config, split, i)
                   for i in range(config.pages[builder_lib.SPLITS.index(split)])]
           for split in builder_lib.SPLITS}
  writers = {split: {w for plan in p for w in plan.writers} for split, p in plans.items()}
  templates = {split: {(plan.kind, plan.template) for plan in p} for split, p in plans.items()}
  for held_out in ("validation", "test"):
    assert not writers[held_out] & writers["train"]
    assert not templates[held_out] & templates["train"]
  assert not writers["validation"] & writers["test"]
  # Every split has every kind of page.
  assert all({plan.kind for plan in p} == set(page_layouts.KINDS) for p in plans.values())
  metadata = builder.info.metadata
  assert not set(metadata["templates"]["test"]) & set(metadata["templates"]["train"])


def test_two_column_pages_are_read_in_order_by_xy_cut(built):
  _, splits = built
  accuracies = []
  for rows in splits.values():
    for record in rows:
      page = page_records.record_to_page(record)
      regions = {line.region for line in page.lines}
      if not {"column1-p1", "column2-p1"} <= regions:
        continue
      # The truth: every line of the left column before every line of the right one.
      first_right = min(l.order for l in page.lines if l.region.startswith("column2"))
      assert all(l.order < first_right for l in page.lines if l.region.startswith("column1"))
      boxes = np.array([line.box for line in page.lines])
      accuracies.append(reading_order.pair_order_accuracy(
          reading_order.reading_order(boxes), range(len(boxes))))
  assert len(accuracies) >= 3  # One per split at least.
  assert np.mean(accuracies) >= 0.98, accuracies


def test_layouts_refuse_unknown_kinds_and_templates():
  rng = np.random.default_rng(0)
  with pytest.raises(InputError, match="unknown page kind"):
    page_layouts.sample_layout("poster", 0, 800, rng)
  with pytest.raises(InputError, match="template 99"):
    page_layouts.sample_layout("letter", 99, 800, rng)
  with pytest.raises(InputError, match="split index"):
    page_layouts.split_templates(3)


def test_synthetic_is_page_detects_default(load_config):
  config = load_config("page_detect")
  assert config.data.name == "synthetic_pages"
  assert (config.data.train_split, config.data.eval_split) == ("train", "validation")
  assert load_config("page_detect", "data=layout").data.name == "page_layout/all"
  with pytest.raises(ValueError, match="local_data"):
    load_config("page_detect", "runlocal,local_data=nope")


def test_one_step_of_runlocal_training_on_synthetic_pages(tmp_path, data_dir, built,
                                                          load_config):
  assert jax.device_count() == 8
  config = load_config("page_detect", "runlocal,size=tiny,local_data=synthetic")
  assert config.data.name == "synthetic_pages/tiny"
  config.data.data_dir = data_dir
  metrics = train.train_and_evaluate(config, str(tmp_path))
  for key in ("map50", "f1", "precision", "recall"):
    assert np.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 1.0
