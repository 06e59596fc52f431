"""Image -> token sequence with an encoder-decoder: math ink rendered to an image -> LaTeX
here; `htr/tasks/image_to_text.py` reads lines of text with the same machinery.

Batch keys (see configs/math_swin.py): `image [B,H,W,1]` with `image_width`, `tokens
[B,L]` = <bos> ids <eos> <pad>... with `token_lengths`, `mask`, and on the host `id`
and the LaTeX `label` that predictions are scored against.

The vocabulary is built from the training labels when a run starts and saved in
every checkpoint (`metadata`); a restored task is built from that saved copy, so a
model is always decoded with the ids it was trained on.
"""

from __future__ import annotations

import logging
from typing import Any

import editdistance
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from htr import metrics, models
from htr.errors import InputError
from htr.text import latex
from htr.text.vocabulary import BOS, EOS, PAD, SPECIALS, Vocabulary
from htr.data.bucketing import PadSpec
from htr.decode import seq2seq as search
from htr.ink.records import as_text
from htr.tasks import base
from htr.tasks.classify import cross_entropy
from htr.tasks.ctc import alignable_ctc_loss


def vocabulary_from_training_labels(config: ml_collections.ConfigDict) -> latex.Vocabulary:
  """The tokens of `config.data.label_key` over the train split (min_count filtered).

  `data.vocab_name`, when set, names the dataset whose train split's labels are used
  instead: a curriculum's first stage takes the vocabulary of the last, so the stages
  chain through `init_from` with the same ids.
  """
  from htr.data import pipeline
  data = config.data
  name = data.get("vocab_name") or data.name
  split = "train" if data.get("vocab_name") else data.train_split
  source = pipeline.load_source(name, split, data_dir=data.data_dir,
                                manual_dir=data.manual_dir)
  labels = (as_text(source[i][data.label_key]) for i in range(len(source)))
  vocab = latex.Vocabulary.from_labels(labels, min_count=config.vocab_min_count)
  logging.info("Vocabulary of %d tokens from %d %s/%s labels", len(vocab), len(source),
               name, split)
  return vocab


def _sown(intermediates: dict[str, Any], name: str, model_flag: str) -> Any:
  """What the model sowed as `name` for an auxiliary loss; a clear error if it has no
  such head."""
  if name not in intermediates:
    raise ValueError(f"this auxiliary loss needs the model's {name} "
                     f"(config.model.{model_flag} = True)")
  return intermediates[name][0]


class Task(base.Task):
  """Sequence-to-sequence recognition scored on normalised LaTeX.

  The model (`config.model.name` under htr/models) has `__call__` (teacher forcing),
  `encode`, `init_cache` and `decode_step`, as htr/models/transformer_decoder.Model.
  Config fields used: `model`, `data.image_height`,
  `data.width_buckets`, `data.max_tokens`, `data.label_key`, `vocab_min_count`,
  `label_smoothing`, `count_loss_weight`, `ctc_loss_weight` and `symbol_map_loss_weight`
  (auxiliary losses on the encoder, with `model.count_symbols` / `model.ctc_symbols` /
  `model.map_symbols`; the last needs `data.symbol_stride` and the `symbol_map` op),
  `decode` (beam_width, length_alpha).
  """

  main_metric = ("token_cer", "min")
  # Batch keys of the image and its real width (a subclass reading `line_image`'s
  # output names them `inputs` and `input_lengths`, as CTC line models do).
  image_key, width_key = "image", "image_width"
  # Label tokens with no glyph of their own, left out of the auxiliary losses (counting,
  # CTC) that teach the encoder which symbols it shows.
  uncounted_tokens = latex.LAYOUT_TOKENS

  def __init__(self, config, metadata: dict[str, Any] | None = None):
    super().__init__(config, metadata)
    self.vocab = self.build_vocabulary(metadata)
    self.model = models.build(config.model, vocab_size=len(self.vocab))
    # float32 [V]: 1 for the tokens that draw a symbol (not specials or layout).
    self.counted = np.array([t not in SPECIALS and t not in self.uncounted_tokens
                             for t in self.vocab.tokens], np.float32)

  # -- labels: what a subclass reading another language overrides ----------
  def build_vocabulary(self, metadata: dict[str, Any] | None) -> Vocabulary:
    """The checkpoint's vocabulary, or (a new run) LaTeX tokens of the training labels."""
    if metadata and "vocab" in metadata:
      return latex.Vocabulary(metadata["vocab"])
    return vocabulary_from_training_labels(self.config)

  def canonical(self, text: str) -> str:
    """The form references and predictions are compared in: normalised LaTeX."""
    return latex.normalize(text)

  # -- input --------------------------------------------------------------
  def padding(self):
    data = self.config.data
    pad = {self.image_key: PadSpec(tuple(data.width_buckets), 0.0, self.width_key, axis=1),
           "tokens": PadSpec((data.max_tokens,), PAD, "token_lengths")}
    if self.config.get("symbol_map_loss_weight", 0.0):  # Cells past the image: -1, unscored.
      stride = data.symbol_stride
      pad["symbol_map"] = PadSpec(tuple(-(-b // stride) for b in data.width_buckets), -1,
                                  axis=1)
    return pad, self.image_key

  def dummy_batch(self, batch_size):
    data = self.config.data
    width = data.width_buckets[0]
    return {self.image_key: np.zeros((batch_size, data.image_height, width, 1), np.float32),
            self.width_key: np.full((batch_size,), width, np.int32),
            "tokens": np.zeros((batch_size, data.max_tokens), np.int32),
            "token_lengths": np.zeros((batch_size,), np.int32),
            "mask": np.ones((batch_size,), np.float32)}

  def data_fields(self):
    return {"vocab": self.vocab.tokens}

  def model_inputs(self, batch):
    return {"image": batch[self.image_key], "image_width": batch[self.width_key],
            "tokens": batch["tokens"][:, :-1]}

  # -- training -------------------------------------------------------------
  def loss(self, params, model_state, batch, rng):
    count_weight = self.config.get("count_loss_weight", 0.0)
    ctc_weight = self.config.get("ctc_loss_weight", 0.0)
    map_weight = self.config.get("symbol_map_loss_weight", 0.0)
    auxiliary = count_weight or ctc_weight or map_weight
    logits, updates = self.model.apply(
        {"params": params, **model_state}, **self.model_inputs(batch), train=True,
        rngs={"dropout": rng},  # model_state: e.g. a conv encoder's BatchNorm.
        mutable=list(model_state) + (["intermediates"] if auxiliary else []))
    targets = batch["tokens"][:, 1:]
    weight = (targets != PAD) * batch["mask"][:, None]
    per_token = cross_entropy(logits, targets, self.config.label_smoothing)
    total = jnp.maximum(jnp.sum(weight), 1.0)
    token_loss = jnp.sum(per_token * weight) / total
    accuracy = jnp.sum((jnp.argmax(logits, -1) == targets) * weight) / total
    scalars = {"token_loss": token_loss, "token_accuracy": accuracy}
    loss = token_loss
    sown = updates.pop("intermediates", {})
    if count_weight:
      counts = _sown(sown, "symbol_counts", "count_symbols")
      scalars["count_loss"] = self.count_loss(counts, targets, weight)
      loss = loss + count_weight * scalars["count_loss"]
    if ctc_weight:
      ctc_logits, frames = _sown(sown, "symbol_ctc", "ctc_symbols")
      scalars["ctc_loss"], scalars["ctc_unalignable"] = self.ctc_loss(
          ctc_logits, frames, targets, weight)
      loss = loss + ctc_weight * scalars["ctc_loss"]
    if map_weight:
      if "symbol_map" not in batch:
        raise ValueError("symbol_map_loss_weight needs batches with a `symbol_map` (the "
                         "symbol_map op in data.pp_train)")
      map_logits, cells = _sown(sown, "symbol_map", "map_symbols")
      scalars["symbol_map_loss"], scalars["symbol_map_accuracy"] = self.symbol_map_loss(
          map_logits, cells, batch["symbol_map"], batch["mask"])
      loss = loss + map_weight * scalars["symbol_map_loss"]
    return loss, (updates, {"loss": loss, **scalars})

  @staticmethod
  def symbol_map_loss(logits: jax.Array, cells: jax.Array, target: jax.Array,
                      mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(Cross-entropy per cell of the image, accuracy on the cells that show ink):
    `logits [B, H', W', V]` over the encoder's grid, `target [B, h, w]` the symbol_map
    op's (-1: past the image), cut or padded across to the grid's width (which may be
    padded further to whole attention windows)."""
    h, w = logits.shape[1:3]
    if target.shape[1] != h:
      raise ValueError(f"symbol maps of {target.shape[1]} rows for an encoder grid of {h}:"
                       " data.symbol_stride must be the encoder's stride")
    target = target[:, :, :w]
    target = jnp.pad(target, ((0, 0), (0, 0), (0, w - target.shape[2])), constant_values=-1)
    scored = (target >= 0) & cells & (mask[:, None, None] > 0)
    per_cell = cross_entropy(logits, jnp.maximum(target, 0), 0.0)
    loss = jnp.sum(per_cell * scored) / jnp.maximum(jnp.sum(scored), 1)
    inked = scored & (target != PAD)
    right = (jnp.argmax(logits, -1) == target) & inked
    return loss, jnp.sum(right) / jnp.maximum(jnp.sum(inked), 1)

  def count_loss(self, counts: jax.Array, targets: jax.Array, weight: jax.Array
                 ) -> jax.Array:
    """Smooth L1 between predicted and true per-token counts of the drawn symbols, summed
    over the vocabulary and divided by the symbols in the batch (a per-symbol loss, on
    the scale of the per-token cross-entropy)."""
    counted = self.counted
    true = jnp.einsum("blv,bl->bv", jax.nn.one_hot(targets, len(self.vocab)), weight) * counted
    error = optax.huber_loss(counts * counted, true)
    return jnp.sum(error * weight[:, :1]) / jnp.maximum(jnp.sum(true), 1.0)

  def ctc_loss(self, logits: jax.Array, frames: jax.Array, targets: jax.Array,
               weight: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(CTC loss per drawn symbol, in label order, over the grid's cells; examples it
    cannot align). Layout tokens are left out: a cell shows a symbol, not a brace."""
    drawn = (jnp.asarray(self.counted)[targets] * weight) > 0
    order = jnp.argsort(~drawn, axis=1, stable=True)  # Drawn symbols first, in order.
    labels = jnp.where(jnp.take_along_axis(drawn, order, 1),
                       jnp.take_along_axis(targets, order, 1), PAD)
    lengths = jnp.sum(drawn, axis=1).astype(jnp.int32)
    scored = weight[:, 0] * (lengths > 0)  # Real examples with a symbol to align.
    per_example, aligned = alignable_ctc_loss(
        logits, jnp.sum(frames, axis=1).astype(jnp.int32), labels, lengths, scored, blank=PAD)
    loss = jnp.sum(per_example * aligned) / jnp.maximum(jnp.sum(lengths * aligned), 1.0)
    return loss, jnp.sum(scored - aligned)

  # -- inference ------------------------------------------------------------
  def predict(self, variables, batch):
    """Greedy (beam_width 1) or beam search, inside jit, over the decoder's KV cache."""
    model, cfg = self.model, self.config.decode
    memory, memory_mask = model.apply(variables, batch[self.image_key], batch[self.width_key],
                                      method="encode")
    length = self.config.data.max_tokens
    cache = model.apply(variables, memory, memory_mask, length, method="init_cache")
    never = jnp.zeros((len(self.vocab),), bool).at[jnp.array([PAD, BOS])].set(True)

    def step(tokens, position, cache):
      logits, cache = model.apply(variables, tokens, position, cache,
                                  method="decode_step")
      return jnp.where(never, -jnp.inf, logits), cache

    kwargs = dict(batch=batch[self.image_key].shape[0], bos=BOS, eos=EOS, pad=PAD,
                  max_length=length - 1)
    if cfg.beam_width > 1:
      tokens, lengths, score = search.beam_search(step, cache, beam=cfg.beam_width,
                                                  alpha=cfg.length_alpha, **kwargs)
    else:
      tokens, lengths, total = search.greedy(step, cache, **kwargs)
      steps = search.scored_steps(lengths, kwargs["max_length"])
      score = search.length_normalized(total, steps, cfg.length_alpha)
    return {"tokens": tokens, "token_lengths": lengths, "score": score}

  def predict_with_confidence(self, variables, batch):
    """`predict` plus each text's confidence, exp(score): what an export returns."""
    out = self.predict(variables, batch)
    return {**out, "confidence": jnp.exp(out["score"])}

  # -- host side ------------------------------------------------------------
  def texts(self, outputs) -> list[tuple[str, float]]:
    """(canonical text, confidence) per example; the confidence is exp(score), with
    length_alpha=1 the geometric mean of the token probabilities."""
    return [(self.canonical(self.vocab.decode(ids[:n])), float(np.exp(s))) for ids, n, s in
            zip(outputs["tokens"], outputs["token_lengths"], outputs["score"])]

  def results(self, outputs):
    return [{"text": text, "confidence": confidence} for text, confidence in self.texts(outputs)]

  def records(self, batch, outputs):
    records = []
    for i, (hyp, confidence) in enumerate(self.texts(outputs)):
      if not batch["mask"][i]:
        continue
      ref = self.canonical(as_text(batch["label"][i]))
      ref_tokens, hyp_tokens = self.vocab.split(ref), self.vocab.split(hyp)
      edits = editdistance.eval(ref_tokens, hyp_tokens)
      records.append({"id": as_text(batch["id"][i]), "reference": ref, "prediction": hyp,
                      "confidence": confidence, "edits": edits, "reference_tokens": len(ref_tokens),
                      "token_cer": edits / max(len(ref_tokens), 1)})
    return records

  def summarize(self, records):
    edits = np.array([r["edits"] for r in records], np.int64)
    lengths = np.array([r["reference_tokens"] for r in records], np.int64)
    within = {k: float(metrics.ExactMatch.from_edits(edits, max_edits=k).compute())
              for k in (0, 1, 2)}
    return {"token_cer": float(metrics.ErrorRate.from_counts(edits, lengths).compute()),
            "exprate": within[0], "exprate_le1": within[1], "exprate_le2": within[2],
            "num_examples": float(len(records))}

  def worst(self, records, n):
    return sorted(records, key=lambda r: (-r["token_cer"], -r["edits"]))[:n]

  def metadata(self):
    return {"vocab": list(self.vocab.tokens)}

  # -- export ---------------------------------------------------------------
  def serving(self):
    """Rendered ink -> LaTeX: the config's greedy or beam search, in the graph.

    Rendering (`pp_predict`: anti-aliased strokes at the training height) runs on the
    host, before the graph, as it does in training: it has no jnp port, and a fixed
    image shape (padded to the widest bucket) is what lets a server batch requests.
    Padding does not change a prediction (the encoder masks padded columns).
    """
    data = self.config.data
    height, width = data.image_height, data.max_width

    def prepare(value, where):
      """The training render of the input, zero-padded on the right to the signature's
      width."""
      rendered = self.prepare(value, where)["image"][..., 0]
      if rendered.shape[1] > width:
        raise InputError(f"rendered {rendered.shape[1]} pixels wide, wider than the "
                         f"model's {width}", sample_id=where)
      image = np.zeros((height, width), np.float32)
      image[:, :rendered.shape[1]] = rendered
      return {"image": image, "image_width": np.int32(rendered.shape[1])}

    def result(outputs):
      return {"text": latex.normalize(outputs["latex"].decode("utf-8")),
              "confidence": float(outputs["confidence"])}

    return base.Serving(
        kind="image", returns="latex", accepts=self.accepts, prepare=prepare, result=result,
        warm_up=lambda words: [{"image": np.zeros((height, width), np.float32),
                                "image_width": np.int32(height)}],
        inputs={"image": ("float32", ("b", height, width)), "image_width": ("int32", ("b",))},
        preprocess=lambda inputs: {"image": inputs["image"][..., None],
                                   "image_width": inputs["image_width"]},
        batch_shapes={"image": f"(b, {height}, {width}, 1)", "image_width": "(b,)"},
        predict=self.predict_with_confidence,
        vocabulary=self.vocab.tokens,
        strings={"latex": ("tokens", "token_lengths")},
        separator=self.vocab.separator,
        outputs={"confidence": "confidence"},
        settings={"host_preprocess": "pp_predict", "pp_predict": data.pp_predict.format(**data),
                  "beam_width": self.config.decode.beam_width,  # 1: greedy.
                  "length_alpha": self.config.decode.length_alpha},
        description=(
            f"image float32 [batch, {height}, {width}]: ink rendered by pp_predict (ink 1.0 "
            "on 0.0, left-aligned, zero-padded on the right); image_width int32 [batch]: "
            "its real width in pixels. Returns latex string [batch] (tokens joined by one "
            "space; htr.text.latex.normalize gives the canonical form) and confidence "
            "float32 [batch] (exp of the length-normalised log-probability)."))
