"""What the trainer needs from a problem family, and nothing more."""

from __future__ import annotations

import abc
from typing import Any

import jax
import ml_collections
import numpy as np

from htr.data.bucketing import PadSpec

Batch = dict[str, Any]
Variables = dict[str, Any]


class Task(abc.ABC):
  """A model, its loss, its decoder and its metrics over a batch dictionary.

  The trainer (htr/train.py) never looks inside batches or outputs: it asks the
  task. A new problem family is a new subclass in its own file.

  Attributes:
    config: the whole experiment config.
    model: the flax module.
    main_metric: (name, "min" | "max"): early stopping and the best checkpoint.
  """

  main_metric: tuple[str, str] = ("loss", "min")

  def __init__(self, config: ml_collections.ConfigDict, metadata: dict[str, Any] | None = None):
    """`metadata`: what `metadata()` returned when a checkpoint was saved (None: a new run)."""
    self.config = config

  # -- input --------------------------------------------------------------
  @abc.abstractmethod
  def padding(self) -> tuple[dict[str, PadSpec], str]:
    """How batches are padded, and the key whose length they are sorted by (or None)."""

  @abc.abstractmethod
  def dummy_batch(self, batch_size: int) -> Batch:
    """A batch of the smallest shapes, for initialising parameters."""

  def data_fields(self) -> dict[str, Any]:
    """Extra `{name}` fields for the config's op specs, known only to the task (e.g. the
    vocabulary built from the training labels)."""
    return {}

  # -- model --------------------------------------------------------------
  def init(self, rng: jax.Array, batch: Batch) -> Variables:
    return self.model.init({"params": rng, "dropout": rng}, **self.model_inputs(batch),
                           train=False)

  @abc.abstractmethod
  def model_inputs(self, batch: Batch) -> dict[str, Any]:
    """The model's keyword arguments taken from a batch."""

  @abc.abstractmethod
  def loss(self, params, model_state, batch: Batch, rng: jax.Array
           ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
    """Training loss -> (loss, (new model_state, scalar metrics))."""

  @abc.abstractmethod
  def predict(self, variables: Variables, batch: Batch) -> dict[str, jax.Array]:
    """Inference outputs on device (jitted by the trainer)."""

  # -- evaluation (host) ----------------------------------------------------
  @abc.abstractmethod
  def records(self, batch: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
              ) -> list[dict[str, Any]]:
    """One JSON-able record per real (unmasked) example: id, target, prediction, ..."""

  @abc.abstractmethod
  def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
    """Corpus-level metrics from all records of an evaluation."""

  def save_artifacts(self, records: list[dict[str, Any]], directory: str, name: str) -> None:
    """Writes task-specific evaluation files (e.g. a confusion matrix) as `name.*`."""

  def worst(self, records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The n records to look at first in an evaluation report."""
    return records[:n]

  def metadata(self) -> dict[str, Any]:
    """JSON saved with every checkpoint and export (e.g. the alphabet); a restored task
    is constructed with it."""
    return {}
