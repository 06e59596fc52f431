"""The one trainer: any task, any mesh, exact resume.

  train_and_evaluate(config, workdir)   trains with periodic evaluation
  evaluate(config, workdir, split)      writes a JSON report for one split
  restore_for_inference(workdir)        (task, variables) from the best checkpoint
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from clu import metric_writers, periodic_actions
from etils import epath

from htr import sharding
from htr.data import pipeline
from htr.progress_report import ReportProgress
from htr.tasks import Task, get_task


@flax.struct.dataclass
class TrainState:
  """Everything a step changes; saved whole in every checkpoint.

  Attributes:
    step: optimizer steps taken.
    params: trainable parameters.
    model_state: non-trainable collections (BatchNorm statistics).
    opt_state: optimizer state.
  """

  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any

  def variables(self) -> dict[str, Any]:
    return {"params": self.params, **self.model_state}


@dataclasses.dataclass
class Progress:
  """Trainer bookkeeping that must survive a restart (saved as JSON)."""

  best_metric: float | None = None
  best_step: int = 0
  evals_without_improvement: int = 0


# ---------------------------------------------------------------------------
# Optimizer.
# ---------------------------------------------------------------------------
def learning_rate_schedule(opt: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
  """The learning rate by optimizer update (not micro-step, under gradient accumulation)."""
  total_steps //= _accumulate_steps(opt)
  if opt.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(
        0.0, opt.learning_rate, opt.warmup_steps, max(total_steps, opt.warmup_steps + 1),
        end_value=opt.learning_rate * opt.final_lr_fraction)
  if opt.schedule == "plateau":
    return optax.linear_schedule(0.0, opt.learning_rate, max(opt.warmup_steps, 1))
  raise ValueError(f"unknown schedule {opt.schedule!r}: use 'cosine' or 'plateau'")


def _accumulate_steps(opt: ml_collections.ConfigDict) -> int:
  return opt.get("accumulate_steps", 1)  # Checkpoints from before the option: 1.


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformationExtraArgs:
  """AdamW with global-norm clipping; "plateau" also scales by reduce-on-plateau.

  With `accumulate_steps` k > 1, optax.MultiSteps averages the gradients of k
  train steps (batches) and updates once: a k times larger effective batch.
  """
  opt = config.optimizer
  chain = [optax.clip_by_global_norm(opt.grad_clip_norm),
           optax.adamw(learning_rate_schedule(opt, config.num_train_steps), b1=opt.b1,
                       b2=opt.b2, weight_decay=opt.weight_decay)]
  if opt.schedule == "plateau":
    chain.append(optax.contrib.reduce_on_plateau(
        factor=opt.plateau_factor, patience=opt.plateau_patience,
        accumulation_size=opt.plateau_accumulation, min_scale=opt.plateau_min_scale))
  tx = optax.chain(*chain)
  if _accumulate_steps(opt) > 1:
    tx = optax.MultiSteps(tx, every_k_schedule=opt.accumulate_steps)
  return tx


def current_learning_rate(config: ml_collections.ConfigDict, opt_state: Any) -> float:
  """The learning rate the next update uses: the schedule's at the update count, times
  reduce-on-plateau's scale (which lives in `opt_state`) with the "plateau" schedule."""
  (schedule_state,) = _states(opt_state, optax.ScaleByScheduleState)
  scales = [s.scale for s in _states(opt_state, optax.contrib.ReduceLROnPlateauState)]
  rate = learning_rate_schedule(config.optimizer, config.num_train_steps)(schedule_state.count)
  return float(rate * (scales[0] if scales else 1.0))


def _states(opt_state: Any, kind: type) -> list[Any]:
  """The optimizer sub-states of one kind, wherever the chain (or MultiSteps) holds them."""
  return [s for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, kind))
          if isinstance(s, kind)]


# ---------------------------------------------------------------------------
# Sharded state creation and steps.
# ---------------------------------------------------------------------------
def state_initializer(task: Task, tx, mesh, config):
  """(init_fn, abstract state with shardings, shardings) from eval_shape: nothing runs."""
  batch = task.dummy_batch(mesh.shape["data"])

  def init(rng):
    variables = task.init(rng, batch)
    params = variables.pop("params")
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      model_state=dict(variables), opt_state=tx.init(params))

  abstract = jax.eval_shape(init, jax.random.key(0))
  shardings = sharding.tree_shardings(abstract, mesh, config.sharding_rules)
  abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                          abstract, shardings)
  return init, abstract, shardings


def create_state(task: Task, tx, mesh, config) -> tuple[TrainState, Any]:
  """Parameters are created already sharded: jit(init, out_shardings), no host copy."""
  init, _, shardings = state_initializer(task, tx, mesh, config)
  return jax.jit(init, out_shardings=shardings)(jax.random.key(config.seed)), shardings


def cast_floats(tree: Any, dtype: str) -> Any:
  """Floating-point leaves of `tree` in `dtype` (others unchanged)."""
  dtype = jnp.dtype(dtype)
  return jax.tree.map(
      lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def make_train_step(task: Task, tx, base_rng: jax.Array, compute_dtype: str = "float32"):
  """One jittable optimizer step.

  Mixed precision (`compute_dtype="bfloat16"`): the loss runs on bf16 copies of the
  parameters and float inputs, so models whose modules infer their dtype (flax's
  default) compute in bf16, while the parameters, gradients and optimizer state
  stay float32.
  """
  def train_step(state: TrainState, batch):
    rng = jax.random.fold_in(base_rng, state.step)

    def loss_fn(params):
      if compute_dtype != "float32":
        return task.loss(cast_floats(params, compute_dtype), state.model_state,
                         cast_floats(batch, compute_dtype), rng)
      return task.loss(params, state.model_state, batch, rng)

    (loss, (model_state, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params, value=loss)
    params = optax.apply_updates(state.params, updates)
    aux = {**aux, "grad_norm": optax.tree.norm(grads)}
    return TrainState(state.step + 1, params, model_state, opt_state), aux
  return train_step


# ---------------------------------------------------------------------------
# Checkpoints: state + data iterator + progress in one orbax save.
# ---------------------------------------------------------------------------
def workdir_path(workdir: epath.PathLike) -> epath.Path:
  """The absolute path of a workdir: a local folder or a gs:// (s3://, ...) URI.

  Every file of a run goes through it (epath, TensorFlow's file system and orbax all
  take URIs), so a bucket works as a workdir the way a shared mount does.
  """
  path = epath.Path(workdir).expanduser()
  return path if path.is_absolute() else path.absolute()


def _managers(workdir: epath.Path, config, metric: tuple[str, str]
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


def _latest_task_metadata(workdir: epath.Path) -> dict[str, Any] | None:
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


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  return {jax.tree_util.keystr(path): leaf.shape
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _initialized_from(state: TrainState, shardings: TrainState, source: str,
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


def _meta(config, task: Task, progress: Progress) -> dict[str, Any]:
  return {"config": config.to_dict(), "task": task.metadata(),
          "progress": dataclasses.asdict(progress)}


# ---------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------
def run_evaluation(task: Task, predict_fn, variables, ds, batch_shard, *,
                   max_batches: int | None = None) -> tuple[dict[str, float], list[dict]]:
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
    outputs = predict_fn(variables, sharding.global_batch(numeric, batch_shard))
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


def _eval_dataset(task, config, split: str):
  pad, sort_key = task.padding()
  return pipeline.make_dataset(pipeline.load_components(config.data, split), config.data,
                               pad=pad, sort_key=sort_key, split=split,
                               batch_size=config.eval_batch_size, train=False,
                               seed=config.seed, fields=task.data_fields())


# ---------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: epath.PathLike
                       ) -> dict[str, float]:
  """Trains `config.task` until `num_train_steps` or early stopping; resumes if possible.

  Returns the metrics of the last evaluation.
  """
  workdir = workdir_path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  # A resumed run rebuilds its task from the checkpoint (e.g. the same vocabulary), and
  # so does a run that starts from another run's weights (fine-tuning).
  task_metadata = _latest_task_metadata(workdir)
  source_variables = None
  if task_metadata is None and config.get("init_from"):
    source_task, source_variables, _ = restore_for_inference(config.init_from)
    task_metadata = source_task.metadata()
  task = get_task(config, task_metadata)
  mesh = sharding.create_mesh(config.mesh)
  batch_shard = sharding.batch_sharding(mesh)
  _check_divisible(config, mesh, ("batch_size", "eval_batch_size"))
  writer = metric_writers.create_default_writer(
      str(workdir), just_logging=jax.process_index() > 0, asynchronous=False)

  # -- Data ---------------------------------------------------------------
  pad, sort_key = task.padding()
  train_ds = pipeline.make_dataset(
      pipeline.load_components(config.data, config.data.train_split), config.data, pad=pad,
      sort_key=sort_key, split=config.data.train_split, batch_size=config.batch_size,
      train=True, seed=config.seed, fields=task.data_fields())
  train_iter = pipeline.make_iterator(train_ds, config.data)
  eval_ds = _eval_dataset(task, config, config.data.eval_split)

  # -- Model and optimizer ------------------------------------------------
  tx = make_optimizer(config)
  state, state_shardings = create_state(task, tx, mesh, config)
  num_params = sum(x.size for x in jax.tree.leaves(state.params))
  logging.info("Model %s: %.2fM parameters on mesh %s", config.model.name, num_params / 1e6,
               dict(mesh.shape))
  writer.write_hparams({k: v for k, v in _flat(config).items()
                        if isinstance(v, (int, float, str, bool))})

  # -- Restore ------------------------------------------------------------
  latest, best = _managers(workdir, config, task.main_metric)
  progress = Progress()
  if latest.latest_step() is not None:
    step = latest.latest_step()
    restored = latest.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(state), data=_grain_restore(train_iter),
        meta=ocp.args.JsonRestore()))
    state = restored.state
    progress = Progress(**restored.meta["progress"])
    logging.info("Resumed from step %d in %s", step, workdir)
    patience = config.early_stopping_patience
    if patience and progress.evals_without_improvement >= patience:
      # A rerun (a scheduler's retry) must not train on and replace the best checkpoint.
      logging.info("This run stopped early at step %d (best %s %.4g at step %d): nothing "
                   "to do", step, task.main_metric[0], progress.best_metric,
                   progress.best_step)
      return {}
  elif source_variables is not None:
    state = _initialized_from(state, state_shardings, config.init_from, source_variables)
    logging.info("Initialised from the best checkpoint of %s", config.init_from)

  train_step = jax.jit(make_train_step(task, tx, jax.random.key(config.seed + 1),
                                       config.compute_dtype),
                       in_shardings=(state_shardings, batch_shard),
                       out_shardings=(state_shardings, None), donate_argnums=0)
  predict_fn = jax.jit(task.predict)

  def save(step: int, eval_metrics: dict[str, float] | None):
    meta = _meta(config, task, progress)
    latest.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=_grain_save(train_iter),
        meta=ocp.args.JsonSave(meta)), force=True)
    if eval_metrics is not None:
      best.save(step, metrics=eval_metrics, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)

  # -- Loop ---------------------------------------------------------------
  start = int(state.step)
  report = ReportProgress(num_train_steps=config.num_train_steps, writer=writer,
                          every_steps=config.log_every)
  hooks = [report]
  if jax.process_index() == 0 and config.profile:
    hooks.append(periodic_actions.Profile(num_profile_steps=5, logdir=str(workdir)))
  eval_metrics: dict[str, float] = {}
  pending: list[dict[str, jax.Array]] = []
  metric_name, mode = task.main_metric
  last_log = time.time()
  step = start
  with metric_writers.ensure_flushes(writer):
    while step < config.num_train_steps:
      with jax.profiler.StepTraceAnnotation("train", step_num=step):
        batch = sharding.global_batch(pipeline.host_batch(next(train_iter), pad), batch_shard)
        state, aux = train_step(state, batch)
      step += 1
      pending.append(aux)
      for hook in hooks:
        hook(step)

      if step % config.log_every == 0 or step == config.num_train_steps:
        summary = {k: float(np.mean([jax.device_get(a[k]) for a in pending]))
                   for k in pending[0]}
        pending = []
        if not np.isfinite(summary["loss"]):
          raise FloatingPointError(
              f"training loss is {summary['loss']} at step {step} (within the last "
              f"{config.log_every} steps); last checkpoint: "
              f"{'step %d' % latest.latest_step() if latest.latest_step() else 'none yet'}. "
              f"Lower optimizer.learning_rate or check the input data.")
        summary["learning_rate"] = current_learning_rate(config, state.opt_state)
        writer.write_scalars(step, {f"train/{k}": v for k, v in summary.items()})
        logging.info("step %d: %s (%.1fs)", step,
                     ", ".join(f"{k}={v:.4g}" for k, v in summary.items()),
                     time.time() - last_log)
        last_log = time.time()

      is_last = step == config.num_train_steps
      if step % config.eval_every == 0 or is_last:
        with report.timed("eval"):
          eval_metrics, records = run_evaluation(
              task, predict_fn, state.variables(), eval_ds, batch_shard,
              max_batches=config.eval_max_batches)
        if jax.process_index() == 0:
          task.save_artifacts(records, workdir, f"eval_{config.data.eval_split}")
        writer.write_scalars(step, {f"eval/{k}": v for k, v in eval_metrics.items()})
        logging.info("eval at step %d: %s", step,
                     ", ".join(f"{k}={v:.4g}" for k, v in eval_metrics.items()))
        value = eval_metrics[metric_name]
        improved = progress.best_metric is None or (
            value < progress.best_metric if mode == "min" else value > progress.best_metric)
        if improved:
          progress = Progress(value, step, 0)
        else:
          progress.evals_without_improvement += 1
        # Only an improvement replaces best/: on a tie orbax would keep the newer step,
        # and best/ would disagree with the best_step the log and progress report.
        save(step, eval_metrics if improved else None)
        patience = config.early_stopping_patience
        if patience and progress.evals_without_improvement >= patience:
          logging.info("Early stopping at step %d: %s has not improved for %d evaluations "
                       "(best %.4g at step %d)", step, metric_name, patience,
                       progress.best_metric, progress.best_step)
          break
      elif step % config.checkpoint_every == 0 or latest.reached_preemption(step):
        with report.timed("checkpoint"):
          save(step, None)
        if latest.reached_preemption(step):
          logging.warning("Preempted at step %d: checkpoint saved, exiting", step)
          break
  latest.wait_until_finished()
  best.wait_until_finished()
  return eval_metrics


def _check_divisible(config: ml_collections.ConfigDict, mesh, keys: tuple[str, ...]) -> None:
  """Batches are split over the data axis: a size it does not divide fails deep in jax."""
  for key in keys:
    if config[key] % mesh.shape["data"]:
      raise ValueError(f"{key}={config[key]} must be a multiple of the data axis "
                       f"({mesh.shape['data']} devices)")


def _grain_save(iterator):
  import grain
  return grain.checkpoint.CheckpointSave(iterator)


def _grain_restore(iterator):
  import grain
  return grain.checkpoint.CheckpointRestore(iterator)


def _flat(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in config.items():
    if isinstance(v, ml_collections.ConfigDict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


# ---------------------------------------------------------------------------
# Evaluation report and inference.
# ---------------------------------------------------------------------------
def restore_for_inference(workdir: epath.PathLike, *, which: str = "best",
                          model_axis: int | None = None) -> tuple[Task, dict, Any]:
  """(task, variables, config) of a trained workdir; config comes from the checkpoint.

  The variables are restored onto the training mesh, or with `model_axis` onto
  ("data", -1), ("model", model_axis), laid out by the config's sharding rules.
  """
  workdir = workdir_path(workdir)
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
  if model_axis is not None:
    config.mesh = [["data", -1], ["model", model_axis]]
  elif jax.device_count() % int(np.prod([s for _, s in config.mesh if s != -1])):
    # Trained with a model axis wider than this machine (8 GPUs, evaluated on a CPU):
    # restored over the same axes, all devices on "data", which orbax reshards to.
    config.mesh = [[name, -1 if name == "data" else 1] for name, _ in config.mesh]
  mesh = sharding.create_mesh(config.mesh)
  _, abstract, _ = state_initializer(task, make_optimizer(config), mesh, config)
  state = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract))).state
  return task, state.variables(), config


def evaluate(config: ml_collections.ConfigDict, workdir: epath.PathLike, *,
             split: str | None = None, which: str = "best", num_worst: int = 20
             ) -> dict[str, Any]:
  """Evaluates a trained workdir on `split`; writes and returns a JSON report."""
  mesh = sharding.create_mesh(config.mesh)
  _check_divisible(config, mesh, ("eval_batch_size",))
  workdir = workdir_path(workdir)
  task, variables, trained = restore_for_inference(workdir, which=which)
  # The model comes from the checkpoint; how to decode it is this run's choice.
  if "decode" in config:
    trained.decode = ml_collections.ConfigDict(config.decode.to_dict())
  split = split or config.data.eval_split
  ds = _eval_dataset(task, config, split)
  start = time.time()
  metrics, records = run_evaluation(task, jax.jit(task.predict), variables, ds,
                                    sharding.batch_sharding(mesh))
  report = {"dataset": config.data.name, "split": split, "checkpoint": which,
            "metrics": metrics, "seconds": time.time() - start,
            "worst": task.worst(records, num_worst), "predictions": records}
  path = workdir / f"eval_{config.data.name.replace('/', '_')}_{split}.json"
  if jax.process_index() == 0:
    path.write_text(json.dumps(report, indent=1))
    task.save_artifacts(records, workdir, path.stem)
  logging.info("eval %s/%s: %s -> %s", config.data.name, split, metrics, path)
  return report
