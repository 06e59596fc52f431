"""A run's workdir and its checkpoints: the one place that reads or writes them.

  WORKDIR/checkpoints/   the latest `keep_checkpoints` saves (state, data iterator, meta)
  WORKDIR/best/          the single best save by the task's main metric (state, meta)

Every save is one orbax Composite: `state` (TrainState), `data` (the Grain iterator,
latest only) and `meta` (JSON: the config, the task's metadata such as its vocabulary,
and the trainer's bookkeeping). The trainer saves and resumes through it; evaluation,
export, the `htr` command and the server restore through `restore_for_inference`, and a
run that starts from another's weights (`config.init_from`) through
`initialized_from`: none of them imports the trainer.
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from htr import sharding, zoo
from htr import state as state_lib
from htr.state import TrainState
from htr.tasks import Task, get_task


def workdir_path(workdir: epath.PathLike) -> epath.Path:
  """The absolute path of a workdir: a local folder or a gs:// (s3://, ...) URI.

  Every file of a run goes through it (epath, TensorFlow's file system and orbax all
  take URIs), so a bucket works as a workdir the way a shared mount does.
  """
  path = epath.Path(workdir).expanduser()
  return path if path.is_absolute() else path.absolute()


def managers(workdir: epath.Path, config: ml_collections.ConfigDict, metric: tuple[str, str]
             ) -> tuple[ocp.CheckpointManager, ocp.CheckpointManager]:
  """Latest N checkpoints (for resuming) and the single best by `metric` (for use).

  Both save asynchronously at once, so each has its own barrier names: with shared ones a
  multi-process run deadlocks when one process's `latest` finalises while another's
  `best` does ("Barrier ThreadSaveMultiHostValueHolder:set_value_start is already
  ongoing").
  """
  name, mode = metric

  def barriers(prefix: str) -> ocp.options.MultiprocessingOptions:
    return ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=prefix)

  latest = ocp.CheckpointManager(
      workdir / "checkpoints",
      options=ocp.CheckpointManagerOptions(
          max_to_keep=config.keep_checkpoints, create=True,
          multiprocessing_options=barriers("latest")))
  best = ocp.CheckpointManager(
      workdir / "best",
      options=ocp.CheckpointManagerOptions(
          max_to_keep=1, create=True, best_fn=lambda m: m[name], best_mode=mode,
          multiprocessing_options=barriers("best")))
  return latest, best


def latest_task_metadata(workdir: epath.Path) -> dict[str, Any] | None:
  """The task metadata of the latest checkpoint in `workdir`, if there is one."""
  directory = workdir / "checkpoints"
  if not directory.is_dir():
    return None
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      create=False, read_only=True))
  step = manager.latest_step()
  if step is None:
    return None
  return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
                         ).meta["task"]


def best_progress(workdir: epath.PathLike) -> dict[str, Any]:
  """The trainer's bookkeeping saved with the best checkpoint (best_step, best_metric)."""
  directory = workdir_path(workdir) / "best"
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      create=False, read_only=True))
  step = manager.best_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {directory}")
  return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
                         ).meta["progress"]


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  return {jax.tree_util.keystr(path): leaf.shape
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def initialized_from(state: TrainState, shardings: TrainState, source: str,
                     variables: dict[str, Any]) -> TrainState:
  """`state` with the parameters and model state of `source`'s best checkpoint."""
  variables = dict(variables)
  params = variables.pop("params")
  for name, ours, theirs in (("params", state.params, params),
                             ("model state", state.model_state, variables)):
    ours, theirs = _shapes(ours), _shapes(theirs)
    if ours != theirs:
      differing = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
      shown = {k: (theirs.get(k), ours.get(k)) for k in differing[:6]}
      raise ValueError(f"init_from={source}: its {name} do not fit this model (path: its "
                       f"shape, this model's): {shown}; use its config.model")
  return state.replace(params=jax.device_put(params, shardings.params),
                       model_state=jax.device_put(variables, shardings.model_state))


def save(latest: ocp.CheckpointManager, best: ocp.CheckpointManager, step: int,
         state: TrainState, iterator: Any, meta: dict[str, Any],
         metrics: dict[str, float] | None) -> None:
  """Saves to `latest` (with the data iterator) and, given metrics, to `best`."""
  latest.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state), data=_grain_save(iterator),
      meta=ocp.args.JsonSave(meta)), force=True)
  if metrics is not None:
    best.save(step, metrics=metrics, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)


def restore_latest(latest: ocp.CheckpointManager, state: TrainState, iterator: Any
                   ) -> tuple[TrainState, dict[str, Any]]:
  """The latest save's state (laid out like `state`) and meta; `iterator` is moved to
  the saved position in place."""
  restored = latest.restore(latest.latest_step(), args=ocp.args.Composite(
      state=ocp.args.StandardRestore(state), data=_grain_restore(iterator),
      meta=ocp.args.JsonRestore()))
  return restored.state, restored.meta


def _grain_save(iterator):
  import grain
  return grain.checkpoint.CheckpointSave(iterator)


def _grain_restore(iterator):
  import grain
  return grain.checkpoint.CheckpointRestore(iterator)


def restore_for_inference(source: epath.PathLike, *, which: str = "best",
                          model_axis: int | None = None
                          ) -> tuple[Task, dict[str, Any], ml_collections.ConfigDict]:
  """(task, variables, config) of a trained workdir or a zoo entry (`zoo:NAME`, htr/zoo/);
  the config comes from the checkpoint or the entry.

  The variables are placed on the training mesh, or with `model_axis` on
  ("data", -1), ("model", model_axis), laid out by the config's sharding rules.
  """
  if zoo.is_source(source):
    config, task_metadata, variables = zoo.load(source)
    task = get_task(config, task_metadata)
    _, shardings = _inference_state(task, config, model_axis)
    params = variables.pop("params")
    return task, {"params": jax.device_put(params, shardings.params),
                  **jax.device_put(variables, shardings.model_state)}, config
  workdir = workdir_path(source)
  directory = workdir / which
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      create=False, read_only=True))
  step = manager.best_step() if which == "best" else manager.latest_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {directory}: train first "
                            f"(python -m htr.main --workdir={workdir} --config=...)")
  meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
  config = ml_collections.ConfigDict(meta["config"])
  task = get_task(config, meta["task"])
  abstract, _ = _inference_state(task, config, model_axis)
  state = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract))).state
  return task, state.variables(), config


def _inference_state(task: Task, config: ml_collections.ConfigDict, model_axis: int | None
                     ) -> tuple[TrainState, TrainState]:
  """(abstract train state, its shardings) on the mesh inference runs on; sets
  `config.mesh` to that mesh."""
  if model_axis is not None:
    config.mesh = [["data", -1], ["model", model_axis]]
  elif jax.device_count() % int(np.prod([s for _, s in config.mesh if s != -1])):
    # Trained with a model axis wider than this machine (8 GPUs, evaluated on a CPU):
    # restored over the same axes, all devices on "data", which orbax reshards to.
    config.mesh = [[name, -1 if name == "data" else 1] for name, _ in config.mesh]
  mesh = sharding.create_mesh(config.mesh)
  _, abstract, shardings = state_lib.state_initializer(
      task, state_lib.make_optimizer(config), mesh, config)
  return abstract, shardings
