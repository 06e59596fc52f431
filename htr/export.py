"""A trained workdir -> TensorFlow SavedModels a server loads without htr.

Scenic's `export_utils.convert_and_save_model` pattern: the task's jnp serving
functions (`Task.serving()`, htr/tasks/base.py) go through `jax2tf.convert` with
polymorphic batch and length dimensions; the parameters become `tf.Variable`s
passed to the converted function, so they are saved as variables next to the
graph rather than folded into it as constants. One default serving signature per
SavedModel takes what a client has and returns what it wants; ids become strings
with TF string ops over the vocabulary, which travels along as an asset.

Layout of `export_dir` (default WORKDIR/export):
  metadata.json        task, input kind, signature, settings, config summary,
                       metrics and every variant's directory and size
  float32/             a SavedModel: saved_model.pb, variables/, assets/
  bfloat16/, int8/     the same graph with weight-only compressed kernels
                       (dequantised to float32 inside the graph)
Each SavedModel's assets/ holds vocabulary.json and a copy of metadata.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath

from htr import checkpoint, zoo
from htr import weights as weights_lib
from htr.tasks.base import Serving

WEIGHT_FORMATS = weights_lib.FORMATS


# ---------------------------------------------------------------------------
# The SavedModel.
# ---------------------------------------------------------------------------
def _poly(shape: tuple[int | str, ...]) -> str:
  return "(" + ", ".join(map(str, shape)) + ")"


def length_buckets(limit: int = 1 << 24) -> list[int]:
  """1, 2, 3, then four evenly spaced lengths per octave (4, 5, 6, 7, 8, 10, ...).

  The predict graph is compiled once per input shape, so a server that sees every
  length would compile for ever; these buckets bound the compilations to ~4 per
  doubling of the length at no more than 25% padding.
  """
  sizes, octave = [1, 2, 3], 4
  while octave <= limit:
    sizes += [octave + i * (octave // 4) for i in range(4)]
    octave *= 2
  return sizes


def _trim(x, lengths, multiple: int = 1, bucketed: bool = False):
  """Axis 1 of `x` cut (or zero-padded) to the batch's longest length, rounded up
  to a multiple of `multiple` (and, if `bucketed`, to a `length_buckets` size)."""
  import tensorflow as tf
  units = (tf.maximum(tf.reduce_max(lengths), 1) + multiple - 1) // multiple
  if bucketed:
    sizes = tf.constant(length_buckets(), units.dtype)
    units = tf.gather(sizes, tf.searchsorted(sizes, units[None], side="left")[0])
  n = units * multiple
  x = x[:, :n]
  padding = [[0, 0], [0, n - tf.shape(x)[1]]] + [[0, 0]] * (len(x.shape) - 2)
  return tf.pad(x, padding)


def build_module(serving: Serving, variables: dict[str, Any], weights: str = "float32"):
  """A tf.Module whose `serve` tf.function is the default serving signature."""
  import tensorflow as tf
  from jax.experimental import jax2tf

  stored = weights_lib.compress(variables, weights)
  module = tf.Module()
  module.params = {k: tf.Variable(v, trainable=False, name=k.replace(":", "_"))
                    for k, v in stored.items()}
  preprocess = jax2tf.convert(
      serving.preprocess, with_gradient=False,
      polymorphic_shapes=[{k: _poly(shape) for k, (_, shape) in serving.inputs.items()}])
  predict = jax2tf.convert(
      lambda params, batch: serving.predict(weights_lib.decompress(params, jnp), batch),
      with_gradient=False,
      polymorphic_shapes=[None, dict(serving.batch_shapes)])
  names = list(serving.inputs)
  signature = [tf.TensorSpec([None if isinstance(d, str) else d for d in shape],
                             tf.as_dtype(dtype), name=name)
               for name, (dtype, shape) in serving.inputs.items()]
  vocabulary = tf.constant(list(serving.vocabulary), tf.string)

  @tf.function(input_signature=signature, autograph=False)
  def serve(*args):
    prepared = preprocess(dict(zip(names, args)))
    batch = {k: _trim(v, prepared[serving.trim[k]], serving.trim_multiple, bucketed=True)
             if k in serving.trim
             else v
             for k, v in prepared.items() if k in serving.batch_shapes}
    raw = predict(dict(module.params), batch)
    raw = {k: _trim(v, raw[serving.trim[k]]) if k in serving.trim else v for k, v in raw.items()}
    out = {name: tf.identity(raw[key] if key in raw else prepared[key], name=name)
           for name, key in serving.outputs.items()}
    for name, (ids_key, lengths_key) in serving.strings.items():
      strings = tf.gather(vocabulary, raw[ids_key])
      if lengths_key is not None:
        keep = tf.sequence_mask(raw[lengths_key], tf.shape(strings)[1])
        strings = tf.strings.reduce_join(tf.ragged.boolean_mask(strings, keep), axis=1,
                                        separator=serving.separator)
      out[name] = tf.identity(strings, name=name)
    return out

  module.serve = serve
  return module


def _metrics(workdir: epath.Path) -> dict[str, Any]:
  """Metrics of the evaluation reports in the workdir (`--mode=eval` writes them);
  other `eval_*.json` files (a classifier's confusion matrix) are not reports."""
  reports = {path.stem[5:]: json.loads(path.read_text())
             for path in sorted(workdir.glob("eval_*.json"))}
  return {name: report["metrics"] for name, report in reports.items() if "metrics" in report}


def _dir_size(path: epath.Path) -> int:
  return sum((root / f).stat().length for root, _, files in path.walk() for f in files)


def save(module, serving: Serving, metadata: dict[str, Any], directory: epath.Path) -> None:
  """Writes the SavedModel with its vocabulary and metadata as assets."""
  import tensorflow as tf
  with tempfile.TemporaryDirectory() as tmp:
    assets = {}
    for name, content in (("vocabulary.json", list(serving.vocabulary)),
                          ("metadata.json", metadata)):
      path = os.path.join(tmp, name)
      with open(path, "w") as f:
        json.dump(content, f, indent=1, ensure_ascii=False)
      assets[name] = tf.saved_model.Asset(path)
    module.assets = assets
    if directory.exists():
      directory.rmtree()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})


def export(workdir: epath.PathLike, export_dir: epath.PathLike | None = None,
           weight_formats: tuple[str, ...] = WEIGHT_FORMATS, *, which: str = "best"
           ) -> dict[str, Any]:
  """Exports the `which` checkpoint of a workdir, or a zoo entry (`zoo:NAME`: its
  export goes to ./export-NAME unless `export_dir` says otherwise); returns the top-level
  metadata."""
  if zoo.is_source(workdir):
    entry = zoo.entry(workdir)
    task, variables, config = checkpoint.restore_for_inference(entry.source)
    metrics = entry.manifest.get("metrics", {})
    export_dir = checkpoint.workdir_path(export_dir or f"export-{entry.name}")
  else:
    workdir = checkpoint.workdir_path(workdir)
    task, variables, config = checkpoint.restore_for_inference(workdir, which=which)
    metrics = _metrics(workdir)
    export_dir = checkpoint.workdir_path(export_dir) if export_dir else workdir / "export"
  serving = task.serving()
  export_dir.mkdir(parents=True, exist_ok=True)
  metadata = {
      "format": "htr-export-1",
      "task": config.task,
      "input_kind": serving.kind,
      "returns": serving.returns,
      "accepts": list(serving.accepts),
      "signature": {
          "name": "serving_default",
          "inputs": {name: {"dtype": dtype, "shape": [d if isinstance(d, int) else None
                                                      for d in shape]}
                     for name, (dtype, shape) in serving.inputs.items()},
          "outputs": {},
          "description": serving.description},
      "settings": serving.settings,
      "config": {"task": config.task, "model": config.model.to_dict(),
                 "data": config.data.get("name"), "checkpoint": which},
      "task_metadata": task.metadata(),
      # What the server rebuilds the task from, to read inputs and results through its
      # `serving()` hooks (no weights: those are the SavedModel's variables).
      "task_config": config.to_dict(),
      "metrics": metrics,
      "num_parameters": int(sum(np.size(x) for x in jax.tree.leaves(variables))),
      "default_variant": weight_formats[0],
      "variants": {},
  }
  for weights in weight_formats:
    module = build_module(serving, variables, weights)
    outputs = module.serve.get_concrete_function().structured_outputs
    metadata["signature"]["outputs"] = {
        name: {"dtype": spec.dtype.name, "shape": spec.shape.as_list()}
        for name, spec in sorted(outputs.items())}
    directory = export_dir / weights
    own = {k: v for k, v in metadata.items() if k != "variants"}
    save(module, serving, {**own, "weights": weights}, directory)
    metadata["variants"][weights] = {"path": weights, "weights": weights,
                                     "size_bytes": _dir_size(directory)}
  (export_dir / "metadata.json").write_text(json.dumps(metadata, indent=1, ensure_ascii=False),
                                            encoding="utf-8")
  return metadata
