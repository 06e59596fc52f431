"""Device mesh, parameter partitioning rules and global batches.

Pure data parallelism is the default (parameters replicated, batch split over
"data"); larger models shard parameters over "model" by regex rules in the
config, e.g. `(("encoder/.*/kernel", (None, "model")),)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import traverse_util
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def create_mesh(axes: Sequence[tuple[str, int]]) -> Mesh:
  """A mesh over all devices; one axis size may be -1 (all remaining devices)."""
  names = [name for name, _ in axes]
  sizes = [size for _, size in axes]
  n = jax.device_count()
  if sizes.count(-1) > 1:
    raise ValueError(f"at most one mesh axis may be -1: {axes}")
  known = int(np.prod([s for s in sizes if s != -1]))
  if n % known:
    raise ValueError(f"mesh {axes} does not divide {n} devices")
  sizes = [n // known if s == -1 else s for s in sizes]
  if int(np.prod(sizes)) != n:
    raise ValueError(f"mesh {dict(zip(names, sizes))} does not use all {n} devices")
  devices = np.asarray(jax.devices()).reshape(sizes)
  return Mesh(devices, names)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis over "data", everything else replicated."""
  return NamedSharding(mesh, P("data"))


def tree_shardings(tree: Any, mesh: Mesh, rules: Sequence[tuple[str, Sequence]]) -> Any:
  """A NamedSharding per leaf: the first rule whose regex matches the leaf's path.

  Leaves no rule matches are replicated. A rule's spec must fit the leaf's rank.
  """
  compiled = [(re.compile(pattern), P(*spec)) for pattern, spec in rules]

  def for_leaf(path, leaf):
    name = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
    for pattern, spec in compiled:
      if pattern.search(name):
        if len(spec) > np.ndim(leaf):
          raise ValueError(f"sharding rule {spec} has more axes than {name} {np.shape(leaf)}")
        return NamedSharding(mesh, spec)
    return NamedSharding(mesh, P())

  return jax.tree_util.tree_map_with_path(for_leaf, tree)


def global_batch(batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Each process's slice of the batch -> one global array per key."""
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


def param_names(params: Any) -> list[str]:
  """Flat "a/b/kernel" names, to write sharding rules against."""
  return ["/".join(k) for k in traverse_util.flatten_dict(params)]
