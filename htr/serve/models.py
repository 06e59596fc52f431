"""Exported models (htr/export.py), loaded with plain TensorFlow, behind one batched call.

A model folder is either one SavedModel (saved_model.pb, variables/, and the
export's assets/metadata.json) or an export folder (metadata.json listing
variants such as float32/ and int8/, each a SavedModel); the latter serves its
default variant unless another is asked for. The metadata says what the
signature takes ("ink": points [b, n, 4] + lengths [b]; "image": pixels, which math
models render from ink on the host with their `pp_predict`) and the model's kind
follows from what it returns (text, LaTeX or top classes).

Requests are prepared one by one on the event loop's side (validation, host
preprocessing), then run in batches. A batch is padded to a few shapes: batch
sizes are powers of two and ink lengths come from `POINT_BUCKETS`, because an
exported XLA graph compiles once per input shape.

Attributes:
  POINT_BUCKETS: padded ink lengths (points per ink); longer inks use multiples of
    the largest.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
from typing import Any

import numpy as np

from htr.errors import InputError
from htr.ink.ink import Ink, validate

log = logging.getLogger("htr.serve")

POINT_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096)
_METADATA = "metadata.json"


def _bucket(n: int, sizes: tuple[int, ...]) -> int:
  """The smallest size >= n; past the largest, the next multiple of it."""
  for size in sizes:
    if n <= size:
      return size
  return -(-n // sizes[-1]) * sizes[-1]


def _batch_bucket(n: int) -> int:
  return 1 << max(0, (n - 1).bit_length())


def ink_points(ink: Ink) -> np.ndarray:
  """float32 `[N, 4]`: x, y, t and stroke index, the exported ink signature's rows."""
  return np.concatenate([ink.points, ink.stroke_ids[:, None].astype(np.float32)], 1)


@dataclasses.dataclass
class ServedModel:
  """One loaded SavedModel and what is needed to feed it and read its outputs.

  Attributes:
    name: the model's name in URLs (its folder's name).
    path: the SavedModel folder.
    metadata: the export's metadata.json.
    kind: "ink_text", "image_class", "ink_latex", "image_latex", ...: what it takes
      and what it returns.
    input_kind: "ink" or "image": what the signature takes.
  """

  name: str
  path: str
  metadata: dict[str, Any]
  kind: str
  input_kind: str
  signature: Any = dataclasses.field(repr=False, default=None)  # The concrete function.
  saved_model: Any = dataclasses.field(repr=False, default=None)  # Owns its variables.

  # -- host side: one request at a time -------------------------------------------
  @property
  def accepts(self) -> list[str]:
    """What its endpoints take, the signature's own input first: ink can be rendered
    for image models, images cannot become ink (nor the rendering a math model trained on)."""
    return ["image", "ink"] if self.input_kind == "image" and not self._renders_ink else ["ink"]

  @property
  def _renders_ink(self) -> bool:
    """Math models: ink is rendered on the host by the training ops (`pp_predict`)."""
    return self.metadata.get("settings", {}).get("host_preprocess") == "pp_predict"

  @functools.cached_property
  def _pp_predict(self):
    from htr.data import registry
    return registry.build(self.metadata["settings"]["pp_predict"])

  def info(self) -> dict[str, Any]:
    return {"name": self.name, "kind": self.kind, "inputs": self.accepts,
            "metadata": self.metadata}

  def _image_shape(self) -> tuple[int, int]:
    shape = self.metadata["signature"]["inputs"]["image"]["shape"]
    return int(shape[1]), int(shape[2])

  def prepare_ink(self, ink: Ink, where: str) -> np.ndarray | dict[str, np.ndarray]:
    """A validated ink -> the example `run` takes (points, or a rendered image)."""
    validate(ink, sample_id=where)
    if self.input_kind == "ink":
      return ink_points(ink)
    if self._renders_ink:
      return self._render(ink, where)
    from htr.ink import render
    height, _ = self._image_shape()
    # Drawn 4x larger than the model's input with a pen of 1/16 of the glyph box,
    # as the drawing page does, then prepared exactly like an uploaded image.
    image = render.render(ink, size=4 * height, pen_width=height / 4)
    return self.prepare_image(image, where)

  def _render(self, ink: Ink, where: str) -> dict[str, np.ndarray]:
    """Ink -> the training render, zero-padded on the right to the signature's width."""
    from htr.ink.records import ink_to_record
    example = self._pp_predict({"id": where, "ink": ink_to_record(ink)},
                               np.random.default_rng(0))  # Unused by inference ops.
    height, max_width = self._image_shape()
    rendered = example["image"][..., 0]
    image = np.zeros((height, max_width), np.float32)
    image[:, :rendered.shape[1]] = rendered
    return {"image": image, "image_width": np.int32(rendered.shape[1])}

  def prepare_image(self, image: np.ndarray, where: str) -> np.ndarray:
    """A decoded upload -> the example `run` takes (the export's host preprocessing)."""
    if "image" not in self.accepts:
      raise InputError(f"model {self.name!r} reads ink, not images", sample_id=where)
    from htr.image import canvas
    host = self.metadata.get("settings", {}).get("host_preprocess")
    if host != "htr.image.canvas.preprocess":
      raise InputError(f"model {self.name!r}: unknown host preprocessing {host!r}")
    try:
      return canvas.preprocess(image)
    except InputError as e:
      raise InputError(e.reason, sample_id=where) from None

  # -- the model call: a batch at a time ------------------------------------------
  def _inputs(self, examples: list[Any]) -> dict[str, np.ndarray]:
    size = _batch_bucket(len(examples))
    if isinstance(examples[0], dict):  # Fixed-shape arrays per signature input.
      inputs = {k: np.zeros((size, *np.shape(v)), np.asarray(v).dtype)
                for k, v in examples[0].items()}
      for k, batch in inputs.items():
        batch[:len(examples)] = [e[k] for e in examples]
      return inputs
    if self.input_kind == "ink":
      lengths = np.ones(size, np.int32)  # Padding rows: one point at the origin.
      lengths[:len(examples)] = [len(e) for e in examples]
      points = np.zeros((size, _bucket(int(lengths.max()), POINT_BUCKETS), 4), np.float32)
      for i, example in enumerate(examples):
        points[i, :len(example)] = example
      return {"points": points, "lengths": lengths}
    images = np.zeros((size, *examples[0].shape), np.float32)
    images[:len(examples)] = examples
    return {"image": images}

  def run(self, examples: list[Any]) -> list[dict[str, Any]]:
    """Prepared examples -> one response dict (schemas.Recognition fields) each."""
    import tensorflow as tf
    inputs = {k: tf.constant(v) for k, v in self._inputs(examples).items()}
    outputs = {k: v.numpy() for k, v in self.signature(**inputs).items()}
    return [self._result(outputs, i) for i in range(len(examples))]

  def _result(self, outputs: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Example `i`'s response fields, or {"error": why} if it could not be read whole."""
    if "points_cut" in outputs and (cut := int(outputs["points_cut"][i])):
      buffer = self.metadata.get("settings", {}).get("max_points")
      return {"error": f"the ink is too long for this model: {cut} of its resampled points "
                       f"do not fit the export's {buffer}-point buffer; send it in parts"}
    if "classes" in outputs:
      top = [{"label": c.decode("utf-8"), "probability": float(p)}
             for c, p in zip(outputs["classes"][i], outputs["probabilities"][i])]
      return {"text": top[0]["label"], "confidence": top[0]["probability"], "top": top}
    if "latex" in outputs:
      from htr.data import latex
      result = {"text": latex.normalize(outputs["latex"][i].decode("utf-8"))}
    else:
      result = {"text": outputs["text"][i].decode("utf-8")}
    if "confidence" in outputs:
      result["confidence"] = float(outputs["confidence"][i])
    if "char_scores" in outputs and "num_chars" in outputs:
      result["char_scores"] = outputs["char_scores"][i][:outputs["num_chars"][i]].tolist()
    return result

  def warm_up(self, max_batch: int = 1, words: int = 0) -> float:
    """Runs a batch of each padded shape requests are likely to bring; returns seconds.

    Each new input shape of an exported graph is an XLA compile (seconds), so they
    happen here, before /readyz, not on a client's time: every batch size up to
    `max_batch` and, for ink, synthetic lines of 1 to `words` words (the export
    pads a batch's frame axis to a few lengths, htr/export.py `length_buckets`).
    """
    start = time.perf_counter()
    examples = self._warm_up_examples(words)
    for size in sorted({_batch_bucket(n) for n in range(1, max(max_batch, 1) + 1)}):
      for example in examples:
        self.run([example] * size)
    return time.perf_counter() - start

  def _warm_up_examples(self, words: int) -> list[Any]:
    if self._renders_ink:
      height, max_width = self._image_shape()
      return [{"image": np.zeros((height, max_width), np.float32),
               "image_width": np.int32(height)}]
    if self.input_kind != "ink":
      return [np.zeros(self._image_shape(), np.float32)]
    examples = [np.array([[0, 0, 0, 0], [1, 1, 0.01, 0], [2, 0, 0.02, 0]], np.float32)]
    from htr.ink import synthetic
    rng = np.random.default_rng(0)
    for n in range(1, words + 1):
      text = synthetic.sample_line(rng, min_words=n, max_words=n)
      examples.append(ink_points(synthetic.write_line(text, synthetic.sample_writer(rng), rng)))
    return examples


def _kind(metadata: dict[str, Any]) -> str:
  outputs = metadata["signature"]["outputs"]
  returns = ("class" if "classes" in outputs else "latex" if "latex" in outputs
             else "text")
  return f"{metadata['input_kind']}_{returns}"


def _read_json(path: str) -> dict[str, Any]:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f"unreadable export metadata ({e})", path=path) from None


def load_model(name: str, folder: str, variant: str | None = None) -> ServedModel:
  """A model folder (a SavedModel, or an export folder of variants) -> ServedModel."""
  path = folder
  if not os.path.isfile(os.path.join(folder, "saved_model.pb")):
    top = os.path.join(folder, _METADATA)
    if not os.path.isfile(top):
      raise InputError("neither a SavedModel (saved_model.pb) nor an htr export "
                       "(metadata.json)", path=folder)
    variants = _read_json(top).get("variants", {})
    chosen = variant or _read_json(top).get("default_variant")
    if chosen not in variants:
      raise InputError(f"no variant {chosen!r}; exported: {sorted(variants)}", path=folder)
    path = os.path.join(folder, variants[chosen]["path"])
  metadata = _read_json(os.path.join(path, "assets", _METADATA))
  import tensorflow as tf  # Only now: it takes seconds to import.
  try:
    loaded = tf.saved_model.load(path)
  except (OSError, ValueError, tf.errors.OpError) as e:  # A truncated or foreign .pb.
    first_line = (str(e).strip().splitlines() or [""])[0][:300]
    raise InputError(f"not a loadable SavedModel ({type(e).__name__}: {first_line})",
                     path=path) from None
  return ServedModel(name=name, path=path, metadata=metadata, kind=_kind(metadata),
                     input_kind=metadata["input_kind"],
                     signature=loaded.signatures[metadata["signature"]["name"]],
                     saved_model=loaded)


def load_models(models_dir: str, variant: str | None = None, max_batch: int = 1,
                warm_up_words: int = 0) -> dict[str, ServedModel]:
  """{name: model} for every subfolder of `models_dir`, each loaded and warmed up
  (`ServedModel.warm_up`)."""
  if not os.path.isdir(models_dir):
    raise InputError("no such models folder", path=models_dir)
  models = {}
  for name in sorted(os.listdir(models_dir)):
    folder = os.path.join(models_dir, name)
    if os.path.isdir(folder) and not name.startswith("."):
      model = load_model(name, folder, variant)
      log.info("model %s (%s) from %s: warm-up %.2f s", name, model.kind, model.path,
               model.warm_up(max_batch, warm_up_words))
      models[name] = model
  return models
