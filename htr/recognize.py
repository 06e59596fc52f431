"""Recognise ink files with a trained workdir (any task with `texts`: CTC text, seq2seq
LaTeX): the same ops as evaluation, no labels."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import jax
import numpy as np

from htr.data import pipeline, registry
from htr.data.bucketing import collate
from htr.errors import InputError
from htr.ink.ink import Ink
from htr.ink.records import ink_to_record


@dataclasses.dataclass(frozen=True)
class Recognition:
  """One recognised line.

  Attributes:
    text: the decoded text.
    confidence: in [0, 1]; from the decoder's path probability.
  """

  text: str
  confidence: float


def read_ink(path: str | os.PathLike) -> Ink:
  """An ink file by its content: W3C InkML or an IAM-OnDB line XML."""
  from htr.ink import iam_ondb, inkml
  from htr.ink.xml_source import utf16_as_utf8
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise InputError("no such file", path=path)
  with open(path, "rb") as f:
    head = f.read(4096)
  head = utf16_as_utf8(head)
  if b"<WhiteboardCaptureSession" in head:
    return iam_ondb.read_line_strokes(path)
  if b"<ink" in head:
    return inkml.read_inkml(path).ink
  raise InputError("not an ink file: expected InkML (<ink>) or IAM-OnDB line XML "
                   "(<WhiteboardCaptureSession>)", path=path)


class Recognizer:
  """Loads the best checkpoint of a workdir once; recognises batches of inks.

  `model_axis` devices share each example, by the config's sharding rules (online_ctc:
  a BiLSTM's two directions on two devices, which on a CPU with one device per core
  recognises a line in about two thirds of the time); the rest split the batch.
  """

  def __init__(self, workdir: str, *, beam_width: int | None = None,
               lm_path: str | None = None, model_axis: int = 1):
    from htr.train import restore_for_inference
    self.task, self.variables, self.config = restore_for_inference(workdir,
                                                                   model_axis=model_axis)
    if not hasattr(self.task, "texts"):
      raise InputError(f"the workdir's model is for task {self.config.task!r}, which reads "
                       "no ink into text (htr classify reads character images)", path=workdir)
    if beam_width is not None:
      self.config.decode.beam_width = beam_width
    if lm_path is not None:
      self.config.decode.lm_path = lm_path
    data = self.config.data
    self._preprocess = registry.build(data.pp_predict.format(**data))
    self._pad, _ = self.task.padding()
    self._predict = jax.jit(self.task.predict)

  def __call__(self, inks: Sequence[Ink], ids: Sequence[str] | None = None
               ) -> list[Recognition]:
    ids = list(ids) if ids is not None else [str(i) for i in range(len(inks))]
    rng = np.random.default_rng(0)  # Unused by inference ops; the API needs one.
    examples = [self._preprocess({"id": i, "ink": ink_to_record(ink)}, rng)
                for i, ink in zip(ids, inks)]
    # Only model inputs are padded: inference examples carry no training targets.
    pad = {k: v for k, v in self._pad.items() if k in examples[0]}
    batch = collate(examples, pad, len(examples))
    inputs = pipeline.host_batch(batch, pad)
    outputs = jax.tree.map(np.asarray, self._predict(self.variables, inputs))
    return [Recognition(text, conf) for text, conf in self.task.texts(outputs)]
