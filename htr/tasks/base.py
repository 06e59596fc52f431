"""What the trainer needs from a problem family, and nothing more."""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
from etils import epath

from htr import inputs
from htr.data.bucketing import PadSpec

Batch = dict[str, Any]
Variables = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Serving:
  """How a task becomes a SavedModel (htr/export.py stays generic and reads only this).

  The exported signature runs `preprocess` (client input -> model batch), cuts
  the `trim` axes to the batch's longest item, runs `predict` on the restored
  variables, turns id outputs into strings with the vocabulary (`strings`) and
  returns `outputs` and the strings. `preprocess` and `predict` are jax.numpy
  functions, converted with jax2tf: no host callbacks, shapes static or
  polymorphic in the named dimensions. A new task exports by returning one of
  these from `Task.serving()` (see ctc.py and classify.py).

  Attributes:
    kind: what a client sends: "ink" (pen points) or "image" (pixels).
    inputs: signature inputs, name -> (dtype name, shape); a str dimension is
      polymorphic (a jax2tf dimension variable; "b" is the batch, shared by all).
    preprocess: inputs dict -> model batch dict (jnp, in the graph).
    batch_shapes: model batch key -> polymorphic shape string for `predict`.
    predict: (variables, batch) -> dict of arrays (jnp, in the graph).
    vocabulary: the string of every id of the `strings` outputs; an asset.
    strings: output name -> (ids key, lengths key or None): ids [B, L] become
      strings [B, L], or with lengths one string [B] per row, joined by `separator`.
    separator: between the joined strings ("" for characters, " " for LaTeX tokens).
    outputs: output name -> predict key (or `preprocess` key), for numeric outputs.
    trim: key -> lengths key: axis 1 of the batch (or of a predict output) is cut
      to the longest length in the batch, e.g. a fixed-size resampling buffer
      before the model, or per-frame padding after it.
    trim_multiple: batch axes cut by `trim` are rounded up to a multiple of this
      (and zero-padded): strided 'SAME' convolutions align their frames by the
      length's remainder, so a model trained on bucket lengths must see lengths
      with the same remainder.
    settings: JSON-able preprocessing settings, written to the metadata.
    description: one paragraph on the signature, for the metadata and README.

    prepare: (user input, where) -> one example: signature input name -> array without
      the batch axis (polymorphic axes may differ between examples: a server pads them).
    result: one example's outputs (name -> array without the batch axis) -> JSON-able
      response fields (text, confidence, top, ...), or {"error": why} for an input the
      model could not read whole.
    warm_up: (words) -> examples to compile with; `words` > 0 asks text models for
      lines of 1 to `words` words.
  """

  kind: str
  returns: str
  accepts: tuple[str, ...]
  inputs: dict[str, tuple[str, tuple[int | str, ...]]]
  preprocess: Callable[[dict[str, Any]], dict[str, Any]]
  batch_shapes: dict[str, str]
  predict: Callable[[Variables, dict[str, Any]], dict[str, Any]]
  prepare: Callable[[Any, str], dict[str, np.ndarray]]
  result: Callable[[dict[str, np.ndarray]], dict[str, Any]]
  warm_up: Callable[[int], list[dict[str, np.ndarray]]]
  vocabulary: tuple[str, ...] = ()
  strings: dict[str, tuple[str, str | None]] = dataclasses.field(default_factory=dict)
  separator: str = ""
  outputs: dict[str, str] = dataclasses.field(default_factory=dict)
  trim: dict[str, str] = dataclasses.field(default_factory=dict)
  trim_multiple: int = 1
  settings: dict[str, Any] = dataclasses.field(default_factory=dict)
  description: str = ""


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
    variables = self.model.init({"params": rng, "dropout": rng}, **self.model_inputs(batch),
                                train=False)
    # What a model sows (e.g. symbol counts for a loss) is output, not state to keep.
    return {k: v for k, v in variables.items() if k != "intermediates"}

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

  def save_artifacts(self, records: list[dict[str, Any]], directory: epath.Path, name: str
                     ) -> None:
    """Writes task-specific evaluation files (e.g. a confusion matrix) as `name.*`."""

  def worst(self, records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The n records to look at first in an evaluation report."""
    return records[:n]

  def metadata(self) -> dict[str, Any]:
    """JSON saved with every checkpoint and export (e.g. the alphabet); a restored task
    is constructed with it."""
    return {}

  # -- inference: what the `htr` command runs over a checkpoint -------------------
  @property
  def accepts(self) -> tuple[str, ...]:
    """The kinds of user input (htr/inputs.py) `prepare` reads: the config's
    `data.input_kind` by default."""
    return (self.config.data.input_kind,)

  def prepare(self, value: Any, where: str) -> dict[str, np.ndarray]:
    """One user input -> one model example (no batch axis), by the config's predict
    ops (`data.pp_predict`), fed the input under its kind's key ("ink" or "image")."""
    from htr.ink.records import ink_to_record
    kind = inputs.kind_of(value)
    example = {"id": where, kind: ink_to_record(value) if kind == "ink" else value}
    return self._predict_ops(example, np.random.default_rng(0))  # They draw nothing.

  @functools.cached_property
  def _predict_ops(self) -> Callable[[dict[str, Any], np.random.Generator], dict[str, Any]]:
    from htr.data import registry
    data = self.config.data
    return registry.build(data.pp_predict.format(**data, **self.data_fields()))

  @abc.abstractmethod
  def results(self, outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """`predict` outputs (host arrays) -> one JSON-able result per example: "text" and
    "confidence", and what else the task knows ("top" classes, ...)."""

  # -- export ---------------------------------------------------------------
  def serving(self) -> Serving:
    """The export hook: what the SavedModel's default signature takes and returns.

    Raises:
      NotImplementedError: for tasks that cannot be exported yet.
    """
    raise NotImplementedError(f"task {type(self).__module__} has no serving() export hook")
