"""A finished run -> a zoo entry (htr/zoo/), with its metrics measured again.

  htr zoo add WORKDIR NAME --split=testset_v --weights=int8 --data_dir=... ...

The entry's metrics are measured on the entry itself (its compressed weights), next to
the run's float32 checkpoint on the same splits, so the manifest shows what compression
cost. A run started from another entry (`init_from=zoo:OTHER`) continues that entry's
chain: its runs, steps and compute add up in the manifest. An entry made the default for
an input kind takes that role from the entry beside it that had it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import ml_collections

from htr import checkpoint, evaluate, zoo
from htr.errors import InputError


def eval_config(config: ml_collections.ConfigDict, *, data_dir: str | None = None,
                manual_dir: str | None = None, eval_batch_size: int | None = None
                ) -> ml_collections.ConfigDict:
  """An entry's (or a run's) config, pointed at this machine's data."""
  config = ml_collections.ConfigDict(config.to_dict())
  if data_dir is not None:
    config.data.data_dir = data_dir
  if manual_dir is not None:
    config.data.manual_dir = manual_dir
  if eval_batch_size is not None:
    config.eval_batch_size = eval_batch_size
  config.eval_max_batches = None  # Every example of the split.
  return config


def portable(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config as an entry keeps it: no folder of the machine it was trained on (data
  dirs, a workdir it started from); who uses the entry points it at their own data."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.data.data_dir = None
  config.data.manual_dir = None
  for part in config.data.get("mixture", {}).values():
    if "manual_dir" in part:
      part.manual_dir = None
  source = config.get("init_from")
  if source and not zoo.is_source(source):
    config.init_from = os.path.basename(os.path.normpath(source))
  return config


def _chain(config: ml_collections.ConfigDict, run: dict[str, Any]) -> list[dict[str, Any]]:
  """The runs behind an entry: those of the entry this run started from, then this one."""
  source = config.get("init_from")
  earlier = zoo.entry(source).manifest["training"]["chain"] if zoo.is_source(source) else []
  return [*earlier, run]


def _take_defaults(folder: str, kinds: list[str]) -> list[str]:
  """The entry in `folder` becomes the default for `kinds`: entries beside it give those
  kinds up (`zoo.default_for` wants one per kind). Returns the names that gave one up."""
  folder = os.path.normpath(folder)
  parent = os.path.dirname(folder)
  changed = []
  for name in sorted(os.listdir(parent)):
    path = os.path.join(parent, name)
    if path == folder or not os.path.isfile(os.path.join(path, zoo.MANIFEST)):
      continue
    manifest = zoo.entry(path).manifest
    kept = [kind for kind in manifest.get("default_for", []) if kind not in kinds]
    if kept != manifest.get("default_for", []):
      zoo.write_manifest(path, {**manifest, "default_for": kept})
      changed.append(name)
  return changed


def add(workdir: str, name: str, *, splits: list[str], weights: str = "int8",
        folder: str | None = None, description: str = "", licence: str = "",
        train_command: str = "", cpu_hours: float = 0.0, default_for: list[str] = (),
        data_dir: str | None = None, manual_dir: str | None = None,
        eval_batch_size: int | None = None) -> zoo.Entry:
  """Writes the entry `name` from the best checkpoint of `workdir`; returns it."""
  if not splits:
    raise InputError("name at least one split to measure the entry on (--split)")
  task, variables, config = checkpoint.restore_for_inference(workdir)
  progress = checkpoint.best_progress(workdir)
  run = {"workdir": os.path.basename(os.path.normpath(workdir)), "command": train_command,
         "data": config.data.name, "init_from": portable(config).get("init_from"),
         "best_step": progress["best_step"], "cpu_hours": cpu_hours}
  chain = _chain(config, run)
  folder = folder or os.path.join(zoo.ENTRIES, name)
  about = {"description": description, "default_for": list(default_for), "licence": licence,
           "training": {"chain": chain, "steps": sum(r["best_step"] for r in chain),
                        "cpu_hours": round(sum(r["cpu_hours"] for r in chain), 2)}}
  written = zoo.write_entry(folder, name=name, variables=variables, config=portable(config),
                            task_metadata=task.metadata(), accepts=list(task.accepts),
                            weights=weights, about=about)
  measured = eval_config(config, data_dir=data_dir, manual_dir=manual_dir,
                         eval_batch_size=eval_batch_size)
  metrics, reference = {}, {}
  with tempfile.TemporaryDirectory() as tmp:
    for split in splits:
      key = f"{config.data.name}/{split}"
      metrics[key] = evaluate.evaluate(measured, written.source, split=split,
                                       out_dir=os.path.join(tmp, "entry"))["metrics"]
      reference[key] = evaluate.evaluate(measured, workdir, split=split,
                                         out_dir=os.path.join(tmp, "float32"))["metrics"]
  manifest = dict(written.manifest)
  manifest["metrics"] = metrics
  manifest["metrics_float32_checkpoint"] = reference
  manifest["evaluation"] = {
      "command": (f"htr zoo eval {name} --split={splits[0]} --data_dir=DATA_DIR"
                  + (" --manual_dir=MANUAL_DIR" if config.data.get("manual_dir") else "")),
      "splits": list(splits)}
  zoo.write_manifest(folder, manifest)
  for other in _take_defaults(folder, list(default_for)):
    logging.info("%s is no longer the zoo's default for %s", other, ", ".join(default_for))
  return zoo.entry(folder)
