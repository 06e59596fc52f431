"""The one trainer: any task, any mesh, exact resume.

  train_and_evaluate(config, workdir)   trains with periodic evaluation

The state and optimizer come from htr/state.py, checkpoints from htr/checkpoint.py and
evaluation from htr/evaluate.py; this file is the loop.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from clu import metric_writers, periodic_actions
from etils import epath

from htr import checkpoint, evaluate, sharding
from htr import state as state_lib
from htr.data import pipeline
from htr.progress_report import ReportProgress
from htr.state import TrainState
from htr.tasks import Task, get_task


@dataclasses.dataclass
class Progress:
  """Trainer bookkeeping that must survive a restart (saved as JSON)."""

  best_metric: float | None = None
  best_step: int = 0
  evals_without_improvement: int = 0


# ---------------------------------------------------------------------------
# The step.
# ---------------------------------------------------------------------------
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


def jit_train_step(task: Task, tx, config: ml_collections.ConfigDict, state_shardings: Any):
  """The step the trainer runs: jitted with the state's shardings, the state donated,
  the batch where `sharding.BatchLayout` put it.

  It compiles once per padded batch shape (a bucket), never per batch.
  """
  return jax.jit(make_train_step(task, tx, jax.random.key(config.seed + 1),
                                 config.compute_dtype),
                 in_shardings=(state_shardings, None),
                 out_shardings=(state_shardings, None), donate_argnums=0)


# ---------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: epath.PathLike
                       ) -> dict[str, float]:
  """Trains `config.task` until `num_train_steps` or early stopping; resumes if possible.

  Returns the metrics of the last evaluation.
  """
  workdir = checkpoint.workdir_path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  # A resumed run rebuilds its task from the checkpoint (e.g. the same vocabulary), and
  # so does a run that starts from another run's weights (fine-tuning).
  task_metadata = checkpoint.latest_task_metadata(workdir)
  source_variables = None
  if task_metadata is None and config.get("init_from"):
    source_task, source_variables, _ = checkpoint.restore_for_inference(config.init_from)
    task_metadata = source_task.metadata()
  task = get_task(config, task_metadata)
  mesh = sharding.create_mesh(config.mesh)
  layout = sharding.BatchLayout.of(config, mesh)
  sharding.check_divisible(config, mesh, ("batch_size", "eval_batch_size"))
  writer = metric_writers.create_default_writer(
      str(workdir), just_logging=jax.process_index() > 0, asynchronous=False)

  # -- Data ---------------------------------------------------------------
  pad, sort_key = task.padding()
  train_ds = pipeline.make_dataset(
      pipeline.load_components(config.data, config.data.train_split), config.data, pad=pad,
      sort_key=sort_key, split=config.data.train_split, batch_size=config.batch_size,
      train=True, seed=config.seed, fields=task.data_fields())
  train_iter = pipeline.make_iterator(train_ds, config.data)
  eval_ds = evaluate.eval_dataset(task, config, config.data.eval_split)

  # -- Model and optimizer ------------------------------------------------
  tx = state_lib.make_optimizer(config)
  state, state_shardings = state_lib.create_state(task, tx, mesh, config)
  num_params = sum(x.size for x in jax.tree.leaves(state.params))
  logging.info("Model %s: %.2fM parameters on mesh %s", config.model.name, num_params / 1e6,
               dict(mesh.shape))
  writer.write_hparams({k: v for k, v in _flat(config).items()
                        if isinstance(v, (int, float, str, bool))})

  # -- Restore ------------------------------------------------------------
  latest, best = checkpoint.managers(workdir, config, task.main_metric)
  progress = Progress()
  if latest.latest_step() is not None:
    step = latest.latest_step()
    state, meta = checkpoint.restore_latest(latest, state, train_iter)
    progress = Progress(**meta["progress"])
    logging.info("Resumed from step %d in %s", step, workdir)
    patience = config.early_stopping_patience
    if patience and progress.evals_without_improvement >= patience:
      # A rerun (a scheduler's retry) must not train on and replace the best checkpoint.
      logging.info("This run stopped early at step %d (best %s %.4g at step %d): nothing "
                   "to do", step, task.main_metric[0], progress.best_metric,
                   progress.best_step)
      return {}
  elif source_variables is not None:
    state = checkpoint.initialized_from(state, state_shardings, config.init_from,
                                       source_variables)
    logging.info("Initialised from the best checkpoint of %s", config.init_from)

  train_step = jit_train_step(task, tx, config, state_shardings)
  predict_fn = jax.jit(task.predict)

  def save(step: int, eval_metrics: dict[str, float] | None):
    meta = {"config": config.to_dict(), "task": task.metadata(),
            "progress": dataclasses.asdict(progress)}
    checkpoint.save(latest, best, step, state, train_iter, meta, eval_metrics)

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
        batch = layout.put(pipeline.host_batch(next(train_iter), pad))
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
        summary["learning_rate"] = state_lib.current_learning_rate(config, state.opt_state)
        writer.write_scalars(step, {f"train/{k}": v for k, v in summary.items()})
        logging.info("step %d: %s (%.1fs)", step,
                     ", ".join(f"{k}={v:.4g}" for k, v in summary.items()),
                     time.time() - last_log)
        last_log = time.time()

      is_last = step == config.num_train_steps
      if step % config.eval_every == 0 or is_last:
        with report.timed("eval"):
          eval_metrics, records = evaluate.run_evaluation(
              task, predict_fn, state.variables(), eval_ds, layout,
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


def _flat(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in config.items():
    if isinstance(v, ml_collections.ConfigDict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out
