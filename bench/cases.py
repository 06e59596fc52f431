"""The benchmark cases, each implemented for htr and for the peer on the same inputs.

A case function takes the number of timed repeats and returns a dict with the
figure (`value`, in the case's unit), the per-repeat seconds, and the seconds
spent compiling (htr: jit lower + compile; the eager peer: 0) and in the first
(warm-up) call, which are excluded from the medians (see `timed`).
"""

from __future__ import annotations

import importlib.util
import pathlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import inputs

BATCH = 32
LATENCY_LENGTHS = (400, 800, 1600)
INFER_MODEL_AXIS = 1  # Batch 32: "data" parallel over the cores (faster than "model" here).
BEAM_WIDTH = 16
BEAM_LINES = 4
PREPROCESS_LINES = 48
EPOCH_LINES = 256
RESAMPLE_SPACING = 0.1
FEATURES = ("dx", "dy", "dt", "pen_up")
WARMUP_S = 1.0  # Untimed calls before measuring, at least one.
MIN_MEASURE_S = 1.0  # Timed calls continue past `repeats` until this much time is measured.
_CONFIG = pathlib.Path(__file__).resolve().parent.parent / "configs" / "online_ctc.py"
_OFFLINE_CONFIG = _CONFIG.with_name("offline_crnn.py")
_DETECT_CONFIG = _CONFIG.with_name("page_detect.py")
PAGE_BATCH = 16  # Lines per recogniser call, as `htr recognize --detector` reads a page.
PAGE_SIDE = 1024  # configs/page_detect.py's working side for synthetic pages (data.page_size).


# ---------------------------------------------------------------------------
# Timing.
# ---------------------------------------------------------------------------
def timed(fn: Callable[[], Any], repeats: int, *, compile_s: float = 0.0) -> dict[str, Any]:
  """Seconds of `repeats` calls of `fn` (more, to fill MIN_MEASURE_S), after warming up.

  The first call is reported as the warm-up; further untimed calls follow until
  WARMUP_S has passed, because a millisecond case is still speeding up over its
  first dozen calls (caches, thread pools, CPU clocks) and a median of five
  would report that, not the steady state. Slow cases get their one warm-up call.
  The process's CPU seconds per call (all its threads) are reported beside: on a
  core shared with other work, one thread's wall time above them is time spent
  waiting for the core.
  """
  start = time.perf_counter()
  fn()
  warmup = time.perf_counter() - start
  while time.perf_counter() - start < WARMUP_S:
    fn()
  times, cpu = [], []
  while len(times) < repeats or sum(times) < MIN_MEASURE_S:
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return {"compile_s": compile_s, "warmup_s": warmup, "times_s": times,
          "median_s": float(np.median(times)), "p95_s": float(np.percentile(times, 95)),
          "cpu_median_s": float(np.median(cpu))}


def per_second(result: dict[str, Any], items: int) -> dict[str, Any]:
  return {**result, "value": items / result["median_s"]}


def milliseconds(result: dict[str, Any]) -> dict[str, Any]:
  return {**result, "value": 1000 * result["median_s"]}


# ---------------------------------------------------------------------------
# htr side.
# ---------------------------------------------------------------------------
def htr_config(size: str = "base", model_axis: int = 1):
  """configs/online_ctc.py at `size`, with the peer's dropout for the seed architecture."""
  spec = importlib.util.spec_from_file_location("online_ctc", _CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(f"size={size},model_axis={model_axis}")
  if size == "base":
    config.model.conv_dropout = 0.3
    config.model.lstm_dropout = 0.3
  config.batch_size = BATCH
  return config


def _htr_task(size: str = "base", model_axis: int = 1):
  from htr import tasks
  config = htr_config(size, model_axis)
  return config, tasks.get_task(config)


def _placed(config, state, batch):
  """(`state`, `batch`, the state's shardings) on the config's mesh over every device, as
  htr's trainer places them."""
  import jax

  from htr import sharding
  mesh = sharding.create_mesh(config.mesh)
  shardings = sharding.tree_shardings(state, mesh, config.sharding_rules)
  layout = sharding.BatchLayout.of(config, mesh)
  return jax.device_put(state, shardings), layout.put(batch), shardings


def _htr_batch(task, config, lengths: np.ndarray, padded: int) -> dict[str, np.ndarray]:
  labels, label_lengths = inputs.label_batch(lengths, task.alphabet.num_classes)
  full = np.zeros((len(lengths), config.data.max_label_length), np.int32)
  full[:, :labels.shape[1]] = labels
  return {"inputs": inputs.feature_batch(lengths, padded), "input_lengths": lengths,
          "labels": full, "label_lengths": label_lengths,
          "mask": np.ones(len(lengths), np.float32)}


def _htr_trainer(task, config, batch):
  """(train step, state, batch): fresh state and the step jitted with the trainer's shardings."""
  import jax
  import jax.numpy as jnp

  from htr import state as state_lib
  from htr import train

  tx = state_lib.make_optimizer(config)
  variables = task.init(jax.random.key(0), batch)
  params = variables.pop("params")
  state = state_lib.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                           model_state=dict(variables), opt_state=tx.init(params))
  state, batch, shardings = _placed(config, state, batch)
  step = jax.jit(train.make_train_step(task, tx, jax.random.key(1)),
                 in_shardings=(shardings, None), out_shardings=(shardings, None),
                 donate_argnums=0)
  return step, state, batch


def _padded(config, longest: int) -> int:
  return next(s for s in config.data.buckets if s >= longest)


def htr_train(repeats: int) -> dict[str, Any]:
  import jax
  config, task = _htr_task()
  lengths = inputs.bucketed_batch_lengths(BATCH)
  batch = _htr_batch(task, config, lengths, _padded(config, lengths.max()))
  step, state, batch = _htr_trainer(task, config, batch)
  start = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  holder = [state]

  def run():
    holder[0], aux = compiled(holder[0], batch)
    jax.block_until_ready(aux["loss"])
  return per_second(timed(run, repeats, compile_s=compile_s), BATCH)


def _htr_recogniser(size: str, batch_lengths: np.ndarray, padded: int, model_axis: int):
  """(compile seconds, recognise()) for jitted predict + labels to host lists."""
  import jax
  config, task = _htr_task(size, model_axis)
  batch = _htr_batch(task, config, batch_lengths, padded)
  variables = task.init(jax.random.key(0), batch)
  model_batch = {"inputs": batch["inputs"], "input_lengths": batch["input_lengths"]}
  variables, model_batch, _ = _placed(config, variables, model_batch)
  return _compiled_recogniser(task, variables, model_batch)


def _compiled_recogniser(task, variables, batch):
  """(compile seconds, recognise()): `task.predict` compiled for `batch`, and a call of
  it that brings the decoded ids to the host as lists."""
  import jax
  start = time.perf_counter()
  predict = jax.jit(task.predict).lower(variables, batch).compile()
  compile_s = time.perf_counter() - start

  def recognise():
    out = predict(variables, batch)
    tokens, counts = np.asarray(out["tokens"]), np.asarray(out["token_lengths"])
    return [t[:n].tolist() for t, n in zip(tokens, counts)]
  return compile_s, recognise


def _direction_devices() -> int:
  """Devices per BiLSTM for one line: its two directions on two cores when there are two."""
  import jax
  return 2 if jax.device_count() % 2 == 0 else 1


def htr_latency(repeats: int, frames: int, size: str = "base") -> dict[str, Any]:
  compile_s, recognise = _htr_recogniser(size, np.array([frames], np.int32), frames,
                                         _direction_devices())
  return milliseconds(timed(recognise, repeats, compile_s=compile_s))


def htr_infer(repeats: int) -> dict[str, Any]:
  config = htr_config()
  lengths = inputs.bucketed_batch_lengths(BATCH)
  compile_s, recognise = _htr_recogniser("base", lengths, _padded(config, lengths.max()),
                                         INFER_MODEL_AXIS)
  return per_second(timed(recognise, repeats, compile_s=compile_s), BATCH)


def _htr_preprocess_fn():
  from htr.ink import preprocess as pp

  def process(ink):
    ink = pp.resample(pp.normalize(pp.remove_duplicates(ink)), RESAMPLE_SPACING)
    return pp.features(ink, FEATURES)
  return process


def htr_preprocess(repeats: int) -> dict[str, Any]:
  inks = inputs.inks(PREPROCESS_LINES)
  process = _htr_preprocess_fn()
  result = per_second(timed(lambda: [process(i) for i in inks], repeats), len(inks))
  result["points_out"] = int(sum(len(process(i)) for i in inks))
  return result


def htr_greedy(repeats: int) -> dict[str, Any]:
  import jax

  from htr.decode import ctc
  lengths = inputs.bucketed_batch_lengths(BATCH)
  # On device, where htr's decoder finds a model's output (the peer's is in numpy's).
  logprobs, lengths = jax.device_put((inputs.peaky_logprobs(BATCH, int(lengths.max()), 80),
                                      lengths))
  start = time.perf_counter()
  decode = jax.jit(ctc.greedy_decode).lower(logprobs, lengths).compile()
  compile_s = time.perf_counter() - start

  def run():
    out = decode(logprobs, lengths)
    tokens, counts = np.asarray(out.tokens), np.asarray(out.token_lengths)
    return [t[:n].tolist() for t, n in zip(tokens, counts)]
  return per_second(timed(run, repeats, compile_s=compile_s), BATCH)


def htr_beam(repeats: int) -> dict[str, Any]:
  from htr.decode import ctc
  logprobs = inputs.peaky_logprobs(BEAM_LINES, inputs.TYPICAL_LENGTH, 80)
  return per_second(timed(lambda: [ctc.prefix_beam_search(lp, beam_width=BEAM_WIDTH)
                                   for lp in logprobs], repeats), BEAM_LINES)


def htr_compiles(repeats: int) -> dict[str, Any]:
  """Trains one epoch of EPOCH_LINES lines through htr's bucketing; counts compilations."""
  del repeats  # One epoch is the measurement.
  import grain
  import jax

  from htr.data.bucketing import BucketBatchDataset
  config, task = _htr_task("tiny")
  lengths = inputs.line_lengths(EPOCH_LINES, seed=1)
  num_classes = task.alphabet.num_classes
  examples = []
  for i, n in enumerate(lengths):
    labels, _ = inputs.label_batch(np.array([n]), num_classes, seed=i)
    examples.append({"inputs": inputs.feature_batch(np.array([n]), int(n), seed=i)[0],
                     "labels": labels[0]})
  pad, sort_key = task.padding()
  dataset = BucketBatchDataset(grain.MapDataset.source(examples), batch_size=BATCH, pad=pad,
                               sort_key=sort_key, window_batches=config.data.window_batches)
  step, state, _ = _htr_trainer(task, config, task.dummy_batch(BATCH))
  shapes = set()
  start = time.perf_counter()
  for batch in dataset:
    shapes.add(batch["inputs"].shape)
    state, aux = step(state, batch)
  jax.block_until_ready(aux["loss"])
  seconds = time.perf_counter() - start
  return {"value": step._cache_size(), "buckets_used": len(shapes), "steps": len(dataset),
          "epoch_s": seconds, "times_s": [seconds], "median_s": seconds, "compile_s": None,
          "warmup_s": None}


# ---------------------------------------------------------------------------
# htr side, offline: line images.
# ---------------------------------------------------------------------------
def offline_config(size: str = "small", model_axis: int = 1):
  """configs/offline_crnn.py at `size`, its SIZES as they are when the case runs."""
  spec = importlib.util.spec_from_file_location("offline_crnn", _OFFLINE_CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(f"size={size},model_axis={model_axis}")


def _offline_task(size: str):
  """(config, task) for one line as `htr --cpu_devices=2 recognize --model_axis=2` reads
  it: each BiLSTM's two directions on two devices when there are two (one line cannot
  split over "data")."""
  from htr import tasks
  config = offline_config(size, _direction_devices())
  return config, tasks.get_task(config)


def _init(task, batch):
  """Fresh variables, jitted with a fast key: timing does not depend on the weights, and
  threefry's initialisers take ~20-50 s to compile or run eagerly here."""
  import jax
  return jax.jit(task.init)(jax.random.key(0, impl="unsafe_rbg"), batch)


def _placed_model(config, task, batch):
  """(variables, layout): fresh variables for `batch` placed by the config's rules on its
  mesh, and the `BatchLayout` that puts an input there as `htr recognize` does (a line's
  columns, a page's rows split over "model" when the config says so)."""
  import jax

  from htr import sharding
  mesh = sharding.create_mesh(config.mesh)
  variables = _init(task, batch)
  variables = jax.device_put(variables, sharding.tree_shardings(variables, mesh,
                                                                config.sharding_rules))
  return variables, sharding.BatchLayout.of(config, mesh)


def _num_params(variables) -> int:
  import jax
  return int(sum(np.size(x) for x in jax.tree.leaves(variables["params"])))


def htr_offline_line(repeats: int, size: str = "small", width: int = inputs.LINE_WIDTH
                     ) -> dict[str, Any]:
  """One line image `[1, 64, width, 1]` through the CTC task's jitted predict (greedy)."""
  batch = {"inputs": inputs.line_input(width=width)[None, :, :, None],
           "input_lengths": np.array([width], np.int32)}
  config, task = _offline_task(size)
  variables, layout = _placed_model(config, task, batch)
  batch = layout.put(batch)
  compile_s, recognise = _compiled_recogniser(task, variables, batch)
  return {**milliseconds(timed(recognise, repeats, compile_s=compile_s)),
          "input_shape": list(batch["inputs"].shape), "frames": width // task.model.time_stride,
          "params": _num_params(variables)}


def htr_offline_read(repeats: int, size: str = "small", width: int = inputs.LINE_WIDTH
                     ) -> dict[str, Any]:
  """A grey picture `width` pixels wide to text, as `htr recognize` reads it
  (htr/predict.py): the config's pp_predict ops (`line_image`: ink map, background,
  crop, scale to 64 high), padding to the width bucket, jitted predict, texts."""
  import jax

  from htr.data import pipeline
  from htr.data.bucketing import collate
  config, task = _offline_task(size)
  picture = inputs.line_picture(width)
  pad = {"inputs": task.padding()[0]["inputs"]}

  def batch_of():
    return pipeline.host_batch(collate([task.prepare(picture, "line")], pad, 1), pad)
  first = batch_of()
  variables, layout = _placed_model(config, task, first)
  start = time.perf_counter()
  predict = jax.jit(task.predict).lower(variables, layout.put(first)).compile()
  compile_s = time.perf_counter() - start

  def read():
    return task.results(jax.tree.map(np.asarray, predict(variables, layout.put(batch_of()))))
  return {**milliseconds(timed(read, repeats, compile_s=compile_s)),
          "picture_shape": list(picture.shape), "read_width": int(first["input_lengths"][0]),
          "padded_width": int(first["inputs"].shape[2]), "params": _num_params(variables)}


# ---------------------------------------------------------------------------
# Pages (both sides share the host code; only the networks differ).
# ---------------------------------------------------------------------------
def detect_config(size: str = "small", page_size: int | None = None, model_axis: int = 1):
  """configs/page_detect.py (synthetic pages: 1024-pixel working side) at `size`."""
  spec = importlib.util.spec_from_file_location("page_detect", _DETECT_CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(f"size={size},model_axis={model_axis}")
  if page_size:
    config.data.page_size = page_size
  return config


def _detect_task(size: str, page_size: int | None):
  """(config, task) for one page as `htr --cpu_devices=2 recognize --page --model_axis=2`
  detects its lines: its rows split over two devices when there are two."""
  from htr import tasks
  config = detect_config(size, page_size, _direction_devices())
  return config, tasks.get_task(config)


def _true_maps(task, example: dict[str, Any], page) -> tuple[np.ndarray, np.ndarray]:
  """The region and edge maps of the page's true lines (`line_targets`, as the detector
  is trained to predict them)."""
  from htr.data import registry
  d = task.config.data
  targets = registry.build(f"line_targets(stride=4, shrink={d.shrink}, "
                           f"max_lines={d.max_lines})")
  polygons = [line.polygon * example["scale"] for line in page.lines]
  out = targets({**example, "polygons": polygons}, np.random.default_rng(0))
  return out["region"], out["edges"]


def _page_reader(task, detect: Callable[[np.ndarray], Any], recognise):
  """read(): the page's PNG bytes -> the page read, in two parts.

  Detection, `htr recognize --detector`'s first half (htr/cli.py): decode the image, fit
  it (`pp_predict`), run `detect` (a network: fitted page -> maps, on the host) and
  decode maps into lines on the host (`Task.page_lines`). An untrained detector finds no
  lines, so the maps decoded are the page's true ones (`_true_maps`), a trained
  detector's output at its best; their lines are not read.
  Reading, `htr recognize --lines`' way (`page_reading.read_page_lines`): the page's
  true lines, put in reading order by XY-cut, each cut from the page (`crop_line`) and
  read by `recognise` in batches of PAGE_BATCH. The two sides differ only in `detect`
  and `recognise`.
  """
  import dataclasses

  from htr import inputs as htr_inputs
  from htr.image import page_reading
  png = inputs.page_png()
  picture, page = inputs.page()
  region, edges = _true_maps(task, task.prepare(picture, "page"), page)
  given = dataclasses.replace(page, ordered=False)  # Its order is found by XY-cut.

  def read():
    pixels = htr_inputs.decode_image(png, "page")
    example = task.prepare(pixels, "page")
    detect(example["image"])
    task.page_lines(region, edges, float(example["scale"]), example["original_size"])
    return page_reading.read_page_lines(pixels, given, recognise, batch_size=PAGE_BATCH,
                                        where="page")
  return read


def _page_result(read, repeats: int, compile_s: float) -> dict[str, Any]:
  """ms per page; the first call (untimed, in `compile_s`) compiles what jit compiles
  on first use. Refuses a reading of another number of lines than the page's."""
  start = time.perf_counter()
  reading = read()
  compile_s += time.perf_counter() - start
  lines = len(reading.page.lines) - len(reading.failed)
  if lines != inputs.PAGE_LINES:
    raise ValueError(f"{lines} lines read, the page has {inputs.PAGE_LINES}")
  return {**milliseconds(timed(read, repeats, compile_s=compile_s)), "lines": lines}


def _htr_detector(size: str, page_size: int | None):
  """(task, params, compile seconds, detect): the detect task's predict jitted and
  compiled for one fitted page, and a call from a host page `[S, S, 1]` to host maps."""
  import jax
  config, task = _detect_task(size, page_size)
  batch = {"image": task.prepare(inputs.page()[0], "page")["image"][None]}
  # Fully convolutional: the parameters of any page size.
  variables, layout = _placed_model(config, task, {"image": np.zeros((1, 64, 64, 1), np.float32)})
  start = time.perf_counter()
  predict = jax.jit(task.predict).lower(variables, layout.put(batch)).compile()
  compile_s = time.perf_counter() - start

  def detect(image: np.ndarray) -> dict[str, np.ndarray]:
    return jax.tree.map(np.asarray, predict(variables, layout.put({"image": image[None]})))
  return task, _num_params(variables), compile_s, detect


def htr_page_detect(repeats: int, size: str = "small", page_size: int | None = None
                    ) -> dict[str, Any]:
  """The fitted page from the host through the detect task's jitted predict to its maps
  on the host."""
  task, params, compile_s, detect = _htr_detector(size, page_size)
  image = task.prepare(inputs.page()[0], "page")["image"]
  return {**milliseconds(timed(lambda: detect(image), repeats, compile_s=compile_s)),
          "input_shape": [1, *image.shape], "params": params}


def _htr_line_reader(size: str):
  """(params, recogniser): the offline CTC task's prepare (`line_image`) and a jitted
  predict over each collated batch, as `htr.predict.Predictor` runs them."""
  import jax

  from htr.data import pipeline
  from htr.data.bucketing import collate
  from htr.image import page_pipeline
  config, task = _offline_task(size)
  variables, layout = _placed_model(config, task, task.dummy_batch(1))
  pad = {"inputs": task.padding()[0]["inputs"]}
  predict = jax.jit(task.predict)

  def run(examples):
    batch = pipeline.host_batch(collate(examples, pad, len(examples)), pad)
    return task.results(jax.tree.map(np.asarray, predict(variables, layout.put(batch))))
  return _num_params(variables), page_pipeline.recogniser(task.prepare, run)


def htr_page_read(repeats: int, size: str = "small", line_size: str = "small",
                  page_size: int | None = None) -> dict[str, Any]:
  """The page read end to end (`_page_reader`): htr's detector and its offline CRNN
  reading the lines."""
  task, params, compile_s, detect = _htr_detector(size, page_size)
  line_params, recognise = _htr_line_reader(line_size)
  read = _page_reader(task, detect, recognise)
  return {**_page_result(read, repeats, compile_s),
          "params": {"detector": params, "recogniser": line_params}}


# ---------------------------------------------------------------------------
# Peer side.
# ---------------------------------------------------------------------------
def _peer_model(packed: bool = True):
  import torch

  from bench import peer_torch
  from htr.text.alphabet import Alphabet
  torch.manual_seed(0)
  return peer_torch.SeedModel(Alphabet.named("iam_ondb").num_classes, packed=packed)


def peer_train(repeats: int) -> dict[str, Any]:
  import torch

  from bench import peer_torch
  model = _peer_model(packed=False)  # The peer's fast path (see peer_torch).
  lengths = inputs.bucketed_batch_lengths(BATCH)
  labels, label_lengths = inputs.label_batch(lengths, model.fc.out_features)
  # The seed's collate pads to the longest line of the batch.
  features, lengths_t, labels_t, label_lengths_t = peer_torch.tensors(
      inputs.feature_batch(lengths, int(lengths.max())), lengths.astype(np.int64),
      labels.astype(np.int64), label_lengths.astype(np.int64))
  step = peer_torch.train_step_fn(model)
  torch.set_grad_enabled(True)
  return per_second(timed(lambda: step(features, lengths_t, labels_t, label_lengths_t),
                          repeats), BATCH)


def _peer_recogniser(lengths: np.ndarray):
  from bench import peer_torch
  model = _peer_model()
  features, lengths_t = peer_torch.tensors(inputs.feature_batch(lengths, int(lengths.max())),
                                           lengths.astype(np.int64))
  recognise = peer_torch.recognise_fn(model)
  return lambda: recognise(features, lengths_t)


def peer_latency(repeats: int, frames: int, size: str = "base") -> dict[str, Any]:
  del size  # The peer has one size: the seed's.
  return milliseconds(timed(_peer_recogniser(np.array([frames], np.int32)), repeats))


def peer_infer(repeats: int) -> dict[str, Any]:
  return per_second(timed(_peer_recogniser(inputs.bucketed_batch_lengths(BATCH)), repeats),
                    BATCH)


def peer_preprocess(repeats: int) -> dict[str, Any]:
  from bench import peer_seed
  inks = inputs.inks(PREPROCESS_LINES)
  strokes = [peer_seed.to_seed_strokes(i.points, i.stroke_lengths) for i in inks]
  # Same output density as htr's (not timed): the seed normalises the bounding box to
  # 60 units, htr the core zone to 1, so the seed's density is matched to htr's points.
  seed = peer_seed.SeedPreprocessor(target_height=60.0, resample_density=1.0)
  process = _htr_preprocess_fn()
  htr_points = sum(len(process(i)) for i in inks)
  arc = sum(len(seed.process(s)) for s in strokes)
  seed.resample_density = htr_points / arc
  result = per_second(timed(lambda: [seed.process(s) for s in strokes], repeats), len(inks))
  result["points_out"] = int(sum(len(seed.process(s)) for s in strokes))
  result["resample_density"] = seed.resample_density
  return result


def peer_greedy(repeats: int) -> dict[str, Any]:
  from bench import peer_torch
  lengths = inputs.bucketed_batch_lengths(BATCH)
  logprobs = inputs.peaky_logprobs(BATCH, int(lengths.max()), 80)

  def run():
    pred = logprobs.argmax(2)
    return [peer_torch.collapse(p[:n]) for p, n in zip(pred, lengths.tolist())]
  return per_second(timed(run, repeats), BATCH)


def peer_beam(repeats: int) -> dict[str, Any]:
  from bench import peer_seed
  logprobs = inputs.peaky_logprobs(BEAM_LINES, inputs.TYPICAL_LENGTH, 80)
  return per_second(timed(lambda: [peer_seed.prefix_beam_search(lp, BEAM_WIDTH)
                                   for lp in logprobs], repeats), BEAM_LINES)


def _peer_crnn():
  import torch

  from bench import peer_crnn
  from htr.text.alphabet import Alphabet
  torch.manual_seed(0)
  model = peer_crnn.SeedCRNN(Alphabet.named("iam_ondb").num_classes, height=inputs.LINE_HEIGHT)
  return model, peer_crnn.recognise_fn(model)


def _peer_params(model) -> int:
  return int(sum(p.numel() for p in model.parameters()))


def peer_offline_line(repeats: int, width: int = inputs.LINE_WIDTH) -> dict[str, Any]:
  import torch
  model, recognise = _peer_crnn()
  images = torch.from_numpy(inputs.line_input(width=width))[None, None]
  return {**milliseconds(timed(lambda: recognise(images), repeats)),
          "input_shape": list(images.shape), "params": _peer_params(model)}


def peer_offline_read(repeats: int, width: int = inputs.LINE_WIDTH) -> dict[str, Any]:
  """The same picture, read as a fixed-size pipeline does (resize to 64 x width, scale)."""
  from bench import peer_crnn
  from htr.text.alphabet import Alphabet
  model, recognise = _peer_crnn()
  alphabet = Alphabet.named("iam_ondb")
  picture = inputs.line_picture(width)

  def read():
    return [alphabet.decode(ids) for ids in
            recognise(peer_crnn.prepare(picture, inputs.LINE_HEIGHT, width))]
  return {**milliseconds(timed(read, repeats)), "picture_shape": list(picture.shape),
          "params": _peer_params(model)}


def _peer_detector(size: str, page_size: int | None):
  """(htr's detect task, for the host code; the PyTorch detector of its shape)."""
  import torch

  from bench import peer_detector
  _, task = _detect_task(size, page_size)
  torch.manual_seed(0)
  model = peer_detector.LineDetector(
      **{k: v for k, v in task.config.model.items() if k != "name"}, num_maps=3)
  return task, model


def peer_page_detect(repeats: int, size: str = "small", page_size: int | None = None
                     ) -> dict[str, Any]:
  """The same fitted page through the PyTorch detector to the same maps on the host."""
  from bench import peer_detector
  task, model = _peer_detector(size, page_size)
  image = task.prepare(inputs.page()[0], "page")["image"]
  detect = peer_detector.detect_fn(model)
  return {**milliseconds(timed(lambda: detect(image), repeats)),
          "input_shape": [1, 1, *image.shape[:2]], "params": peer_detector.num_params(model)}


def peer_page_read(repeats: int, size: str = "small", page_size: int | None = None
                   ) -> dict[str, Any]:
  """The same page, the same host code (`_page_reader`), the PyTorch detector and the
  CRNN of seed 004's kind reading each cut line as a fixed-size pipeline does
  (`peer_crnn.prepare`: 64 x LINE_WIDTH), PAGE_BATCH lines a call."""
  import torch

  from bench import peer_crnn, peer_detector
  from htr.text.alphabet import Alphabet
  task, model = _peer_detector(size, page_size)
  crnn, recognise_lines = _peer_crnn()
  alphabet = Alphabet.named("iam_ondb")

  def recognise(images):
    batch = torch.cat([peer_crnn.prepare(image, inputs.LINE_HEIGHT, inputs.LINE_WIDTH)
                       for image in images])
    return [{"text": alphabet.decode(ids)} for ids in recognise_lines(batch)]
  read = _page_reader(task, peer_detector.detect_fn(model), recognise)
  return {**_page_result(read, repeats, 0.0),
          "params": {"detector": peer_detector.num_params(model),
                     "recogniser": _peer_params(crnn)}}
