"""Tasks: one file per problem family; `config.task` names the module."""

from __future__ import annotations

import importlib

import ml_collections

from htr.tasks.base import Task


def get_task(config: ml_collections.ConfigDict) -> Task:
  """Instantiates `htr.tasks.<config.task>.Task` (adding a task is adding a file)."""
  module = importlib.import_module(f"htr.tasks.{config.task}")
  return module.Task(config)
