"""The line detector: page ops and targets, decoding and metrics, the session's tiny trained
detector (conftest `line_detector`) and its export."""

import jax
import numpy as np
import pytest

from htr import inputs
from htr.data import registry
from htr.image import page_pipeline, page_reading, page_records
from htr.tasks import detect, get_task
from htr_datasets.page_layout import Builder, fixture

SIZE = 256
EVAL_SPEC = ("decode_page|fit_page(size=256, stride=32)"
             "|line_targets(stride=4, shrink=0.5, max_lines=32)")


@pytest.fixture(scope="module")
def pages(tmp_path_factory, build_dataset):
  """The page_layout fixture's pages (all lines) as records."""
  root = tmp_path_factory.mktemp("layout")
  fixture.write_fixture(root / "manual")
  _, sources = build_dataset(Builder, root / "data", manual_dir=root / "manual", config="all")
  return [row for source in sources.values() for row in source]


def _line_boxes(record, scale):
  page = page_records.record_to_page(record)
  return np.array([line.box for line in page.lines], np.float32) * scale


def test_targets_have_the_shapes_and_cover_every_line(pages):
  ops = registry.build(EVAL_SPEC)
  for record in pages:
    example = ops(dict(record), np.random.default_rng(0))
    assert example["image"].shape == (SIZE, SIZE, 1) and example["image"].dtype == np.float32
    assert example["region"].shape == (SIZE // 4, SIZE // 4)
    assert example["edges"].shape == (SIZE // 4, SIZE // 4, 2)
    assert (example["edges"][example["region"] == 0] == 0).all()
    assert (example["edges"][example["region"] == 1] > 0).all()
    scale = float(example["scale"])
    assert scale == pytest.approx(SIZE / max(int(record["width"]), int(record["height"])))
    n = int(example["num_boxes"])
    boxes = _line_boxes(record, scale)
    assert n == len(boxes) and example["boxes"].shape == (32, 4)
    np.testing.assert_allclose(example["boxes"][:n], boxes, atol=1e-3)
    assert not example["boxes"][n:].any()
    # Each line's core is inside its box, and its box's middle is marked.
    for left, top, right, bottom in boxes:
      cx, cy = int((left + right) / 8), int((top + bottom) / 8)
      assert example["region"][cy, cx] == 1.0
    marked = np.argwhere(example["region"]) * 4 + 2
    inside = [((boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y)
               & (y <= boxes[:, 3])).any() for y, x in marked]
    assert all(inside)


def test_augmentation_moves_lines_with_the_image(pages):
  spec = EVAL_SPEC.replace("|line_targets", "|page_augment(p=1.0, jpeg_p=1.0, blur_p=1.0)"
                           "|line_targets")
  ops = registry.build(spec)
  record = max(pages, key=lambda r: len(r["line_id"]))
  plain = registry.build(EVAL_SPEC)(dict(record), np.random.default_rng(0))
  for seed in range(3):
    example = ops(dict(record), np.random.default_rng(seed))
    assert example["image"].shape == (SIZE, SIZE, 1)
    assert 0.0 <= example["image"].min() and example["image"].max() <= 1.0
    assert int(example["num_boxes"]) == int(plain["num_boxes"])
    # Ink stays inside the moved boxes: more ink in the boxes than outside, per pixel.
    image = example["image"][..., 0]
    inside = np.zeros(image.shape, bool)
    for left, top, right, bottom in example["boxes"][:int(example["num_boxes"])]:
      inside[int(top):int(np.ceil(bottom)), int(left):int(np.ceil(right))] = True
    assert image[inside].mean() > image[~inside].mean()


def test_a_perfect_map_decodes_to_the_lines_boxes(pages, load_config):
  config = load_config("page_detect", "runlocal,size=tiny")
  task = get_task(config)
  ops = registry.build(EVAL_SPEC)
  examples = [ops(dict(record), np.random.default_rng(0)) for record in pages]
  batch = {"id": np.array([str(r["id"]) for r in pages], object),
           "mask": np.ones(len(examples), np.float32),
           **{k: np.stack([e[k] for e in examples]) for k in ("boxes", "num_boxes")}}
  outputs = {k: np.stack([e[k] for e in examples]) for k in ("region", "edges")}
  records = task.records(batch, outputs)
  for record in records:
    truth = np.array(record["boxes"])
    found = np.array([line["box"] for line in record["lines"]])
    assert len(found) == len(truth)
    assert (detect.box_iou(found, truth).max(1) > 0.8).all()
  metrics = task.summarize(records)
  assert metrics["f1"] == 1.0 and metrics["precision"] == 1.0 and metrics["recall"] == 1.0
  assert metrics["map50"] == pytest.approx(1.0)
  assert metrics["map50_95"] > 0.8  # The edges give each line's height to a pixel.
  # Nothing found scores 0, and extra boxes lower precision only.
  empty = [{**r, "lines": [], "matched": 0} for r in records]
  assert task.summarize(empty)["map50"] == 0.0 and task.summarize(empty)["f1"] == 0.0


def test_results_are_page_lines_that_read_in_order(pages, load_config):
  config = load_config("page_detect", "runlocal,size=tiny")
  task = get_task(config)
  record = max(pages, key=lambda r: len(r["line_id"]))
  example = registry.build(EVAL_SPEC)(dict(record), np.random.default_rng(0))
  outputs = {"region": example["region"][None], "edges": example["edges"][None],
             "scale": example["scale"][None],
             "original_size": example["original_size"][None]}
  (result,) = task.results(outputs)
  width, height = int(record["width"]), int(record["height"])
  truth = _line_boxes(record, 1.0)
  found = np.array([line["box"] for line in result["lines"]])
  assert (detect.box_iou(found, truth).max(0) > 0.7).all()  # Page pixels again.
  page = page_pipeline.detected_page(result["lines"], width, height, "page.png")
  assert page.ordered and len(page.lines) == len(truth)
  tops = [line.box[1] for line in page.lines]
  assert tops == sorted(tops)  # One column: top to bottom.
  for line in page.lines:
    assert line.baseline[0, 0] <= line.baseline[-1, 0]
    assert line.baseline[:, 1].mean() > line.polygon[:, 1].mean()  # The bottom edge.
  # The page reader cuts and reads every detected line.
  image = inputs.decode_image(record["image_bytes"], "page.png", formats=None)
  reading = page_reading.read_page_lines(
      image, page, lambda crops: [{"text": f"{c.shape[0]}", "confidence": 0.5} for c in crops])
  assert [line.text for line in reading.page.lines] and not reading.failed
  assert all(int(line.text) > 0 for line in reading.page.lines)
  # A user's image (the `htr` command's input) becomes the model's input.
  example = task.prepare(image, "page.png")
  assert example["image"].shape == (SIZE, SIZE, 1)
  np.testing.assert_array_equal(example["original_size"], [width, height])


def test_decoding_separates_touching_lines():
  region = np.zeros((32, 32), np.float32)
  region[5:7, 4:28] = 1.0
  region[8:10, 4:28] = 1.0  # A gap of one row: two lines.
  lines = detect.decode_lines(region, shrink=0.5)  # Without edges: grown by the ratio.
  assert len(lines) == 2
  top, bottom = sorted(lines, key=lambda line: line["box"][1])
  assert top["box"][3] <= bottom["box"][1] + 4 * 1.5


def test_linking_joins_a_line_split_by_wide_gaps_but_not_columns():
  region = np.zeros((40, 120), np.float32)
  region[5:9, 4:30] = region[5:9, 33:60] = 1.0     # One line, a gap of 3 cells (< 4).
  region[20:24, 4:40] = region[21:25, 80:116] = 1.0  # Two columns, 40 cells apart.
  assert len(detect.decode_lines(region, shrink=0.5)) == 4
  linked = detect.decode_lines(region, shrink=0.5, link_gap=1.0)
  assert sorted(line["box"][2] - line["box"][0] > 200 for line in linked) == [False, False, True]


def test_runlocal_training_on_8_devices_finds_the_lines(line_detector):
  assert jax.device_count() == 8
  metrics, _ = line_detector
  for key in ("map50", "map50_95", "f1", "precision", "recall"):
    assert np.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 1.0
  assert metrics["map50"] > 0.5  # Trained on these pages: it finds them (0.98 measured).


def test_a_page_split_by_rows_over_two_devices_finds_the_lines_of_one(line_detector, pages):
  """configs/page_detect.py's batch_sharding_rules: with `model_axis=2` each device runs
  the network on a band of rows (XLA exchanges the rows at the seams)."""
  from jax.sharding import PartitionSpec as P

  from htr.predict import Predictor
  _, workdir = line_detector
  images = [inputs.decode_image(r["image_bytes"], "page", formats=None) for r in pages]
  whole = Predictor(workdir)(images)
  split = Predictor(workdir, model_axis=2)
  assert split.layout.sharding("image", (1, 256, 256, 1)).spec == P(None, "model", None, None)
  found = 0
  for a, b in zip(split(images), whole, strict=True):
    assert len(a["lines"]) == len(b["lines"])
    for x, y in zip(a["lines"], b["lines"]):
      np.testing.assert_allclose(x["polygon"], y["polygon"], atol=0.1)
    found += len(b["lines"])
  assert found >= len(pages)


def test_the_saved_model_gives_the_checkpoints_maps_and_lines(line_detector, detector_export,
                                                              pages):
  import json

  import tensorflow as tf

  from htr import checkpoint
  _, workdir = line_detector
  with open(f"{detector_export}/metadata.json", encoding="utf-8") as f:
    metadata = json.load(f)
  assert metadata["input_kind"] == "image" and metadata["returns"] == "lines"
  task, variables, _ = checkpoint.restore_for_inference(workdir)
  serving = task.serving()
  images = [inputs.decode_image(r["image_bytes"], "page", formats=None) for r in pages]
  examples = [serving.prepare(image, f"page{i}") for i, image in enumerate(images)]
  batch = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
  model = tf.saved_model.load(f"{detector_export}/float32")
  got = {k: v.numpy() for k, v in model.signatures["serving_default"](
      **{k: tf.constant(v) for k, v in batch.items()}).items()}
  want = jax.device_get(jax.jit(task.predict)(variables, batch))
  np.testing.assert_allclose(got["region"], want["region"], atol=1e-5)
  np.testing.assert_allclose(got["edges"], want["edges"], atol=1e-4)
  np.testing.assert_array_equal(got["original_size"], batch["original_size"])
  found = 0
  for i, result in enumerate(task.results(want)):
    served = serving.result({k: got[k][i] for k in ("region", "edges", "scale", "original_size")})
    assert len(served["lines"]) == len(result["lines"])
    for a, b in zip(served["lines"], result["lines"]):  # Maps agree to 1e-5: lines to 0.1 px.
      np.testing.assert_allclose(a["polygon"], b["polygon"], atol=0.1)
      assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    found += len(result["lines"])
  assert found >= len(pages)  # Lines were found, so their parity was checked.
