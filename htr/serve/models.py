"""Exported models (htr/export.py), loaded with TensorFlow, behind one batched call.

A model folder is either one SavedModel (saved_model.pb, variables/, and the
export's assets/metadata.json) or an export folder (metadata.json listing
variants such as float32/ and int8/, each a SavedModel); the latter serves its
default variant unless another is asked for. A folder with `page.json` is a page
model (`PageModel`): a line detector's export and a line recogniser's, read as one.
The graph runs in TensorFlow; around it, the task the export was made from (rebuilt
from the metadata, no weights) reads inputs and formats results through its `Serving`
hooks, so nothing here knows a task.

Requests are prepared one by one off the event loop (validation, host
preprocessing), then run in batches of one length bucket (`batch_key`). A batch is
padded to a few shapes: batch sizes are powers of two and polymorphic lengths come
from `LENGTH_BUCKETS`, because an exported XLA graph compiles once per input shape.
Warm-up measures the graph's seconds per call at each batch size, and batches stop
growing where lines/s does (`batching.choose_batch_limit`).

Attributes:
  LENGTH_BUCKETS: padded sizes of the signature's polymorphic axes (points per ink);
    longer inputs use multiples of the largest.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Hashable
from typing import Any

import numpy as np

from htr.errors import InputError
from htr.inputs import Input, kind_of
from htr.serve.batching import batch_sizes, choose_batch_limit
from htr.tasks.base import Serving, Task

log = logging.getLogger("htr.serve")

LENGTH_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096)
_METADATA = "metadata.json"
PAGE_MANIFEST = "page.json"  # A page model's folder: {"detector": DIR, "reader": DIR}.


def _bucket(n: int, sizes: tuple[int, ...]) -> int:
  """The smallest size >= n; past the largest, the next multiple of it."""
  for size in sizes:
    if n <= size:
      return size
  return -(-n // sizes[-1]) * sizes[-1]


def _batch_bucket(n: int) -> int:
  return 1 << max(0, (n - 1).bit_length())


def task_from_metadata(metadata: dict[str, Any]) -> Task:
  """The task an export was made from, rebuilt from its metadata (config and task
  metadata such as the vocabulary): its `serving()` hooks read inputs and results."""
  import ml_collections

  from htr.tasks import get_task
  try:
    config = ml_collections.ConfigDict(metadata["task_config"])
    return get_task(config, metadata["task_metadata"])
  except (KeyError, TypeError, ValueError) as e:
    raise InputError(f"export metadata without a usable task ({type(e).__name__}: {e}); "
                     "export it again with this htr") from None


@dataclasses.dataclass
class ServedModel:
  """One loaded SavedModel, fed and read through its task's serving hooks.

  Attributes:
    name: the model's name in URLs (its folder's name).
    path: the SavedModel folder.
    metadata: the export's metadata.json.
    serving: the task's `Serving` (htr/tasks/base.py): `prepare`, `result`, `warm_up`.
    batch_limit: the batch size past which the graph's lines/s stops growing (measured
      by `warm_up`).
    graph_seconds: batch size -> measured seconds per call of the graph (`warm_up`).
  """

  name: str
  path: str
  metadata: dict[str, Any]
  serving: Serving = dataclasses.field(repr=False)
  signature: Any = dataclasses.field(repr=False, default=None)  # The concrete function.
  saved_model: Any = dataclasses.field(repr=False, default=None)  # Owns its variables.
  batch_limit: int = 1
  graph_seconds: dict[int, float] = dataclasses.field(default_factory=dict)

  @property
  def kind(self) -> str:
    """What it takes and returns: "ink_text", "image_class", "image_latex", ..."""
    return f"{self.serving.kind}_{self.serving.returns}"

  @property
  def accepts(self) -> list[str]:
    """The kinds of user input its endpoints take, the signature's own first."""
    return list(self.serving.accepts)

  @property
  def returns(self) -> str:
    """What its results hold: "text", "class", "latex", "lines"."""
    return self.serving.returns

  def info(self) -> dict[str, Any]:
    return {"name": self.name, "kind": self.kind, "inputs": self.accepts,
            "metadata": self.metadata}

  # -- host side: one request at a time -------------------------------------------
  def prepare(self, value: Input, where: str) -> dict[str, np.ndarray]:
    """A user input (htr/inputs.py) -> the example `run` takes."""
    kind = kind_of(value)
    if kind not in self.serving.accepts:
      raise InputError(f"model {self.name!r} reads {' or '.join(self.accepts)}, not {kind}",
                       sample_id=where)
    return self.serving.prepare(value, where)

  # -- the model call: a batch at a time ------------------------------------------
  def _inputs(self, examples: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One array per signature input: the batch padded to a power of two with copies of
    the first example, polymorphic axes zero-padded to `LENGTH_BUCKETS`."""
    size = _batch_bucket(len(examples))
    rows = examples + [examples[0]] * (size - len(examples))
    inputs = {}
    for name, (dtype, shape) in self.serving.inputs.items():
      values = [np.asarray(row[name], dtype) for row in rows]
      padded = [_bucket(max(v.shape[axis] for v in values), LENGTH_BUCKETS)
                if isinstance(dim, str) else dim
                for axis, dim in enumerate(shape[1:])]
      batch = np.zeros((size, *padded), dtype)
      for i, value in enumerate(values):
        batch[(i, *(slice(0, n) for n in value.shape))] = value
      inputs[name] = batch
    return inputs

  def batch_key(self, example: dict[str, Any]) -> Hashable:
    """Examples of one key batch together without padding each other much: the frame
    bucket of the graph (`htr.export.length_buckets`) when `prepare` counted frames,
    else the padded sizes of the polymorphic axes."""
    if "frames" in example:
      from htr.export import length_buckets
      return _bucket(int(example["frames"]), tuple(length_buckets(1 << 16)))
    return tuple(_bucket(np.shape(example[name])[axis], LENGTH_BUCKETS)
                 for name, (_, shape) in self.serving.inputs.items()
                 for axis, dim in enumerate(shape[1:]) if isinstance(dim, str))

  def run_stages(self, examples: list[dict[str, np.ndarray]]
                 ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Prepared examples -> one response dict (schemas.Recognition fields) each, and the
    seconds of each stage: "pad" (the batch's arrays), "model" (the SavedModel call),
    "result" (formatting)."""
    import tensorflow as tf
    start = time.perf_counter()
    inputs = {k: tf.constant(v) for k, v in self._inputs(examples).items()}
    padded = time.perf_counter()
    outputs = {k: v.numpy() for k, v in self.signature(**inputs).items()}
    called = time.perf_counter()
    results = [self.serving.result({k: v[i] for k, v in outputs.items()})
               for i in range(len(examples))]
    return results, {"pad": padded - start, "model": called - padded,
                     "result": time.perf_counter() - called}

  def run(self, examples: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Prepared examples -> one response dict (schemas.Recognition fields) each."""
    return self.run_stages(examples)[0]

  def batch_seconds(self, example: dict[str, np.ndarray], sizes: list[int],
                    rounds: int = 5, parallel: int = 1) -> dict[int, float]:
    """Seconds per batch of `size` copies of `example`, for each size, with `parallel`
    calls at once (as the server's workers make them): the fastest of `rounds` rounds
    (each: every caller runs one batch; its wall time over `parallel`), taken in turns
    over the sizes after a first, compiling call of each, so that other work on the
    machine slows every size alike and shows least."""
    import concurrent.futures
    batches = {size: [example] * size for size in sizes}
    for batch in batches.values():
      self.run(batch)
    seconds = {size: float("inf") for size in sizes}
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
      for _ in range(rounds):
        for size, batch in batches.items():
          start = time.perf_counter()
          list(pool.map(self.run, [batch] * parallel))
          seconds[size] = min(seconds[size], (time.perf_counter() - start) / parallel)
    return seconds

  def warm_up(self, max_batch: int = 1, words: int = 0, measure: bool = True,
              parallel: int = 1) -> float:
    """Compiles the padded shapes requests are likely to bring; returns seconds.

    Each new input shape of an exported graph is an XLA compile (seconds), so they
    happen here, before /readyz, not on a client's time. With `measure`, the graph is
    timed on a typical example at batch sizes 1, 2, 4, ... up to `max_batch`, with
    `parallel` calls at once (the server's workers), and
    `batch_limit` becomes the size past which lines/s stops growing; then every batch
    size up to it (else every padded size up to `max_batch`) runs the task's warm-up
    examples (for text models, synthetic lines of 1 to `words` words: the export pads
    a batch's frame axis to a few lengths, htr/export.py `length_buckets`).
    """
    start = time.perf_counter()
    examples = self.serving.warm_up(words)
    if measure:
      self.graph_seconds = self.batch_seconds(examples[len(examples) // 2],
                                              batch_sizes(max_batch), parallel=parallel)
      self.batch_limit = choose_batch_limit(self.graph_seconds)
      sizes = batch_sizes(self.batch_limit)
    else:
      sizes = sorted({_batch_bucket(n) for n in range(1, max(max_batch, 1) + 1)})
    for size in sizes:
      for example in examples:
        self.run([example] * size)
    return time.perf_counter() - start


@dataclasses.dataclass
class PageModel:
  """A page reader: an exported line detector and an exported line recogniser, served as
  one model whose results are pages (`page_pipeline.summary`: text, confidence and the
  page JSON).

  Its folder holds `page.json`, {"detector": DIR, "reader": DIR}, the two exports'
  folders relative to it (subfolders, or siblings such as "../lines" that are also
  served alone, and then loaded once). A batch of pages runs the detector once; each
  page's lines then go to the reader in batches of `page_reading.BATCH_SIZE`. Lines the
  reader cannot take stay in the page without text, as `--skip_bad_lines` keeps them.

  Attributes:
    name: the model's name in URLs (its folder's name).
    path: its folder.
    detector, reader: the two exports.
    manifest: page.json.
  """

  name: str
  path: str
  detector: ServedModel = dataclasses.field(repr=False)
  reader: ServedModel = dataclasses.field(repr=False)
  manifest: dict[str, Any] = dataclasses.field(default_factory=dict)

  kind = "image_page"
  returns = "page"
  accepts = ["image"]

  @property
  def metadata(self) -> dict[str, Any]:
    return {"page": self.manifest, "detector": self.detector.metadata,
            "reader": self.reader.metadata}

  def info(self) -> dict[str, Any]:
    return {"name": self.name, "kind": self.kind, "inputs": self.accepts,
            "metadata": self.metadata}

  def prepare(self, value: Input, where: str) -> dict[str, Any]:
    """A page image -> the detector's example, with the image its lines are cut from."""
    return {"pixels": value, "where": where, "detector": self.detector.prepare(value, where)}

  @property
  def batch_limit(self) -> int:
    return self.detector.batch_limit

  def batch_key(self, example: dict[str, Any]) -> Hashable:
    return self.detector.batch_key(example["detector"])

  def run_stages(self, examples: list[dict[str, Any]]
                 ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """`run`, and its seconds as the "model" stage (detector and reader together)."""
    start = time.perf_counter()
    results = self.run(examples)
    return results, {"model": time.perf_counter() - start}

  def run(self, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prepared pages -> one response dict each (text, confidence, page), or
    {"error": why} for a page without lines."""
    from htr.image import page_pipeline
    found = self.detector.run([example["detector"] for example in examples])
    recognise = page_pipeline.recogniser(self.reader.prepare, self.reader.run)
    results = []
    for example, detected in zip(examples, found):
      try:
        reading = page_pipeline.read_detected(example["pixels"], detected["lines"], recognise,
                                              name=example["where"], strict=False)
      except InputError as e:
        results.append({"error": e.reason})
        continue
      results.append(page_pipeline.summary(reading))
    return results

  def warm_up(self, max_batch: int = 1, words: int = 0, parallel: int = 1) -> float:
    """Both exports' warm-ups (`ServedModel.warm_up`, the detector's timed with
    `parallel` calls at once), the reader's up to the batches of lines a page brings;
    returns seconds."""
    from htr.image import page_reading
    return (self.detector.warm_up(max_batch, parallel=parallel)
            + self.reader.warm_up(max(max_batch, page_reading.BATCH_SIZE), words,
                                  measure=False))


def _read_json(path: str) -> dict[str, Any]:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f"unreadable export metadata ({e})", path=path) from None


def load_page_model(name: str, folder: str, variant: str | None = None,
                    loaded: dict[str, ServedModel] | None = None) -> PageModel:
  """A folder with `page.json` -> PageModel; `loaded` (real path -> model) are reused.

  Raises:
    InputError: a manifest without both parts, or a part of the wrong kind; naming it.
  """
  path = os.path.join(folder, PAGE_MANIFEST)
  manifest = _read_json(path)
  parts = {}
  for part, returns in (("detector", "lines"), ("reader", "text")):
    if not isinstance(manifest.get(part), str):
      raise InputError(f"no {part!r}: a page model names its detector and reader exports, "
                       '{"detector": DIR, "reader": DIR}', path=path)
    where = os.path.realpath(os.path.join(folder, manifest[part]))
    model = (loaded or {}).get(where) or load_model(os.path.basename(where), where, variant)
    if model.returns != returns or "image" not in model.accepts:
      raise InputError(f"its {part} {manifest[part]!r} reads {'/'.join(model.accepts)} "
                       f"into {model.returns}, not images into {returns}", path=path)
    parts[part] = model
  return PageModel(name=name, path=folder, manifest=manifest, **parts)


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
  return ServedModel(name=name, path=path, metadata=metadata,
                     serving=task_from_metadata(metadata).serving(),
                     signature=loaded.signatures[metadata["signature"]["name"]],
                     saved_model=loaded)


def set_threads(intra_op: int, inter_op: int) -> None:
  """TensorFlow's thread pools (0: its default). They are fixed once TensorFlow has run
  an op, so a second server in one process (the tests) keeps the first one's."""
  import tensorflow as tf
  try:
    tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)
  except RuntimeError as e:
    log.info("TensorFlow threads already set (%s)", e)


def load_models(models_dir: str, variant: str | None = None, max_batch: int = 1,
                warm_up_words: int = 0, intra_op_threads: int = 0,
                inter_op_threads: int = 0, workers: int = 1
                ) -> dict[str, ServedModel | PageModel]:
  """{name: model} for every subfolder of `models_dir`, each loaded and warmed up
  (`ServedModel.warm_up`, measured with `workers` calls at once)."""
  if not os.path.isdir(models_dir):
    raise InputError("no such models folder", path=models_dir)
  set_threads(intra_op_threads, inter_op_threads)
  folders = [(name, os.path.join(models_dir, name)) for name in sorted(os.listdir(models_dir))
             if os.path.isdir(os.path.join(models_dir, name)) and not name.startswith(".")]
  pages = {name for name, folder in folders
           if os.path.isfile(os.path.join(folder, PAGE_MANIFEST))}
  models, loaded = {}, {}
  # Exports first, then page models, which reuse exports also served alone.
  for name, folder in sorted(folders, key=lambda item: item[0] in pages):
    if name in pages:
      model = load_page_model(name, folder, variant, loaded)
    else:
      model = loaded[os.path.realpath(folder)] = load_model(name, folder, variant)
    log.info("model %s (%s) from %s: warm-up %.2f s, batches of up to %d (graph lines/s "
             "by batch size: %s)", name, model.kind, model.path,
             model.warm_up(max_batch, warm_up_words, parallel=workers), model.batch_limit,
             {n: round(n / s, 1) for n, s in getattr(model, "graph_seconds", {}).items()})
    models[name] = model
  return dict(sorted(models.items()))
