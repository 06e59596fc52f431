"""Sequence -> text with CTC, whatever the model reads: pen-point features `[B, T, F]`,
line images `[B, H, W, C]`: the config says the input's shape, a model file says the rest."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from htr import models
from htr.text.alphabet import BLANK, Alphabet
from htr.data.bucketing import PadSpec
from htr.decode import ctc as ctc_decode
from htr.tasks import base, signatures, text_scores


def frames_needed(labels: jax.Array, label_lengths: jax.Array) -> jax.Array:
  """int32 `[B]`: the fewest frames CTC can align each label sequence to."""
  within = jnp.arange(1, labels.shape[1])[None] < label_lengths[:, None]
  repeats = jnp.sum((labels[:, 1:] == labels[:, :-1]) & within, axis=1)
  return label_lengths + repeats


def alignable_ctc_loss(logits: jax.Array, frames: jax.Array, labels: jax.Array,
                       label_lengths: jax.Array, mask: jax.Array, *, blank: int
                       ) -> tuple[jax.Array, jax.Array]:
  """(CTC loss `[B]`, weight `[B]`: `mask`, and 0 where the label cannot be aligned).

  A label needing more frames than there are cannot be aligned (its loss is ~1e5 and
  meaningless): each label and a blank between each pair of repeated labels.
  """
  logit_pad = (jnp.arange(logits.shape[1])[None] >= frames[:, None]).astype(jnp.float32)
  label_pad = (jnp.arange(labels.shape[1])[None] >= label_lengths[:, None]).astype(jnp.float32)
  per_example = optax.ctc_loss(logits.astype(jnp.float32), logit_pad, labels, label_pad,
                               blank_id=blank)
  return per_example, mask * (frames_needed(labels, label_lengths) <= frames)


class Task(base.Task):
  """CTC recognition: `inputs` + `input_lengths` -> `labels [B,L]`.

  Config fields used: `alphabet`, `model` (name + kwargs), `data.input_shape` (one
  example's `inputs` shape with None on the padded axis: `(None, F)` for ink features,
  `(H, None, C)` for line images), `data.buckets` (that axis's padded sizes),
  `data.max_label_length`, `data.input_kind`, `data.pp_predict`, `decode` (greedy or
  beam + LM).
  """

  main_metric = ("cer", "min")

  def __init__(self, config, metadata=None):
    super().__init__(config, metadata)
    # A restored task keeps the characters its weights were trained with, even if the
    # named alphabet has changed since.
    self.alphabet = (Alphabet(metadata["alphabet"]) if metadata
                     else Alphabet.named(config.alphabet))
    self.model = models.build(config.model, num_classes=self.alphabet.num_classes)
    self._lm = None
    missing = [k for k in ("input_kind", "input_shape") if k not in config.data]
    if missing:  # Configs saved before CTC read images as well as ink.
      raise ValueError(f"config.data has no {' or '.join(missing)}: for ink, set "
                       "data.input_kind='ink' and data.input_shape=(None, "
                       "len(data.features)) (in a checkpoint's meta, or the config)")
    shape = tuple(config.data.input_shape)
    if shape.count(None) != 1:
      raise ValueError(f"data.input_shape {shape} must have one None: the padded axis")
    self._padded_axis = shape.index(None)

  def padding(self):
    data = self.config.data
    return ({"inputs": PadSpec(tuple(data.buckets), 0.0, "input_lengths",
                               axis=self._padded_axis),
             "labels": PadSpec((data.max_label_length,), 0, "label_lengths")}, "inputs")

  def dummy_batch(self, batch_size):
    data = self.config.data
    shape = [data.buckets[0] if d is None else d for d in data.input_shape]
    return {"inputs": np.zeros((batch_size, *shape), np.float32),
            "input_lengths": np.full((batch_size,), data.buckets[0], np.int32),
            "labels": np.zeros((batch_size, data.max_label_length), np.int32),
            "label_lengths": np.zeros((batch_size,), np.int32),
            "mask": np.ones((batch_size,), np.float32)}

  def model_inputs(self, batch):
    expected = tuple(self.config.data.input_shape)
    got = tuple(batch["inputs"].shape[1:])
    if len(got) != len(expected) or any(e not in (None, g) for e, g in zip(expected, got)):
      raise ValueError(f"batches have inputs of shape {got} per example, but "
                       f"data.input_shape is {expected}: set it to match the data's ops "
                       "(e.g. (None, len(data.features)) for ink)")
    return {"inputs": batch["inputs"], "lengths": batch["input_lengths"]}

  def loss(self, params, model_state, batch, rng):
    (logits, lengths), updates = self.model.apply(
        {"params": params, **model_state}, **self.model_inputs(batch), train=True,
        rngs={"dropout": rng}, mutable=list(model_state))
    per_example, weight = alignable_ctc_loss(
        logits, lengths, batch["labels"], batch["label_lengths"], batch["mask"], blank=BLANK)
    loss = jnp.sum(per_example * weight) / jnp.maximum(jnp.sum(weight), 1.0)
    return loss, (updates, {"loss": loss, "unalignable": jnp.sum(batch["mask"] - weight)})

  def predict(self, variables, batch):
    logits, lengths = self.model.apply(variables, **self.model_inputs(batch), train=False)
    out = ctc_decode.greedy_decode(logits, lengths, blank=BLANK)
    result = dict(zip(("tokens", "token_lengths", "token_scores", "confidence"), out))
    if self.config.decode.beam_width > 1:
      result.update(log_probs=jax.nn.log_softmax(logits.astype(jnp.float32)), frames=lengths)
    return result

  # -- host side ------------------------------------------------------------
  def _beam_texts(self, outputs) -> list[tuple[str, float]]:
    cfg = self.config.decode
    if cfg.lm_path and self._lm is None:
      from htr.decode.lm import CharNgramLM
      self._lm = CharNgramLM.load(cfg.lm_path)
    texts = []
    for lp, n in zip(outputs["log_probs"], outputs["frames"]):
      ids, score = ctc_decode.prefix_beam_search(
          lp[:n], beam_width=cfg.beam_width, blank=BLANK, lm=self._lm, alpha=cfg.lm_alpha,
          beta=cfg.lm_beta, id_to_char=self.alphabet.chars)[0]
      if self._lm is not None:  # The search's score adds LM terms: no longer a probability.
        score = ctc_decode.labelling_log_prob(lp[:n], ids, BLANK)
      texts.append((self.alphabet.decode(ids), float(np.exp(score / max(n, 1)))))
    return texts

  def texts(self, outputs) -> list[tuple[str, float]]:
    """(text, confidence) per example, by the configured decoder."""
    if self.config.decode.beam_width > 1:
      return self._beam_texts(outputs)
    hyps = self.alphabet.decode_batch(outputs["tokens"], outputs["token_lengths"])
    return list(zip(hyps, map(float, outputs["confidence"])))

  def results(self, outputs):
    """Text and confidence per example; with greedy decoding also each word's confidence
    (beam search scores whole lines only)."""
    texts = self.texts(outputs)
    if self.config.decode.beam_width > 1:
      return [{"text": text, "confidence": confidence} for text, confidence in texts]
    return [{"text": text, "confidence": confidence,
             "words": text_scores.words(text, scores[:n].tolist())}
            for (text, confidence), scores, n in zip(texts, outputs["token_scores"],
                                                     outputs["token_lengths"])]

  def records(self, batch, outputs):
    return [text_scores.record(str(batch["id"][i]), self.alphabet.decode(
                batch["labels"][i][:batch["label_lengths"][i]]), hyp, conf)
            for i, (hyp, conf) in enumerate(self.texts(outputs)) if batch["mask"][i]]

  def summarize(self, records):
    return text_scores.summarize(records)

  def worst(self, records, n):
    return text_scores.worst(records, n)

  def metadata(self):
    return {"alphabet": self.alphabet.chars}

  def serving(self):
    """The input half of the config's input kind (htr/tasks/signatures/), then the model
    and greedy decoding in the graph; ids become text with the alphabet.

    Beam search with an LM runs on the host and is not part of the export.
    """
    signature = signatures.for_config(self.config)

    def result(outputs):
      if (refusal := signature.check(outputs)) is not None:
        return {"error": refusal}
      text = outputs["text"].decode("utf-8")
      char_scores = outputs["char_scores"][:outputs["num_chars"]].tolist()
      return {"text": text, "confidence": float(outputs["confidence"]),
              "char_scores": char_scores, "words": text_scores.words(text, char_scores)}

    return base.Serving(
        kind=signature.kind, returns="text", accepts=signature.accepts,
        inputs=signature.inputs, preprocess=signature.preprocess,
        batch_shapes=signature.batch_shapes, predict=self.predict,
        prepare=signature.prepare, result=result, warm_up=signature.warm_up,
        vocabulary=("",) + tuple(self.alphabet.chars),  # Id 0 is the CTC blank.
        strings={"text": ("tokens", "token_lengths")},
        outputs={"char_scores": "token_scores", "num_chars": "token_lengths",
                 "confidence": "confidence", **signature.outputs},
        trim={**signature.trim, "token_scores": "token_lengths"},
        trim_multiple=getattr(self.model, "time_stride", 1),
        settings={**signature.settings, "alphabet": self.alphabet.chars,
                  "decoder": "ctc_greedy"},
        description=(
            signature.description + " Returns text string [batch], char_scores float32 "
            "[batch, max_chars] (mean probability of each character's frames, 0 past "
            "num_chars), num_chars int32 [batch] and confidence float32 [batch]."))
