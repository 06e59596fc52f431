"""The train state and everything needed to build it: optimizer, schedules, sharded init.

Training builds a real state; restoring a checkpoint (htr/checkpoint.py) builds only its
abstract shape and shardings from the same functions, so both always agree.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from htr import sharding
from htr.tasks import Task


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
# Sharded state creation.
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
