"""Evaluation: predictions over a split, corpus metrics, and a JSON report.

  run_evaluation(...)                  what the trainer calls every `eval_every` steps
  evaluate(config, workdir, split)     --mode=eval: a trained workdir -> its report
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from etils import epath

from htr import checkpoint, sharding, zoo
from htr.data import pipeline
from htr.tasks import Task


def run_evaluation(task: Task, predict_fn, variables, ds, layout: sharding.BatchLayout,
                   *, max_batches: int | None = None) -> tuple[dict[str, float], list[dict]]:
  """Predicts every batch of `ds`; returns corpus metrics and per-example records.

  Every process runs the same number of steps (a process whose shard ran out
  repeats its last batch fully masked) and gathers the outputs of all.
  """
  pad, _ = task.padding()
  num_batches = pipeline.num_batches_everywhere(ds)
  if max_batches is not None:
    num_batches = min(num_batches, max_batches)
  records, batch = [], None
  for i in range(num_batches):
    if i < len(ds):
      batch = ds[i]
    else:
      batch = {**batch, "mask": np.zeros_like(batch["mask"])}
    numeric = pipeline.host_batch(batch, pad)
    outputs = predict_fn(variables, layout.put(numeric))
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      outputs = multihost_utils.process_allgather(outputs, tiled=True)
      batch = _gather_host_batch(numeric, batch)
    records.extend(task.records(batch, jax.tree.map(np.asarray, outputs)))
  return task.summarize(records), records


def _gather_host_batch(numeric: dict[str, np.ndarray], batch: dict[str, np.ndarray]
                       ) -> dict[str, np.ndarray]:
  """All processes' rows of a batch (numeric part already padded alike, and strings)."""
  from jax.experimental import multihost_utils
  gathered = multihost_utils.process_allgather(numeric, tiled=True)
  for key in (k for k, v in batch.items() if v.dtype == object):
    encoded = np.array([str(x).encode() for x in batch[key]], object)
    width = int(np.max(multihost_utils.process_allgather(
        np.array(max((len(x) for x in encoded), default=0)))))
    fixed = np.array([x.ljust(width, b"\0") for x in encoded], f"S{max(width, 1)}")
    rows = multihost_utils.process_allgather(fixed.view(np.uint8).reshape(len(fixed), -1),
                                             tiled=True)
    gathered[key] = np.array([bytes(r).rstrip(b"\0").decode() for r in rows], object)
  return gathered


def eval_dataset(task: Task, config: ml_collections.ConfigDict, split: str):
  pad, sort_key = task.padding()
  return pipeline.make_dataset(pipeline.load_components(config.data, split), config.data,
                               pad=pad, sort_key=sort_key, split=split,
                               batch_size=config.eval_batch_size, train=False,
                               seed=config.seed, fields=task.data_fields())


def evaluate(config: ml_collections.ConfigDict, workdir: epath.PathLike, *,
             split: str | None = None, which: str = "best", num_worst: int = 20,
             out_dir: epath.PathLike | None = None) -> dict[str, Any]:
  """Evaluates a trained workdir (or a `zoo:NAME` entry) on `split`; writes the JSON
  report into `out_dir` (default: the workdir; for an entry, ./eval-NAME) and returns it."""
  mesh = sharding.create_mesh(config.mesh)
  sharding.check_divisible(config, mesh, ("eval_batch_size",))
  if out_dir is None:
    out_dir = (f"eval-{os.path.basename(str(workdir)[len(zoo.PREFIX):])}"
               if zoo.is_source(workdir) else workdir)
  source = workdir if zoo.is_source(workdir) else checkpoint.workdir_path(workdir)
  workdir = checkpoint.workdir_path(out_dir)
  workdir.mkdir(parents=True, exist_ok=True)
  task, variables, trained = checkpoint.restore_for_inference(source, which=which)
  # The model comes from the checkpoint; how to decode and score it is this run's choice.
  for choice in ("decode", "detect", "subsets"):
    if choice in config:
      trained[choice] = ml_collections.ConfigDict(config[choice].to_dict())
  split = split or config.data.eval_split
  ds = eval_dataset(task, config, split)
  start = time.time()
  layout = sharding.BatchLayout.of(config, mesh)
  metrics, records = run_evaluation(task, jax.jit(task.predict), variables, ds, layout)
  report = {"dataset": config.data.name, "split": split, "checkpoint": which,
            "metrics": metrics, "seconds": time.time() - start,
            "worst": task.worst(records, num_worst), "predictions": records}
  path = workdir / f"eval_{config.data.name.replace('/', '_')}_{split}.json"
  if jax.process_index() == 0:
    path.write_text(json.dumps(report, indent=1))
    task.save_artifacts(records, workdir, path.stem)
  logging.info("eval %s/%s: %s -> %s", config.data.name, split, metrics, path)
  return report
