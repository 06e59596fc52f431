"""Image -> one class: single handwritten characters (digits, EMNIST, 94 symbols)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from etils import epath

from htr import metrics, models
from htr.errors import InputError
from htr.tasks import base

TOP_K = 5


def resolve_classes(name_or_chars: str) -> str:
  """A charset name of htr/text/charsets.py (e.g. "chars94", "digits"), or the characters."""
  from htr.text import charsets
  try:
    return charsets.named(name_or_chars)
  except ValueError:
    return name_or_chars


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0
                  ) -> jax.Array:
  """Per-example softmax cross-entropy against one-hot labels smoothed by `label_smoothing`."""
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)


def top_k(logits: jax.Array, labels: jax.Array | None = None, k: int = TOP_K
          ) -> dict[str, jax.Array]:
  """The k most probable classes and their probabilities (+ the label's, if given)."""
  probs = jax.nn.softmax(logits.astype(jnp.float32))
  # A stable argsort, not lax.top_k: jax 0.10 serialises top_k as a StableHLO
  # composite that TF 2.21 cannot load, so exported classifiers would not run.
  # Same order, ties included (lower index first).
  top_ids = jnp.argsort(-probs, axis=-1, stable=True)[:, :min(k, logits.shape[-1])]
  top_probs = jnp.take_along_axis(probs, top_ids, -1)
  out = {"top_ids": top_ids, "top_probs": top_probs}
  if labels is not None:
    out["label_prob"] = jnp.take_along_axis(probs, labels[:, None].astype(jnp.int32), -1)[:, 0]
  return out


def subset_argmax(logits: jax.Array, members: np.ndarray) -> jax.Array:
  """The most probable class among `members` (class indices): the reading of a writer
  known to write only these (a digit field, EMNIST's digits split)."""
  return jnp.asarray(members)[jnp.argmax(logits[:, members], axis=-1)]


def confusion_matrix(records: Sequence[dict[str, Any]], classes: str) -> np.ndarray:
  """Counts [true, predicted] over records' `label_id` and `prediction_id`."""
  matrix = np.zeros((len(classes), len(classes)), np.int64)
  for r in records:
    matrix[r["label_id"], r["prediction_id"]] += 1
  return matrix


def confusion_report(matrix: np.ndarray, classes: str, *, num_confused: int = 20
                     ) -> dict[str, Any]:
  """JSON-able per-class accuracy (None: class absent), the matrix and the worst pairs."""
  counts = matrix.sum(axis=1)
  per_class = {c: {"count": int(n), "accuracy": float(matrix[i, i] / n) if n else None}
               for i, (c, n) in enumerate(zip(classes, counts))}
  off = matrix * (1 - np.eye(len(classes), dtype=matrix.dtype))
  pairs = np.argsort(-off, axis=None)[:num_confused]
  confused = [[classes[t], classes[p], int(off[t, p])]
              for t, p in zip(*np.unravel_index(pairs, off.shape)) if off[t, p]]
  return {"classes": list(classes), "per_class": per_class, "most_confused": confused,
          "matrix": matrix.tolist()}


def draw_confusion(matrix: np.ndarray, classes: str, title: str = ""):
  """A PIL image of the row-normalised confusion matrix with class labels.

  Rows are true classes, columns predictions; correct cells are blue, errors
  red, and a bar on the right shows each class's accuracy.
  """
  from PIL import Image, ImageDraw, ImageFont
  n = len(classes)
  cell = int(np.clip(720 // max(n, 1), 12, 40))
  font = ImageFont.load_default(size=max(8, int(cell * 0.8)))
  counts = matrix.sum(axis=1, keepdims=True)
  frac = matrix / np.maximum(counts, 1)
  diag = np.eye(n, dtype=bool)
  # White -> blue on the diagonal, white -> red off it; rows without examples grey.
  tint = np.where(diag[..., None], [40, 90, 200], [210, 40, 40]).astype(np.float32)
  rgb = 255 - frac[..., None] ** 0.5 * (255 - tint)
  rgb[counts[:, 0] == 0] = 200
  cells = np.repeat(np.repeat(rgb.astype(np.uint8), cell, 0), cell, 1)
  title = title or "rows: true, columns: predicted"
  title_font = ImageFont.load_default(size=12)
  left, top, bar = 2 * cell, 2 * cell + 16, 5 * cell
  width = max(left + n * cell + cell + bar + 3 * cell,
              int(title_font.getlength(title)) + 8)
  image = Image.new("RGB", (width, top + n * cell + cell), "white")
  image.paste(Image.fromarray(cells), (left, top))
  draw = ImageDraw.Draw(image)
  draw.text((4, 2), title, fill="black", font=title_font)
  x_bar = left + n * cell + cell
  for i, c in enumerate(classes):
    centre = cell // 2
    draw.text((left // 2, top + i * cell + centre), c, fill="black", font=font, anchor="mm")
    draw.text((left + i * cell + centre, top - centre), c, fill="black", font=font,
              anchor="mm")
    if counts[i, 0]:
      accuracy = frac[i, i]
      y = top + i * cell
      draw.rectangle((x_bar, y + 1, x_bar + bar, y + cell - 2), fill=(225, 225, 225))
      draw.rectangle((x_bar, y + 1, x_bar + int(bar * accuracy), y + cell - 2),
                     fill=(40, 90, 200))
      draw.text((x_bar + bar + 2, y + centre), f"{100 * accuracy:.0f}%", fill="black",
                font=font, anchor="lm")
  return image


def glyph(value, where: str, shape: tuple[int, ...]) -> np.ndarray:
  """A drawn character (an image of any size, colour mode or polarity, or ink) ->
  float32 `[28, 28]` as the training data is (htr/image/canvas.py).

  Ink is drawn 4x larger than the model's input with a pen of 1/16 of the glyph box,
  as the drawing page does, then prepared like an uploaded image.
  """
  from htr.image import canvas
  from htr.ink.ink import Ink, validate
  if isinstance(value, Ink):
    from htr.ink import render
    validate(value, sample_id=where)
    value = render.render(value, size=4 * shape[0], pen_width=shape[0] / 4)
  try:
    return canvas.preprocess(value)
  except InputError as e:
    raise InputError(e.reason, sample_id=where) from None


def _result(top: list[tuple[str, float]]) -> dict[str, Any]:
  return {"text": top[0][0], "confidence": top[0][1],
          "top": [{"label": c, "probability": p} for c, p in top]}


class Task(base.Task):
  """Classification: `image [B,H,W,C]` -> `label [B]` over `config.classes`.

  Config fields used: `classes` (charset name or characters), `model` (name +
  kwargs), `data.image_shape`, `label_smoothing`, and optionally `subsets` ({name:
  charset name or characters}): each is also scored on its own examples with the choice
  restricted to its classes (`NAME_accuracy`, e.g. digits as a 10-way problem).
  """

  main_metric = ("accuracy", "max")

  def __init__(self, config, metadata=None):
    super().__init__(config, metadata)
    self.classes = metadata["classes"] if metadata else resolve_classes(config.classes)
    if len(set(self.classes)) != len(self.classes):
      raise ValueError(f"classes have repeated characters: {self.classes!r}")
    self.model = models.build(config.model, num_classes=len(self.classes))

  @property
  def subsets(self) -> dict[str, np.ndarray]:
    """{name: class indices} of `config.subsets`, read from the config when scored, so
    an evaluation may choose them for a trained model (as it chooses `decode`)."""
    members = {}
    for name, chars in self.config.get("subsets", {}).items():
      chars = resolve_classes(chars)
      missing = sorted(set(chars) - set(self.classes))
      if missing:
        raise ValueError(f"subsets.{name} has characters outside the classes: {missing}")
      members[name] = np.array([self.classes.index(c) for c in chars], np.int32)
    return members

  def padding(self):
    return {}, None

  def dummy_batch(self, batch_size):
    return {"image": np.zeros((batch_size, *self.config.data.image_shape), np.float32),
            "label": np.zeros((batch_size,), np.int32),
            "mask": np.ones((batch_size,), np.float32)}

  def model_inputs(self, batch):
    return {"image": batch["image"], "mask": batch["mask"]}

  def loss(self, params, model_state, batch, rng):
    logits, updates = self.model.apply(
        {"params": params, **model_state}, **self.model_inputs(batch), train=True,
        rngs={"dropout": rng}, mutable=list(model_state))
    logits = logits.astype(jnp.float32)
    weight = batch["mask"]
    total = jnp.maximum(jnp.sum(weight), 1.0)
    per_example = cross_entropy(logits, batch["label"], self.config.label_smoothing)
    loss = jnp.sum(per_example * weight) / total
    accuracy = metrics.TopKAccuracy.from_model_output(logits, batch["label"], weight).compute()
    return loss, (updates, {"loss": loss, "accuracy": accuracy})

  def predict(self, variables, batch):
    logits = self.model.apply(variables, batch["image"], train=False)
    out = top_k(logits, batch.get("label"))
    out.update({f"{name}_id": subset_argmax(logits, members)
                for name, members in self.subsets.items()})
    return out

  # -- host side ------------------------------------------------------------
  def top(self, outputs) -> list[list[tuple[str, float]]]:
    """Per example, the top classes as (character, probability), most probable first."""
    return [[(self.classes[j], float(p)) for j, p in zip(ids, probs)]
            for ids, probs in zip(outputs["top_ids"], outputs["top_probs"])]

  def records(self, batch, outputs):
    records = []
    for i, top in enumerate(self.top(outputs)):
      if not batch["mask"][i]:
        continue
      label, ids = int(batch["label"][i]), [int(j) for j in outputs["top_ids"][i]]
      records.append({
          "id": str(batch["id"][i]) if "id" in batch else "",  # EMNIST has no ids.
          "label": self.classes[label], "prediction": top[0][0], "confidence": top[0][1],
          "top5": [[c, p] for c, p in top], "correct": ids[0] == label,
          "top5_correct": label in ids, "label_prob": float(outputs["label_prob"][i]),
          "label_id": label, "prediction_id": ids[0],
          **{f"{name}_correct": int(outputs[f"{name}_id"][i]) == label
             for name, members in self.subsets.items() if label in members}})
    return records

  def summarize(self, records):
    def accuracy(key):
      return float(metrics.TopKAccuracy.from_hits([r[key] for r in records]).compute())
    nll = -np.log(np.maximum([r["label_prob"] for r in records], 1e-12))
    summary = {"accuracy": accuracy("correct"), "top5_accuracy": accuracy("top5_correct"),
               "nll": float(nll.mean()) if records else 0.0,
               "num_examples": float(len(records))}
    for name in self.subsets:
      hits = [r[f"{name}_correct"] for r in records if f"{name}_correct" in r]
      summary[f"{name}_accuracy"] = float(metrics.TopKAccuracy.from_hits(hits).compute())
      summary[f"{name}_examples"] = float(len(hits))
    return summary

  def worst(self, records, n):
    return sorted(records, key=lambda r: r["label_prob"])[:n]

  def save_artifacts(self, records, directory, name):
    """`name_confusion.json` (per-class accuracy, worst pairs, matrix) and `.png`."""
    matrix = confusion_matrix(records, self.classes)
    directory = epath.Path(directory)
    (directory / f"{name}_confusion.json").write_text(
        json.dumps(confusion_report(matrix, self.classes), indent=1))
    summary = self.summarize(records)
    title = (f"{name}: accuracy {100 * summary['accuracy']:.2f}%, top-5 "
             f"{100 * summary['top5_accuracy']:.2f}% (rows true, columns predicted)")
    with (directory / f"{name}_confusion.png").open("wb") as f:
      draw_confusion(matrix, self.classes, title).save(f, format="PNG")

  def metadata(self):
    return {"classes": self.classes}

  # -- inference --------------------------------------------------------------
  accepts = ("image", "ink")

  def prepare(self, value, where):
    return {"image": glyph(value, where, self.config.data.image_shape)[..., None]}

  def results(self, outputs):
    return [_result(top) for top in self.top(outputs)]

  def serving(self):
    """Canvas-preprocessed glyphs -> top-5 classes.

    `htr.image.canvas.preprocess` (decode, crop to the ink, fit and centre by mass
    in 28x28) runs on the host, before the graph: it turns uploads of any size and
    colour mode into one shape, which is what lets a server batch requests, and its
    PIL anti-aliased resampling, which the model was trained on, has no exact jnp
    equivalent.
    """
    height, width, channels = self.config.data.image_shape
    k = min(TOP_K, len(self.classes))

    def predict(variables, batch):
      out = top_k(self.model.apply(variables, batch["image"], train=False), k=k)
      return {"top_ids": out["top_ids"].astype(jnp.int32), "top_probs": out["top_probs"]}

    def result(outputs):
      return _result([(c.decode("utf-8"), float(p))
                      for c, p in zip(outputs["classes"], outputs["probabilities"])])

    return base.Serving(
        kind="image", returns="class", accepts=self.accepts,
        prepare=lambda value, where: {"image": glyph(value, where, (height, width))},
        result=result,
        warm_up=lambda words: [{"image": np.zeros((height, width), np.float32)}],
        inputs={"image": ("float32", ("b", height, width))},
        preprocess=lambda inputs: {"image": inputs["image"][..., None]},
        batch_shapes={"image": f"(b, {height}, {width}, {channels})"},
        predict=predict,
        vocabulary=tuple(self.classes),
        strings={"classes": ("top_ids", None)},
        outputs={"probabilities": "top_probs"},
        settings={"image_shape": [height, width, channels], "classes": self.classes,
                  "host_preprocess": "htr.image.canvas.preprocess"},
        description=(
            f"image float32 [batch, {height}, {width}] in [0, 1], white ink on black, "
            "EMNIST-style (htr.image.canvas.preprocess of the drawn image, on the host). "
            f"Returns classes string [batch, {k}] and probabilities float32 [batch, {k}], "
            "most probable first."))
