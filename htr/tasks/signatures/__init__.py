"""The input halves of exported signatures, one file per kind of user input.

A task that reads a kind of input (CTC over ink today, over line images next) takes
the input half of its SavedModel signature from `htr/tasks/signatures/<kind>.py`, and
adds its own output half: a new input kind is a new file here.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

import ml_collections
import numpy as np


@dataclasses.dataclass(frozen=True)
class SignatureInput:
  """What a client sends and what the graph makes of it (see `tasks.base.Serving`).

  Attributes:
    kind: what the signature takes ("ink", "image").
    accepts: the kinds of user input `prepare` reads.
    inputs: signature inputs, name -> (dtype name, shape with polymorphic str dims).
    preprocess: inputs dict -> model batch dict (jnp, in the graph).
    batch_shapes: model batch key -> polymorphic shape string.
    prepare: (user input, where) -> one example of `inputs` (host).
    warm_up: (words) -> examples of the shapes requests will bring.
    trim: model batch key -> lengths key (cut to the batch's longest).
    outputs: output name -> preprocess key, numeric outputs of the input half.
    check: one example's outputs -> why it cannot be answered, or None.
    settings: JSON-able settings for the export's metadata.
    description: the inputs' part of the signature's description.
  """

  kind: str
  accepts: tuple[str, ...]
  inputs: dict[str, tuple[str, tuple[int | str, ...]]]
  preprocess: Callable[[dict[str, Any]], dict[str, Any]]
  batch_shapes: dict[str, str]
  prepare: Callable[[Any, str], dict[str, np.ndarray]]
  warm_up: Callable[[int], list[dict[str, np.ndarray]]]
  trim: dict[str, str] = dataclasses.field(default_factory=dict)
  outputs: dict[str, str] = dataclasses.field(default_factory=dict)
  check: Callable[[dict[str, np.ndarray]], str | None] = lambda outputs: None
  settings: dict[str, Any] = dataclasses.field(default_factory=dict)
  description: str = ""


def for_config(config: ml_collections.ConfigDict) -> SignatureInput:
  """The input half for `config.data.input_kind` (htr/tasks/signatures/<kind>.py)."""
  kind = config.data.input_kind
  try:
    module = importlib.import_module(f"htr.tasks.signatures.{kind}")
  except ModuleNotFoundError:
    raise ValueError(f"no exported signature reads input kind {kind!r} "
                     "(htr/tasks/signatures/)") from None
  return module.signature_input(config)
