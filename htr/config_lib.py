"""Helpers for configs/*.py: argument strings and the trainer defaults every config has."""

from __future__ import annotations

import ast
import importlib.util
import os
from types import ModuleType
from typing import Any

import ml_collections
from ml_collections import config_dict


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
  """`"data=iam_ondb,size=small,runlocal"` -> ConfigDict over `defaults`.

  A bare key means True; values are Python literals when they parse as one,
  strings otherwise. Unknown keys are an error (a typo must not be ignored).
  """
  result = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    key = key.strip()
    if key not in defaults:
      raise ValueError(f"unknown config argument {key!r}; known: {sorted(defaults)}")
    if not _:
      result[key] = True
      continue
    if isinstance(defaults[key], bool):
      result[key] = _boolean(key, value)
      continue
    try:
      result[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      result[key] = value
  return result


def _boolean(key: str, value: str) -> bool:
  """`true`/`false` in any case, or 1/0; anything else is an error (bool("false") is True)."""
  spelled = value.strip().lower()
  if spelled in ("true", "1"):
    return True
  if spelled in ("false", "0"):
    return False
  raise ValueError(f"config argument {key}={value!r} is not a boolean (true/false, 1/0)")


def sibling(config_file: str, name: str) -> ModuleType:
  """configs/NAME.py beside `config_file`, as a module: for a config built on another's
  parts (configs are files loaded by path, not a package one could import)."""
  path = os.path.join(os.path.dirname(os.path.abspath(config_file)), f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"htr_configs.{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def trainer_defaults(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Fields of htr/train.py that every experiment has (callers override)."""
  config.seed = 0                    # Parameter init, dropout and data order.
  config.num_train_steps = 10_000    # Optimizer steps.
  config.batch_size = 32             # Global train batch (all processes, all devices).
  config.eval_batch_size = 64        # Global eval batch.
  config.log_every = 50              # Steps between train-metric logs.
  config.eval_every = 1000           # Steps between evaluations (also checkpoints).
  config.eval_max_batches = config_dict.placeholder(int)  # At most this many eval batches.
  config.checkpoint_every = 500      # Steps between checkpoints without evaluation.
  config.keep_checkpoints = 3        # Latest checkpoints kept for resuming.
  config.init_from = config_dict.placeholder(str)  # Fine-tune: start from this workdir's best.
  config.early_stopping_patience = 0  # Stop after N evals without improvement (0: never).
  config.profile = False             # Write a profiler trace of a few steps to the workdir.
  config.mesh = (("data", -1), ("model", 1))  # Device mesh; -1: all remaining devices.
  config.sharding_rules = ()         # (param-path regex, PartitionSpec tuple); else replicated.
  config.batch_sharding_rules = ()   # (batch-key regex, PartitionSpec tuple); else over "data".
  config.compute_dtype = "float32"   # "bfloat16": mixed precision (parameters stay float32).

  config.optimizer = ml_collections.ConfigDict()
  opt = config.optimizer
  opt.learning_rate = 1e-3           # Peak learning rate.
  opt.schedule = "cosine"            # "cosine" (warmup + cosine) or "plateau".
  opt.warmup_steps = 500             # Linear warmup from 0.
  opt.final_lr_fraction = 0.01       # Cosine ends at learning_rate * this.
  opt.weight_decay = 1e-4            # AdamW decoupled weight decay.
  opt.b1 = 0.9                       # Adam beta1.
  opt.b2 = 0.999                     # Adam beta2.
  opt.grad_clip_norm = 5.0           # Global-norm gradient clipping.
  opt.accumulate_steps = 1           # >1: average gradients of this many steps per update.
  opt.plateau_factor = 0.5           # "plateau": multiply the LR by this on a plateau...
  opt.plateau_patience = 500         # ...after this many steps without loss improvement...
  opt.plateau_accumulation = 50      # ...of the loss averaged over this many steps,
  opt.plateau_min_scale = 0.01       # down to this fraction of the peak LR.
  return config


def dataset(name: str, train_split: str, eval_split: str, test_split: str
            ) -> ml_collections.ConfigDict:
  """The `config.data` fields that say where examples come from (callers add the rest)."""
  data = ml_collections.ConfigDict()
  data.name = name                    # TFDS name (datasets/ holds htr's builders).
  data.data_dir = config_dict.placeholder(str)  # TFDS data dir (None: ~/tensorflow_datasets).
  data.manual_dir = config_dict.placeholder(str)  # Downloaded files, for datasets that need them.
  data.train_split = train_split      # Split trained on.
  data.eval_split = eval_split        # Split evaluated during training (early stopping).
  data.test_split = test_split        # Split for final reports (--mode=eval --split=...).
  return data


def ctc_decode() -> ml_collections.ConfigDict:
  """`config.decode` of CTC models: greedy in the graph, or prefix beam search + LM."""
  decode = ml_collections.ConfigDict()
  decode.beam_width = 1               # 1: greedy (in the jitted graph); >1: prefix beam search.
  decode.lm_path = config_dict.placeholder(str)  # Char n-gram LM file for the beam.
  decode.lm_alpha = 0.5               # LM weight.
  decode.lm_beta = 1.0                # Insertion bonus per character.
  return decode


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Two steps with batches of 8 and one eval batch: laptops and the tests."""
  config.num_train_steps = 2
  config.batch_size = 8
  config.eval_batch_size = 8
  config.log_every = 1
  config.eval_every = 2
  config.eval_max_batches = 1
  config.optimizer.warmup_steps = 1
  return config
