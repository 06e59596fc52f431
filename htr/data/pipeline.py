"""Grain input pipelines over TFDS array_record sources.

  tfds.data_source -> per-process slice -> (train: seeded shuffle, repeat)
    -> registered preprocessing ops -> length-bucketed padded batches
    -> threaded prefetching iterator (its state goes into every checkpoint)

A split may also be a weighted mixture of several datasets (`data.mixture`, e.g.
EMNIST letters and digits plus synthetic symbols): each component is sliced,
shuffled and repeated on its own and brought to a common form by its own ops, then
`grain.MapDataset.mix` interleaves them in proportion (training) or
`concatenate` lists every example once (evaluation).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import grain
import jax
import ml_collections
import numpy as np

from htr.data import registry
from htr.data.bucketing import BucketBatchDataset, PadSpec
from htr.errors import InputError


def load_source(name: str, split: str, *, data_dir: str | None = None,
                manual_dir: str | None = None):
  """A random-access source for `name` (e.g. "synthetic_ink/small"), built if needed.

  Datasets that need no download (synthetic ones) are generated here on first use;
  datasets with a manual download (IAM-OnDB) are built from `manual_dir`. With
  several processes, process 0 builds and the others wait for it (concurrent builds
  into one directory collide).
  """
  import tensorflow_datasets as tfds
  from jax.experimental import multihost_utils

  import htr_datasets  # noqa: F401  (registers htr's builders)

  data_dir = expand_user(data_dir)
  builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
  if jax.process_index() == 0 and not builder.is_prepared():
    logging.info("Preparing %s in %s (once)", name, builder.data_dir)
    config = tfds.download.DownloadConfig(manual_dir=expand_user(manual_dir))
    builder.download_and_prepare(download_config=config)
  if jax.process_count() > 1:  # Every process, every call: all must meet here.
    multihost_utils.sync_global_devices(f"htr: {name} prepared")
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
  # "train[:90%]" slices "train", "train+validation" joins two. (Under
  # tfds.testing.mock_data nothing is prepared and there is no split metadata.)
  unknown = [part for part in (p.partition("[")[0].strip() for p in split.split("+"))
             if part not in builder.info.splits]
  if builder.info.splits and unknown:
    raise ValueError(f"{name} has no split {unknown[0]!r} (in {split!r}); it has "
                     f"{list(builder.info.splits)}")
  return tfds.data_source(name, split=split, data_dir=data_dir, download=False)


def expand_user(path: str | None) -> str | None:
  """`~/x` -> `/home/me/x`: the shell leaves a `~` after `--flag=` alone, and TFDS
  would create a folder literally named `~`."""
  return os.path.expanduser(path) if path and "://" not in path else path


def _safe(op: Callable, skip_bad: bool):
  """Wraps an op: bad input either raises (default) or is logged and skipped."""
  def wrapped(example, rng):
    try:
      return op(example, rng)
    except InputError as e:
      if not skip_bad:
        raise
      logging.warning("skipping bad sample: %s", e)
      return None
  return wrapped


@dataclasses.dataclass(frozen=True)
class Component:
  """One dataset of a split.

  Attributes:
    source: a random-access source (`load_source`).
    weight: its share of training examples (mixtures only).
    pp: ops applied to its examples before the split's common ops ("" for none).
  """

  source: Any
  weight: float = 1.0
  pp: str = ""


def load_components(data: ml_collections.ConfigDict, split: str) -> list[Component]:
  """The datasets of the logical `split`: `data.name`, or each of `data.mixture`.

  A mixture entry names its dataset, weight, ops and its own split for each
  logical split, e.g. `splits=dict(train="train[:90%]", validation="train[90%:]")`;
  a split mapped to None leaves the component out of it (data that only helps
  training, while evaluation measures the others). An entry's own `manual_dir`
  overrides `data.manual_dir`: mixed datasets are downloaded to different places.
  """
  if not data.get("mixture"):
    return [Component(load_source(data.name, split, data_dir=data.data_dir,
                                  manual_dir=data.manual_dir))]
  components = []
  for key, part in data.mixture.items():
    if split not in part.splits:
      raise ValueError(f"mixture component {key!r} ({part.name}) has no split for {split!r}; "
                       f"it maps {sorted(part.splits)}")
    if part.splits[split] is None:
      continue
    source = load_source(part.name, part.splits[split], data_dir=data.data_dir,
                         manual_dir=part.get("manual_dir") or data.manual_dir)
    components.append(Component(source, part.weight, part.pp))
  if not components:
    raise ValueError(f"no mixture component has a split for {split!r}")
  return components


def make_dataset(components: Sequence[Component], data: ml_collections.ConfigDict, *,
                 pad: dict[str, PadSpec], sort_key: str | None, split: str, batch_size: int,
                 train: bool, seed: int, fields: dict[str, Any] | None = None
                 ) -> grain.MapDataset:
  """Batches of one split for this process.

  Args:
    components: the split's datasets (`load_components`).
    data: the config's `data` block: `pp_train`/`pp_eval` op specs, `buckets`,
      `max_label_length`, `window_batches`, `skip_bad`.
    pad: how each sequence key is padded (from the task).
    sort_key: the key whose length groups examples into buckets (None: fixed shapes).
    split: split name, for messages only.
    batch_size: the GLOBAL batch size; each process builds its share.
    train: shuffle, repeat forever and augment; otherwise one ordered pass.
    seed: data seed: same seed, same batches.
    fields: extra `{name}` fields for the op specs (`Task.data_fields`).
  """
  per_process, rest = divmod(batch_size, jax.process_count())
  if rest:
    raise ValueError(f"batch size {batch_size} does not divide over "
                     f"{jax.process_count()} processes")
  fields = fields or {}
  parts = []
  for i, component in enumerate(components):
    ds = grain.MapDataset.source(component.source)
    ds = ds[jax.process_index()::jax.process_count()]
    if train:
      ds = ds.seed(seed + i).shuffle().repeat(None)
    if component.pp:
      ds = ds.random_map(_safe(registry.build(component.pp.format(**data, **fields)),
                               data.skip_bad), seed=seed + i)
    parts.append(ds)
  if len(parts) == 1:
    ds = parts[0]
  elif train:
    ds = grain.MapDataset.mix(parts, [c.weight for c in components])
  else:
    ds = grain.MapDataset.concatenate(parts)
  # Specs may name other data fields, e.g. "features(names={features})", so
  # overriding `data.features` on the command line changes every place at once.
  spec = (data.pp_train if train else data.pp_eval).format(**data, **fields)
  ds = ds.random_map(_safe(registry.build(spec), data.skip_bad), seed=seed)
  if not train and not len(ds):
    raise ValueError(f"split {split} is empty on process {jax.process_index()}")
  return BucketBatchDataset(ds, batch_size=per_process, pad=pad, sort_key=sort_key,
                            window_batches=data.window_batches, seed=seed,
                            drop_remainder=train, skip_too_long=data.skip_bad)


def make_iterator(ds: grain.MapDataset, data: ml_collections.ConfigDict):
  """A threaded, prefetching iterator whose state orbax can save."""
  options = grain.ReadOptions(num_threads=data.num_threads,
                              prefetch_buffer_size=data.prefetch)
  return iter(ds.to_iter_dataset(options))


def host_batch(batch: dict[str, np.ndarray], pad: dict[str, PadSpec]) -> dict[str, np.ndarray]:
  """The numeric part of a batch (what goes to devices); strings stay on the host.

  With several processes, each pads its own rows to its own bucket; a global array
  needs one shape, so all agree on the largest (itself a bucket: no new shapes).
  """
  batch = {k: v for k, v in batch.items() if v.dtype != object}
  if jax.process_count() == 1 or not pad:
    return batch
  from jax.experimental import multihost_utils
  keys = sorted(pad)
  axes = [pad[k].axis + 1 for k in keys]  # The padded axis, after the batch axis.
  sizes = multihost_utils.process_allgather(
      np.array([batch[k].shape[a] for k, a in zip(keys, axes)]))
  for key, axis, size in zip(keys, axes, np.max(sizes.reshape(-1, len(keys)), axis=0)):
    extra = int(size) - batch[key].shape[axis]
    if extra:
      widths = [(0, 0)] * batch[key].ndim
      widths[axis] = (0, extra)
      batch[key] = np.pad(batch[key], widths, constant_values=pad[key].value)
  return batch


def num_batches_everywhere(ds: grain.MapDataset) -> int:
  """Batches every process must step through: shards may differ by one batch."""
  if jax.process_count() == 1:
    return len(ds)
  from jax.experimental import multihost_utils
  return int(np.max(multihost_utils.process_allgather(np.array(len(ds)))))
