"""Tasks: one file per problem family; `config.task` names it.

`config.task` is `"ctc"` (htr/tasks/ctc.py's `Task`), or `"package.module"` /
`"package.module:Class"` for a task that lives outside htr: a new family is new files
(task, model, config), found by name, never an edit to the trainer, the exporter, the
`htr` command or the server.
"""

from __future__ import annotations

import importlib
from typing import Any

import ml_collections

from htr.tasks.base import Serving, Task

__all__ = ["Serving", "Task", "get_task"]


def get_task(config: ml_collections.ConfigDict, metadata: dict[str, Any] | None = None
             ) -> Task:
  """Instantiates the task `config.task` names.

  `metadata`: the task's `metadata()` saved in a checkpoint or an export, to rebuild
  that task (its vocabulary, its input shape) rather than a new one.
  """
  name = config.task
  module, colon, cls = name.partition(":")
  if not colon and "." not in module:
    module = f"htr.tasks.{module}"
  try:
    task_class = getattr(importlib.import_module(module), cls or "Task")
  except (ModuleNotFoundError, AttributeError) as e:
    if isinstance(e, ModuleNotFoundError) and not module.startswith(e.name or "?"):
      raise  # The task's own module failed to import something: not a naming error.
    raise ValueError(f"unknown task {name!r} ({e}); use a module of htr/tasks or "
                     "'package.module[:Class]'") from None
  return task_class(config, metadata)
