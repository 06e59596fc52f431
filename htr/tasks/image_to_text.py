"""Line or word image -> text with an encoder-decoder (TrOCR-style): the Swin encoder and
the Transformer decoder of the math family, over a character vocabulary.

It is the seq2seq task with another label language: characters of the config's
alphabet instead of LaTeX tokens, text compared as written instead of normalised, and
the scores of every text reader (CER, WER, exact match; `text_scores`). Batches come
from the offline line pipeline (`line_image`, `encode_chars`): `inputs [B,H,W,1]` with
`input_lengths`, `tokens` = <bos> ids <eos> <pad>..., and the `text` predictions are
scored against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from htr.ink.records import as_text
from htr.tasks import base, seq2seq, signatures, text_scores
from htr.text.alphabet import Alphabet
from htr.text.vocabulary import SPECIALS, Vocabulary


class Task(seq2seq.Task):
  """Image-to-text recognition scored as text.

  Config fields used, besides the seq2seq task's: `alphabet` (the characters the
  decoder writes), `data.input_kind` and `data.pp_predict` (the exported signature
  reads user images as the CTC line models do).
  """

  main_metric = ("cer", "min")
  image_key, width_key = "inputs", "input_lengths"
  uncounted_tokens = frozenset(" ")  # Every character but the space is drawn.

  def build_vocabulary(self, metadata: dict[str, Any] | None) -> Vocabulary:
    """The checkpoint's characters, or (a new run) those of the config's alphabet."""
    if metadata and "vocab" in metadata:
      return Vocabulary(metadata["vocab"])
    return Vocabulary(SPECIALS + tuple(Alphabet.named(self.config.alphabet).chars))

  def canonical(self, text: str) -> str:
    return text

  def records(self, batch, outputs):
    return [text_scores.record(as_text(batch["id"][i]), as_text(batch["text"][i]), hyp, conf)
            for i, (hyp, conf) in enumerate(self.texts(outputs)) if batch["mask"][i]]

  def summarize(self, records):
    return text_scores.summarize(records)

  def worst(self, records, n):
    return text_scores.worst(records, n)

  def serving(self):
    """The image input half CTC line models use (htr/tasks/signatures/image.py: the
    host reads any picture into a line), then the encoder and the config's greedy or beam
    search in the graph.

    Lines are zero-padded on the right to `data.max_width`: the Swin encoder's windows
    need a static width (jax2tf cannot trace them over a polymorphic one), and padding
    does not change a prediction (the encoder masks padded columns).
    """
    signature = signatures.for_config(self.config)
    data = self.config.data
    height, width = data.height, data.max_width

    def prepare(value, where):
      example = signature.prepare(value, where)
      image = np.zeros((height, width), np.float32)
      image[:, :example["image"].shape[1]] = example["image"]
      return {"image": image, "widths": example["widths"]}

    def result(outputs):
      return {"text": outputs["text"].decode("utf-8"),
              "confidence": float(outputs["confidence"])}

    return base.Serving(
        kind=signature.kind, returns="text", accepts=signature.accepts,
        inputs={"image": ("float32", ("b", height, width)), "widths": ("int32", ("b",))},
        preprocess=signature.preprocess,
        batch_shapes={"inputs": f"(b, {height}, {width}, 1)", "input_lengths": "(b,)"},
        predict=self.predict_with_confidence, prepare=prepare, result=result,
        warm_up=lambda words: [{"image": np.zeros((height, width), np.float32),
                                "widths": np.int32(height)}],
        vocabulary=self.vocab.tokens, strings={"text": ("tokens", "token_lengths")},
        separator=self.vocab.separator, outputs={"confidence": "confidence"},
        settings={**signature.settings, "beam_width": self.config.decode.beam_width,
                  "length_alpha": self.config.decode.length_alpha},
        description=(
            f"image float32 [batch, {height}, {width}]: line images prepared by pp_predict "
            "(cropped to the ink, ink 1.0 on 0.0), zero-padded on the right to "
            f"{width}; widths int32 [batch]: each image's real width. Returns text string "
            "[batch] and confidence float32 [batch] (exp of the length-normalised "
            "log-probability of the text)."))
