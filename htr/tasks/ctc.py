"""Sequence -> text with CTC: pen-point sequences now, line images later."""

from __future__ import annotations

import importlib

import editdistance
import jax
import jax.numpy as jnp
import numpy as np
import optax

from htr import metrics
from htr.data.alphabet import BLANK, Alphabet
from htr.data.bucketing import PadSpec
from htr.decode import ctc as ctc_decode
from htr.tasks import base


def frames_needed(labels: jax.Array, label_lengths: jax.Array) -> jax.Array:
  """int32 `[B]`: the fewest frames CTC can align each label sequence to."""
  within = jnp.arange(1, labels.shape[1])[None] < label_lengths[:, None]
  repeats = jnp.sum((labels[:, 1:] == labels[:, :-1]) & within, axis=1)
  return label_lengths + repeats


class Task(base.Task):
  """CTC recognition: `inputs [B,T,F]` + `input_lengths` -> `labels [B,L]`.

  Config fields used: `alphabet`, `model` (name + kwargs), `data.buckets`,
  `data.max_label_length`, `len(data.features)`, `decode` (greedy or beam + LM).
  """

  main_metric = ("cer", "min")

  def __init__(self, config, metadata=None):
    super().__init__(config, metadata)
    # A restored task keeps the characters its weights were trained with, even if the
    # named alphabet has changed since.
    self.alphabet = (Alphabet(metadata["alphabet"]) if metadata
                     else Alphabet.named(config.alphabet))
    model_cfg = dict(config.model)
    module = importlib.import_module(f"htr.models.{model_cfg.pop('name')}")
    self.model = module.Model(num_classes=self.alphabet.num_classes, **model_cfg)
    self._lm = None

  def padding(self):
    data = self.config.data
    return ({"inputs": PadSpec(tuple(data.buckets), 0.0, "input_lengths"),
             "labels": PadSpec((data.max_label_length,), 0, "label_lengths")}, "inputs")

  def dummy_batch(self, batch_size):
    data = self.config.data
    return {"inputs": np.zeros((batch_size, data.buckets[0], len(data.features)), np.float32),
            "input_lengths": np.full((batch_size,), data.buckets[0], np.int32),
            "labels": np.zeros((batch_size, data.max_label_length), np.int32),
            "label_lengths": np.zeros((batch_size,), np.int32),
            "mask": np.ones((batch_size,), np.float32)}

  def model_inputs(self, batch):
    return {"inputs": batch["inputs"], "lengths": batch["input_lengths"]}

  def loss(self, params, model_state, batch, rng):
    (logits, lengths), updates = self.model.apply(
        {"params": params, **model_state}, **self.model_inputs(batch), train=True,
        rngs={"dropout": rng}, mutable=list(model_state))
    logit_pad = (jnp.arange(logits.shape[1])[None] >= lengths[:, None]).astype(jnp.float32)
    label_pad = (jnp.arange(batch["labels"].shape[1])[None]
                 >= batch["label_lengths"][:, None]).astype(jnp.float32)
    per_example = optax.ctc_loss(logits.astype(jnp.float32), logit_pad, batch["labels"],
                                 label_pad, blank_id=BLANK)
    # A label needing more frames than there are cannot be aligned (its loss is ~1e5 and
    # meaningless): each label and a blank between each pair of repeated labels.
    weight = batch["mask"] * (frames_needed(batch["labels"], batch["label_lengths"]) <= lengths)
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

  def records(self, batch, outputs):
    records = []
    for i, (hyp, conf) in enumerate(self.texts(outputs)):
      if not batch["mask"][i]:
        continue
      ref = self.alphabet.decode(batch["labels"][i][:batch["label_lengths"][i]])
      records.append({"id": str(batch["id"][i]), "reference": ref, "prediction": hyp,
                      "confidence": conf, "edits": editdistance.eval(ref, hyp),
                      "cer": editdistance.eval(ref, hyp) / max(len(ref), 1)})
    return records

  def summarize(self, records):
    refs = [r["reference"] for r in records]
    hyps = [r["prediction"] for r in records]
    return {"cer": float(metrics.CharacterErrorRate.from_strings(refs, hyps).compute()),
            "wer": float(metrics.WordErrorRate.from_strings(refs, hyps).compute()),
            "exact_match": float(metrics.ExactMatch.from_strings(refs, hyps).compute()),
            "num_examples": float(len(records))}

  def worst(self, records, n):
    return sorted(records, key=lambda r: (-r["cer"], -r["edits"]))[:n]

  def metadata(self):
    return {"alphabet": self.alphabet.chars}

  def serving(self):
    """Raw points -> text: `pp_predict` (jnp port) and greedy decoding in the graph.

    Beam search with an LM runs on the host and is not part of the export.
    """
    from htr.ink import preprocess_jax
    data = self.config.data
    spec = data.pp_predict.format(**data)
    # The resampling buffer: as long as the longest training bucket.
    max_points = max(data.buckets)
    prepare = jax.vmap(preprocess_jax.build(spec, max_points))

    def preprocess(inputs):
      features, lengths, cut = prepare(inputs["points"], inputs["lengths"])
      return {"inputs": features, "input_lengths": lengths, "points_cut": cut}

    return base.Serving(
        kind="ink",
        inputs={"points": ("float32", ("b", "n", 4)), "lengths": ("int32", ("b",))},
        preprocess=preprocess,
        batch_shapes={"inputs": f"(b, t, {len(data.features)})", "input_lengths": "(b,)"},
        predict=self.predict,
        vocabulary=("",) + tuple(self.alphabet.chars),  # Id 0 is the CTC blank.
        strings={"text": ("tokens", "token_lengths")},
        outputs={"char_scores": "token_scores", "num_chars": "token_lengths",
                 "confidence": "confidence", "points_cut": "points_cut"},
        trim={"inputs": "input_lengths", "token_scores": "token_lengths"},
        trim_multiple=getattr(self.model, "time_stride", 1),
        settings={"pp_predict": spec, "features": list(data.features),
                  "resample_spacing": data.resample_spacing, "max_points": max_points,
                  "alphabet": self.alphabet.chars, "decoder": "ctc_greedy"},
        description=(
            "points float32 [batch, num_points, 4]: x, y (any units, y down), t (seconds, "
            "relative) and stroke index (a new stroke wherever it changes); lengths int32 "
            "[batch]: real points per ink (>= 1), the rest is padding. Returns text string "
            "[batch], char_scores float32 [batch, max_chars] (mean probability of each "
            "character's frames, 0 past num_chars), num_chars int32 [batch], confidence "
            f"float32 [batch], points_cut int32 [batch]: resampled points past the "
            f"{max_points}-point buffer, not read (0 for all but absurdly long inks; "
            "htr serve refuses an ink with any)."))
