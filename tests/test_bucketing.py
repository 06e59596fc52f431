"""Bucketed batching: fixed shapes, masks, determinism, no silent drops."""

import grain
import numpy as np
import pytest

from htr.data.bucketing import BucketBatchDataset, PadSpec, collate
from htr.errors import InputError

PAD = {"inputs": PadSpec((4, 8, 16), 0.0, "input_lengths"),
       "labels": PadSpec((5,), 0, "label_lengths")}


def _examples(lengths):
  return [{"id": f"s{i}", "inputs": np.full((n, 2), i + 1, np.float32),
           "labels": np.arange(1, 1 + min(n, 5), dtype=np.int32)}
          for i, n in enumerate(lengths)]


def _dataset(lengths, **kwargs):
  source = grain.MapDataset.source(_examples(lengths))
  kwargs = {"batch_size": 2, "pad": PAD, "sort_key": "inputs", "window_batches": 2, **kwargs}
  return BucketBatchDataset(source, **kwargs)


def test_shapes_come_from_the_bucket_set_only():
  ds = _dataset([1, 3, 7, 2, 9, 16, 5, 4], seed=3)
  shapes = {b["inputs"].shape for b in ds}
  assert shapes <= {(2, 4, 2), (2, 8, 2), (2, 16, 2)}
  for batch in ds:
    assert batch["labels"].shape == (2, 5)
    for row, n in zip(batch["inputs"], batch["input_lengths"]):
      assert (row[n:] == 0).all() and (row[:n] != 0).all()


def test_every_example_appears_once_per_pass():
  lengths = [1, 3, 7, 2, 9, 16, 5, 4]
  ds = _dataset(lengths)
  ids = [i for b in ds for i in b["id"]]
  assert sorted(ids) == sorted(f"s{i}" for i in range(len(lengths)))


def test_sorting_within_window_reduces_padding():
  lengths = [1, 16, 1, 16, 1, 16, 1, 16]
  unsorted = sum(b["inputs"].size for b in _dataset(lengths, window_batches=1))
  windowed = sum(b["inputs"].size for b in _dataset(lengths, window_batches=4))
  assert windowed < unsorted


def test_random_access_is_deterministic():
  a = _dataset([3, 1, 7, 2, 9, 16, 5, 4], seed=1)
  b = _dataset([3, 1, 7, 2, 9, 16, 5, 4], seed=1)
  for i in reversed(range(len(a))):  # Any order: batch i is a function of i.
    np.testing.assert_array_equal(a[i]["inputs"], b[i]["inputs"])


def test_too_long_raises_or_is_masked():
  with pytest.raises(InputError, match="s1.*largest bucket 16"):
    list(_dataset([2, 17]))
  batch = _dataset([2, 17], skip_too_long=True)[0]
  assert batch["mask"].sum() == 1
  assert list(batch["id"][batch["mask"] == 1]) == ["s0"]


def test_eval_keeps_remainder_as_masked_rows():
  ds = _dataset([2, 3, 4], drop_remainder=False)
  assert len(ds) == 2
  assert sum(b["mask"].sum() for b in ds) == 3


def test_skipped_examples_are_spread_as_padding_rows_not_batched_together():
  """Skipped examples (None) used to sort first as length 0 and fill whole batches."""
  examples = _examples(range(1, 17))
  for i in range(0, 16, 4):
    examples[i] = None
  source = grain.MapDataset.source(examples)
  ds = BucketBatchDataset(source, batch_size=4, pad=PAD, sort_key="inputs", window_batches=4)
  batches = list(ds)
  assert len(batches) == 4 and [b["mask"].sum() for b in batches] == [3, 3, 3, 3]
  ids = sorted(i for b in batches for i, m in zip(b["id"], b["mask"]) if m)
  assert ids == sorted(e["id"] for e in examples if e is not None)


def test_drop_remainder_drops_the_partial_batch_not_a_full_one():
  ds = _dataset(range(1, 11), batch_size=4, window_batches=4, drop_remainder=True)
  assert len(ds) == 2
  assert [b["mask"].sum() for b in ds] == [4, 4]


def test_collate_of_only_skipped_examples_is_an_error():
  with pytest.raises(InputError, match="whole batch"):
    collate([None, None], PAD, 2)


def test_collate_names_an_example_longer_than_every_bucket():
  """Inference batches (htr recognize) do not pass through the dataset's length check."""
  with pytest.raises(InputError, match="sample s1: inputs has length 17.*largest bucket 16"):
    collate(_examples([3, 17]), PAD, 2)


def _images(widths, height=4):
  return [{"id": f"w{i}", "image": np.full((height, w, 1), i + 1, np.float32),
           "image_width": np.int32(w)} for i, w in enumerate(widths)]


def test_images_are_padded_along_the_width_axis():
  pad = {"image": PadSpec((8, 16, 32), 0.0, "image_width", axis=1)}
  source = grain.MapDataset.source(_images([5, 30, 8, 12, 3, 16]))
  ds = BucketBatchDataset(source, batch_size=2, pad=pad, sort_key="image", window_batches=3)
  batches = list(ds)
  assert {b["image"].shape for b in batches} == {(2, 4, 8, 1), (2, 4, 16, 1), (2, 4, 32, 1)}
  for batch in batches:  # Sorted by width: (3, 5), (8, 12), (16, 30).
    for row, w in zip(batch["image"], batch["image_width"]):
      assert (row[:, :w] != 0).all() and (row[:, w:] == 0).all()
  too_wide = grain.MapDataset.source(_images([3, 40]))
  with pytest.raises(InputError, match="w1: image has length 40 along axis 1"):
    list(BucketBatchDataset(too_wide, batch_size=2, pad=pad, sort_key="image"))
