"""Tasks: one file per problem family; `config.task` names the module."""

from __future__ import annotations

import importlib
from typing import Any

import ml_collections

from htr.tasks.base import Task


def get_task(config: ml_collections.ConfigDict, metadata: dict[str, Any] | None = None
             ) -> Task:
  """Instantiates `htr.tasks.<config.task>.Task` (adding a task is adding a file).

  `metadata`: the task's `metadata()` saved in a checkpoint, to rebuild that task.
  """
  module = importlib.import_module(f"htr.tasks.{config.task}")
  return module.Task(config, metadata)
