"""Any trained workdir, any input: the `htr` command's path through a checkpoint.

`Predictor` restores the best checkpoint once and runs user inputs (htr/inputs.py)
through the task's inference hooks: `Task.prepare` (the config's predict ops, the same
as evaluation's, without labels), the jitted `Task.predict`, and `Task.results`. It
knows no task: a character model, an ink recogniser and a math reader are the same
three calls. An export runs through `htr.serve.models.ServedModel`, which has the same
`accepts`, `prepare` and `run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from htr import checkpoint, inputs, sharding
from htr.data import pipeline
from htr.data.bucketing import collate
from htr.errors import InputError


class Predictor:
  """Loads the best checkpoint of a workdir once; predicts batches of user inputs.

  `decode` overrides fields of the config's `decode` section (e.g. a CTC model's
  `beam_width` and `lm_path`): how to decode is the caller's choice, the model is the
  checkpoint's. `model_axis` devices share each example by the config's sharding
  rules (online_ctc: a BiLSTM's two directions on two devices; offline_crnn: also a
  line's columns, by its batch sharding rules); the rest split the batch.
  """

  def __init__(self, workdir: str, *, decode: dict[str, Any] | None = None,
               model_axis: int | None = None):
    self.task, self.variables, self.config = checkpoint.restore_for_inference(
        workdir, model_axis=model_axis)
    overrides = {k: v for k, v in (decode or {}).items() if v is not None}
    if overrides:
      if "decode" not in self.config or set(overrides) - set(self.config.decode):
        known = sorted(self.config.decode) if "decode" in self.config else []
        raise InputError(f"the model (task {self.config.task!r}) has no decoding option "
                         f"{sorted(set(overrides) - set(known))}; it has {known}", path=workdir)
      self.config.decode.update(overrides)
    self.name = str(workdir)
    self._pad, _ = self.task.padding()
    self._predict = jax.jit(self.task.predict)
    self.layout = sharding.BatchLayout.of(self.config, sharding.create_mesh(self.config.mesh))

  @property
  def accepts(self) -> list[str]:
    return list(self.task.accepts)

  @property
  def returns(self) -> str:
    """What its results hold ("text", "class", "latex", "lines"), as its export's."""
    return self.task.serving().returns

  def prepare(self, value: inputs.Input, where: str) -> dict[str, np.ndarray]:
    """One user input -> one model example."""
    kind = inputs.kind_of(value)
    if kind not in self.task.accepts:
      raise InputError(f"the model (task {self.config.task!r}) reads "
                       f"{' or '.join(self.accepts)}, not {kind}", sample_id=where)
    return self.task.prepare(value, where)

  def run(self, examples: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Prepared examples -> one result dict each (text, confidence, ...)."""
    # Only model inputs are padded: inference examples carry no training targets.
    pad = {k: v for k, v in self._pad.items() if k in examples[0]}
    batch = pipeline.host_batch(collate(examples, pad, len(examples)), pad)
    outputs = jax.tree.map(np.asarray, self._predict(self.variables, self.layout.put(batch)))
    return self.task.results(outputs)

  def __call__(self, values: Sequence[inputs.Input], ids: Sequence[str] | None = None
               ) -> list[dict[str, Any]]:
    ids = list(ids) if ids is not None else [str(i) for i in range(len(values))]
    return self.run([self.prepare(v, i) for v, i in zip(values, ids, strict=True)])
