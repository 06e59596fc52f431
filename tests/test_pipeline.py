"""The input pipeline: same seed same batches, exact resume, disjoint process shards."""

import jax
import numpy as np
import pytest

from htr.data import pipeline
from htr.tasks import get_task


@pytest.fixture(scope="module")
def setup(tmp_path_factory, load_config):
  config = load_config("online_ctc", "runlocal,size=tiny")
  config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
  config.data.num_threads = 2
  source = pipeline.load_source(config.data.name, "train", data_dir=config.data.data_dir)
  return config, source


def _dataset(config, source, seed=0, train=True):
  pad, sort_key = get_task(config).padding()
  return pipeline.make_dataset([pipeline.Component(source)], config.data, pad=pad,
                               sort_key=sort_key, split="train", batch_size=config.batch_size,
                               train=train, seed=seed)


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert list(x["id"]) == list(y["id"])
    np.testing.assert_array_equal(x["inputs"], y["inputs"])


def test_same_seed_same_batches_other_seed_other_batches(setup):
  config, source = setup
  a = _take(pipeline.make_iterator(_dataset(config, source), config.data), 8)
  b = _take(pipeline.make_iterator(_dataset(config, source), config.data), 8)
  _assert_same(a, b)
  c = _take(pipeline.make_iterator(_dataset(config, source, seed=1), config.data), 8)
  assert [list(x["id"]) for x in a] != [list(x["id"]) for x in c]


def test_iterator_state_resumes_exactly(setup):
  config, source = setup
  ds = _dataset(config, source)
  iterator = pipeline.make_iterator(ds, config.data)
  _take(iterator, 5)  # Past one epoch of the tiny split (48 lines / 8).
  state = iterator.get_state()
  expected = _take(iterator, 4)
  resumed = pipeline.make_iterator(ds, config.data)
  resumed.set_state(state)
  _assert_same(_take(resumed, 4), expected)


def test_augmentation_differs_between_epochs(setup):
  config, source = setup
  ds = _dataset(config, source)
  per_epoch = len(source) // config.batch_size
  first = {i: x for b in _take(iter(ds), per_epoch) for i, x in zip(b["id"], b["inputs"])}
  second = {i: x for b in [ds[per_epoch + k] for k in range(per_epoch)]
            for i, x in zip(b["id"], b["inputs"])}
  common = set(first) & set(second)
  assert common and any(first[i].shape != second[i].shape or not np.array_equal(
      first[i], second[i]) for i in common)


def test_processes_read_disjoint_shards(setup, monkeypatch):
  config, source = setup
  seen = []
  for index in range(2):
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "process_index", lambda index=index: index)
    ds = _dataset(config, source, train=False)
    seen.append({i for b in ds for i, m in zip(b["id"], b["mask"]) if m})
  assert seen[0] and seen[1] and not seen[0] & seen[1]
  assert len(seen[0] | seen[1]) == len(source)


def test_bad_samples_fail_by_default_and_are_masked_and_logged_when_skipped(setup, caplog):
  config, source = setup
  bad = dict(source[3])
  bad["ink"] = {"points": np.full((4, 3), np.nan, np.float32),
                "stroke_lengths": np.array([4], np.int32)}
  records = [source[i] for i in range(len(source))]
  records[3] = bad
  from htr.errors import InputError
  with pytest.raises(InputError, match="NaN"):
    list(_dataset(config, records, train=False))
  config = config.copy_and_resolve_references()
  config.data.skip_bad = True
  batches = list(_dataset(config, records, train=False))
  assert sum(b["mask"].sum() for b in batches) == len(records) - 1
  assert "skipping bad sample" in caplog.text and "NaN" in caplog.text


def _glyphs(prefix: str, labels: range, n: int) -> list[dict]:
  """In-memory records: a pixel at (3, 20), so transposition shows."""
  image = np.zeros((28, 28, 1), np.uint8)
  image[3, 20] = 255
  return [{"id": f"{prefix}{i}", "image": image, "label": np.int64(labels[i % len(labels)])}
          for i in range(n)]


def test_mixture_mixes_by_weight_in_training_and_lists_everything_in_evaluation():
  import ml_collections
  data = ml_collections.ConfigDict({
      "pp_train": "decode_image|keep(keys=('id', 'image', 'label'))",
      "pp_eval": "decode_image|keep(keys=('id', 'image', 'label'))",
      "skip_bad": False, "window_batches": 1})
  components = [pipeline.Component(_glyphs("a", range(10), 200), 0.75, "emnist_transpose"),
                pipeline.Component(_glyphs("b", range(62, 94), 50), 0.25)]

  def batches(train, seed=0):
    ds = pipeline.make_dataset(components, data, pad={}, sort_key=None, split="train",
                               batch_size=16, train=train, seed=seed)
    return [ds[i] for i in range(25 if train else len(ds))]

  examples = [(i, im, lab) for b in batches(True) for i, im, lab in
              zip(b["id"], b["image"], b["label"])]
  from_a = [e for e in examples if e[0].startswith("a")]
  assert len(from_a) == 300 and len(examples) == 400  # Exactly 3:1.
  # Each component's own ops ran on its examples only, before the common ones.
  assert all(im[20, 3, 0] == 1.0 and lab < 10 for _, im, lab in from_a)
  assert all(im[3, 20, 0] == 1.0 and lab >= 62 for i, im, lab in examples
             if i.startswith("b"))
  assert [b["id"].tolist() for b in batches(True)] == [b["id"].tolist() for b in batches(True)]
  assert [b["id"].tolist() for b in batches(True, 1)] != [b["id"].tolist()
                                                         for b in batches(True)]
  # The smaller component repeats: 25 batches hold 100 "b" examples of 50.
  assert len({e[0] for e in examples if e[0].startswith("b")}) == 50

  seen = [i for b in batches(False) for i, m in zip(b["id"], b["mask"]) if m]
  assert sorted(seen) == sorted([f"a{i}" for i in range(200)] + [f"b{i}" for i in range(50)])


def test_mixture_component_without_the_split_is_named():
  import ml_collections
  data = ml_collections.ConfigDict({"data_dir": None, "manual_dir": None, "mixture": {
      "symbols": {"name": "synthetic_chars/tiny", "weight": 1.0, "pp": "",
                  "splits": {"train": "train"}}}})
  with pytest.raises(ValueError, match="'symbols'.*no split for 'validation'"):
    pipeline.load_components(data, "validation")


def test_mixture_component_mapped_to_none_trains_only_and_brings_its_own_manual_dir(
    monkeypatch):
  import ml_collections
  calls = []
  monkeypatch.setattr(pipeline, "load_source", lambda name, split, **kw: calls.append(
      (name, split, kw["manual_dir"])) or [name])
  data = ml_collections.ConfigDict({"data_dir": None, "manual_dir": "~/pages", "mixture": {
      "pages": {"name": "page_lines/handwritten", "weight": 0.5, "pp": "",
                "splits": {"train": "train", "validation": "validation"}},
      "iam": {"name": "iam_ondb", "weight": 0.5, "pp": "", "manual_dir": "~/iam",
              "splits": {"train": "trainset", "validation": None}}}})
  assert sorted(c.source for c in pipeline.load_components(data, "train")) == [
      ["iam_ondb"], ["page_lines/handwritten"]]
  assert sorted(calls) == [("iam_ondb", "trainset", "~/iam"),
                           ("page_lines/handwritten", "train", "~/pages")]
  assert [c.source for c in pipeline.load_components(data, "validation")] == [
      ["page_lines/handwritten"]]
  data.mixture.pages.splits.validation = None
  with pytest.raises(ValueError, match="no mixture component has a split for 'validation'"):
    pipeline.load_components(data, "validation")


def test_split_expressions_are_checked_part_by_part(setup):
  config, source = setup
  name, data_dir = config.data.name, config.data.data_dir
  test = pipeline.load_source(name, "test", data_dir=data_dir)
  joined = pipeline.load_source(name, "train+test[:50%]", data_dir=data_dir)
  assert len(joined) == len(source) + (len(test) + 1) // 2
  with pytest.raises(ValueError, match="no split 'nope' \\(in 'train\\+nope'\\)"):
    pipeline.load_source(name, "train+nope", data_dir=data_dir)
