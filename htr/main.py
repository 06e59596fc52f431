"""Entry point: flags and one call (big_vision / Flax examples style).

  python -m htr.main --config=configs/online_ctc.py:data=synthetic --workdir=/tmp/run
  python -m htr.main --config=... --workdir=/tmp/run --mode=eval --split=test
  python -m htr.main --workdir=/tmp/run --mode=export [--export_dir=/tmp/run/export]
"""

from __future__ import annotations

import logging as std_logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Before TensorFlow loads (via TFDS).

from absl import app, flags, logging
from ml_collections import config_flags

from htr import xla_cache

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file[:args].",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, logs and reports go here.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval", "export"],
                          "train (resumes if the workdir has checkpoints), eval or export "
                          "(SavedModels; the config comes from the checkpoint).")
_SPLIT = flags.DEFINE_string("split", None, "eval: the split (default: config.data.eval_split).")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "checkpoints"],
                                "eval, export: the best checkpoint or the latest one.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None,
    "Multi-host: host:port of process 0 (otherwise discovered on TPU/SLURM).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: process count.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's index.")
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "export: output (default WORKDIR/export).")
_EXPORT_WEIGHTS = flags.DEFINE_list("export_weights", ["float32", "bfloat16", "int8"],
                                    "export: weight formats, one SavedModel each.")
_XLA_CACHE = flags.DEFINE_string(
    "xla_cache", xla_cache.DEFAULT_DIR,
    "Persistent XLA compilation cache (htr/xla_cache.py); '' turns it off. "
    "JAX_COMPILATION_CACHE_DIR, if set, wins.")
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", None, "CPU devices for JAX (default: JAX's, one). One per core trains "
    "data-parallel over the cores, ~14 % faster for the seed model on 2 cores.")
flags.mark_flags_as_required(["workdir"])


class _QuietLibraries:
  """Hides the INFO chatter of orbax, TFDS and XLA start-up, keeping htr's own lines."""

  _NOISY = ("/orbax/", "/tensorflow_datasets/", "/jax/_src/xla_bridge", "/clu/metric_writers/")

  def filter(self, record) -> bool:
    return record.levelno > std_logging.INFO or not any(n in record.pathname for n in self._NOISY)


def main(argv):
  del argv
  logging.get_absl_handler().python_handler.addFilter(_QuietLibraries())
  import jax  # After flag parsing, so XLA_FLAGS set by launch scripts apply.
  from htr import sharding
  sharding.set_cpu_devices(_CPU_DEVICES.value)

  xla_cache.enable(_XLA_CACHE.value)

  # Under SLURM, only a multi-task `srun` step is a distributed job (an `salloc` shell
  # or a one-task step also has SLURM_JOB_ID, but nothing to connect to).
  slurm_tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS", os.environ.get("SLURM_NTASKS", "1")))
  if _COORDINATOR.value or slurm_tasks > 1 or os.environ.get("TPU_NAME"):
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  logging.info("JAX process %d/%d, %d local / %d global devices", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())

  if _MODE.value == "export":
    from htr import export
    export.export(_WORKDIR.value, _EXPORT_DIR.value, tuple(_EXPORT_WEIGHTS.value),
                  which=_CHECKPOINT.value)
    return
  if _CONFIG.value is None:
    raise app.UsageError("--config is required to train or evaluate")
  if _MODE.value == "train":
    from htr import train
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  else:
    from htr import evaluate
    evaluate.evaluate(_CONFIG.value, _WORKDIR.value, split=_SPLIT.value,
                      which=_CHECKPOINT.value)


if __name__ == "__main__":
  app.run(main)
