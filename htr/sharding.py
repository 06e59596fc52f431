"""Device mesh, parameter partitioning rules and global batches.

Pure data parallelism is the default (parameters replicated, batch split over
"data"); larger models shard parameters over "model" by regex rules in the
config, e.g. `(("encoder/.*/kernel", (None, "model")),)`, and may split an example's
own axes by `config.batch_sharding_rules` (BatchLayout).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
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


def set_cpu_devices(count: int | None) -> None:
  """JAX's CPU device count (None: JAX's default, one); before any computation runs.

  One device per core is htr's CPU layout: training splits the batch over them
  ("data") and recognition can split a BiLSTM's directions over them ("model").
  """
  if count is not None:
    jax.config.update("jax_num_cpu_devices", count)


def path_name(path: Sequence[Any]) -> str:
  """A pytree path as "params/encoder/dense/kernel" (dict keys, indices, attributes)."""
  return "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                  for k in path)


def tree_shardings(tree: Any, mesh: Mesh, rules: Sequence[tuple[str, Sequence]]) -> Any:
  """A NamedSharding per leaf: the first rule whose regex is found in the leaf's path.

  Paths are `path_name`s of the whole tree, e.g. `params/decoder/mlp_in/kernel` and
  its Adam moment `opt_state/0/mu/decoder/mlp_in/kernel`: a rule like
  `mlp_in/kernel$` shards both. Leaves no rule matches are replicated. A rule's spec
  must fit the leaf's rank, and a rule that matches nothing is an error (a typo would
  silently replicate what it was meant to split).
  """
  compiled = [(re.compile(pattern), P(*spec)) for pattern, spec in rules]
  used = set()

  def for_leaf(path, leaf):
    name = path_name(path)
    for i, (pattern, spec) in enumerate(compiled):
      if pattern.search(name):
        if len(spec) > np.ndim(leaf):
          raise ValueError(f"sharding rule {spec} has more axes than {name} {np.shape(leaf)}")
        used.add(i)
        return NamedSharding(mesh, spec)
    return NamedSharding(mesh, P())

  shardings = jax.tree_util.tree_map_with_path(for_leaf, tree)
  if unused := [rules[i][0] for i in range(len(rules)) if i not in used]:
    example = path_name(jax.tree_util.tree_leaves_with_path(tree)[-1][0])
    raise ValueError(f"sharding rules {unused} match no leaf (paths look like {example!r})")
  return shardings


@dataclasses.dataclass(frozen=True)
class BatchLayout:
  """Where a batch goes on the mesh: every array's leading (batch) axis over "data",
  and, by `rules` (a regex on the batch key -> a PartitionSpec of the array's axes), an
  example's own axes too. configs/offline_crnn.py puts a line image's columns over
  "model": each device runs the conv stack on its columns (XLA exchanges the rows at the
  seam) before the BiLSTM's two directions split there; one 1,000-pixel line reads in
  ~12 ms on two devices, against ~19 ms with the image whole on both (README, Speed).

  A mesh axis that does not divide an array's axis leaves it whole (a batch of 3 on
  two "data" devices, an odd width): the layout changes the speed, never the result.
  """

  mesh: Mesh
  rules: Sequence[tuple[str, Sequence[str | None]]] = ()

  @classmethod
  def of(cls, config: ml_collections.ConfigDict, mesh: Mesh) -> BatchLayout:
    """The layout `config` asks for on `mesh` (configs saved before batch rules: none)."""
    return cls(mesh, config.get("batch_sharding_rules", ()))

  def sharding(self, key: str, shape: tuple[int, ...]) -> NamedSharding:
    """The sharding of batch entry `key` of global shape `shape`."""
    spec = next((spec for pattern, spec in self.rules if re.search(pattern, key)), ("data",))
    if len(spec) > len(shape):
      raise ValueError(f"batch sharding rule {spec} has more axes than {key} {shape}")
    # An axis is None, a mesh axis name or several (a list, as a JSON config has them).
    axes = [tuple(axis) if isinstance(axis, list) else axis for axis in spec]
    return NamedSharding(self.mesh, P(*(axis if self._divides(axis, size) else None
                                        for axis, size in zip(axes, shape))))

  def put(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """Each process's slice of the batch (its rows) -> one global array per key."""
    rows = jax.process_count()
    return {k: jax.make_array_from_process_local_data(
        self.sharding(k, (np.shape(v)[0] * rows, *np.shape(v)[1:])), v)
            for k, v in batch.items()}

  def _divides(self, axis: str | tuple[str, ...] | None, size: int) -> bool:
    names = () if axis is None else (axis,) if isinstance(axis, str) else axis
    return size % math.prod(self.mesh.shape[name] for name in names) == 0


def check_divisible(config: ml_collections.ConfigDict, mesh: Mesh, keys: tuple[str, ...]) -> None:
  """Batches are split over the data axis: a size it does not divide fails deep in jax."""
  for key in keys:
    if config[key] % mesh.shape["data"]:
      raise ValueError(f"{key}={config[key]} must be a multiple of the data axis "
                       f"({mesh.shape['data']} devices)")
