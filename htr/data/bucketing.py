"""Batches of similar-length examples padded to a fixed set of shapes.

Two goals pull against each other: little padding (sort by length) and few
compilations (few distinct shapes). We take a window of `window_batches`
batches worth of shuffled examples, sort it by length, cut it into batches,
shuffle the batch order, and pad each batch to the smallest bucket that fits.
Batch `i` is a pure function of `i` and the seed, so the dataset stays a
random-access `grain.MapDataset`: its iterator state is one index and a resumed
run sees exactly the same batches.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

import grain
import numpy as np

from htr.errors import InputError


@dataclasses.dataclass(frozen=True)
class PadSpec:
  """How one key of an example is padded in a batch.

  Attributes:
    sizes: allowed padded sizes of `axis`, ascending; the smallest that fits wins.
    value: the padding value.
    length_key: if set, the unpadded lengths are stored under this key.
    axis: the example's axis that is padded: 0 for sequences, 1 for the width of
      `[H, W, C]` images.
  """

  sizes: tuple[int, ...]
  value: float = 0
  length_key: str | None = None
  axis: int = 0


class BucketBatchDataset(grain.MapDataset):
  """Length-sorted windows -> padded batches with a `mask` of real examples.

  Examples the parent dataset skipped (None) and examples longer than the
  largest bucket (when `skip_too_long`) become masked padding rows, and are
  logged with their id, so no data disappears silently and shapes stay fixed.
  """

  def __init__(self, parent: grain.MapDataset, *, batch_size: int,
               pad: dict[str, PadSpec], sort_key: str | None, window_batches: int = 1,
               seed: int = 0, drop_remainder: bool = True, skip_too_long: bool = False):
    super().__init__(parent)
    self._batch_size = batch_size
    self._pad = pad
    self._sort_key = sort_key
    self._window_batches = max(1, window_batches)
    self._seed = seed
    self._drop_remainder = drop_remainder
    self._skip_too_long = skip_too_long
    self._lock = threading.Lock()
    self._cache: dict[int, list[list[Any]]] = {}
    self._window_locks: dict[int, threading.Lock] = {}

  def __len__(self) -> int:
    n = len(self._parent)
    if n >= sys.maxsize:
      return sys.maxsize
    return n // self._batch_size if self._drop_remainder else -(-n // self._batch_size)

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    w, j = divmod(index, self._window_batches)
    return collate(self._window(w)[j], self._pad, self._batch_size)

  def __str__(self) -> str:
    return f"BucketBatchDataset(batch_size={self._batch_size}, sort_key={self._sort_key})"

  def _window(self, w: int) -> list[list[Any]]:
    """The w-th window's examples, length-sorted and cut into batches (cached)."""
    with self._lock:
      lock = self._window_locks.setdefault(w, threading.Lock())
    with lock:
      if w in self._cache:
        return self._cache[w]
      size = self._window_batches * self._batch_size
      # Without the remainder, the last window holds only whole batches' worth.
      limit = len(self) * self._batch_size if self._drop_remainder else len(self._parent)
      stop = min(w * size + size, limit)
      examples = [self._check_length(self._parent[i]) for i in range(w * size, stop)]
      real = sorted((e for e in examples if e is not None), key=self._length)
      # Real examples are dealt over all of the window's batches in length order, so
      # skipped ones are padding rows spread evenly, never a batch of their own.
      num_batches = -(-len(examples) // self._batch_size)
      bounds = np.arange(num_batches + 1) * len(real) // num_batches
      batches = [real[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
      np.random.default_rng([self._seed, w]).shuffle(batches)
      with self._lock:
        self._cache[w] = batches
        for old in [k for k in self._cache if k < w - 1]:
          self._cache.pop(old, None)
          # A thread still waiting on it may cache it again: eviction must not fail then.
          self._window_locks.pop(old, None)
      return batches

  def _length(self, example) -> int:
    if self._sort_key is None:
      return 0
    spec = self._pad.get(self._sort_key)
    return np.shape(example[self._sort_key])[spec.axis if spec else 0]

  def _check_length(self, example):
    if example is None:
      return None
    for key, spec in self._pad.items():
      if key not in example:  # E.g. eval examples carry no training targets.
        continue
      if reason := _too_long(example, key, spec):
        if not self._skip_too_long:
          raise InputError(reason, sample_id=example.get("id"))
        logging.warning("skipping sample %s: %s", example.get("id"), reason)
        return None
    return example


def _too_long(example: dict[str, Any], key: str, spec: PadSpec) -> str | None:
  """Why `example[key]` fits no bucket, or None if it fits."""
  if (length := np.shape(example[key])[spec.axis]) > spec.sizes[-1]:
    return (f"{key} has length {length} along axis {spec.axis}, more than the "
            f"largest bucket {spec.sizes[-1]}; add a larger bucket or shorten the input")
  return None


def collate(examples: Sequence[Any], pad: dict[str, PadSpec], batch_size: int
            ) -> dict[str, np.ndarray]:
  """Examples (None = skipped) -> a batch of `batch_size` rows with a `mask`.

  Keys in `pad` are padded along their axis to the smallest fitting size (the other
  axes must agree); other arrays are stacked; strings become object arrays (they stay
  on the host).
  """
  real = [e for e in examples if e is not None]
  if not real:
    raise InputError("a whole batch of examples was skipped as bad input; see the log")
  rows = list(examples) + [None] * (batch_size - len(examples))
  batch: dict[str, np.ndarray] = {"mask": np.array([r is not None for r in rows], np.float32)}
  for key, value in real[0].items():
    filled = [r[key] if r is not None else None for r in rows]
    if key in pad:
      spec = pad[key]
      for example in real:
        if reason := _too_long(example, key, spec):
          raise InputError(reason, sample_id=example.get("id"))
      longest = max(np.shape(v)[spec.axis] for v in filled if v is not None)
      size = next(s for s in spec.sizes if s >= longest)
      shape = list(np.shape(value))
      shape[spec.axis] = size
      arr = np.full([len(rows)] + shape, spec.value, np.asarray(value).dtype)
      lengths = np.zeros(len(rows), np.int32)
      for i, v in enumerate(filled):
        if v is not None:
          lengths[i] = np.shape(v)[spec.axis]
          arr[(i,) + (slice(None),) * spec.axis + (slice(0, lengths[i]),)] = v
      batch[key] = arr
      if spec.length_key:
        batch[spec.length_key] = lengths
    elif isinstance(value, (str, bytes)):
      batch[key] = np.array([v if v is not None else "" for v in filled], object)
    elif isinstance(value, np.ndarray) or np.isscalar(value):
      zero = np.zeros_like(value)
      batch[key] = np.stack([v if v is not None else zero for v in filled])
  return batch
