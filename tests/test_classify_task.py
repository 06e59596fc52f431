"""The classification task: loss arithmetic, masking, top-5 metrics and the confusion files."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from htr import metrics
from htr.ink import records
from htr.ink.ink import Ink
from htr.tasks import classify


TINY_CNN = {"name": "cnn", "conv_features": (4, 4, 8, 8), "dense_features": (8,),
            "conv_dropout": (0.0,) * 4, "dense_dropout": 0.0}


def _task(classes="012345", model=None):
  config = ml_collections.ConfigDict({
      "task": "classify", "classes": classes, "label_smoothing": 0.0,
      "model": model or TINY_CNN, "data": {"image_shape": (28, 28, 1)}})
  return classify.Task(config)


def test_cross_entropy_with_label_smoothing():
  logits = jnp.array([[2.0, 0.0, 0.0, -1.0]])
  log_p = jax.nn.log_softmax(logits[0])
  targets = np.array([0.9 + 0.025, 0.025, 0.025, 0.025])
  np.testing.assert_allclose(classify.cross_entropy(logits, jnp.array([0]), 0.1),
                             [-(targets * log_p).sum()], rtol=1e-6)
  np.testing.assert_allclose(classify.cross_entropy(logits, jnp.array([3]), 0.0),
                             [-log_p[3]], rtol=1e-6)
  uniform = jnp.zeros((2, 5))
  np.testing.assert_allclose(classify.cross_entropy(uniform, jnp.array([1, 4]), 0.3),
                             [np.log(5)] * 2, rtol=1e-6)


def test_loss_ignores_masked_rows():
  task = _task()
  rng = np.random.default_rng(0)
  batch = {"image": rng.uniform(size=(4, 28, 28, 1)).astype(np.float32),
           "label": np.array([1, 2, 3, 4], np.int32), "mask": np.array([1, 1, 0, 0], np.float32)}
  variables = task.init(jax.random.key(0), batch)
  params = variables.pop("params")
  loss, (state, aux) = task.loss(params, variables, batch, jax.random.key(1))
  padded = {**batch, "image": batch["image"].copy(), "label": np.array([1, 2, 0, 5], np.int32)}
  padded["image"][2:] = 50.0
  loss_padded, (state_padded, _) = task.loss(params, variables, padded, jax.random.key(1))
  real = {k: v[:2] for k, v in batch.items()}
  loss_real, _ = task.loss(params, variables, real, jax.random.key(1))
  np.testing.assert_allclose([loss, loss_padded], [loss_real] * 2, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               state, state_padded)
  assert set(aux) == {"loss", "accuracy"}


def _crafted():
  """4 rows over 6 classes: label ranked 1st, 3rd, 6th, and a masked row."""
  logits = jnp.array([[5.0, 1, 0, 0, 0, 0],
                      [3.0, 2, 0, 1, -1, -2],
                      [0.0, 1, 2, 3, 4, -9],
                      [0.0, 0, 0, 0, 0, 9]])
  batch = {"label": np.array([0, 3, 5, 1]), "mask": np.array([1, 1, 1, 0], np.float32),
           "id": np.array(["a", "b", "c", "pad"], object)}
  return logits, batch


def test_top5_records_and_accuracy_on_crafted_logits():
  task = _task()
  logits, batch = _crafted()
  outputs = jax.tree.map(np.asarray, classify.top_k(logits, jnp.asarray(batch["label"])))
  records = task.records(batch, outputs)
  assert [r["id"] for r in records] == ["a", "b", "c"]
  assert [r["prediction"] for r in records] == ["0", "0", "4"]
  assert [r["correct"] for r in records] == [True, False, False]
  assert [r["top5_correct"] for r in records] == [True, True, False]
  assert [c for c, _ in records[1]["top5"]] == ["0", "1", "3", "2", "4"]
  probs = jax.nn.softmax(logits[1])
  np.testing.assert_allclose([p for _, p in records[1]["top5"]], np.sort(probs)[::-1][:5],
                             rtol=1e-6)
  np.testing.assert_allclose(records[1]["label_prob"], probs[3], rtol=1e-6)
  summary = task.summarize(records)
  np.testing.assert_allclose([summary["accuracy"], summary["top5_accuracy"]], [1 / 3, 2 / 3])
  assert summary["num_examples"] == 3
  assert task.worst(records, 1)[0]["id"] == "c"
  # The on-device clu metric agrees with the host records.
  for k, expected in ((1, 1 / 3), (5, 2 / 3)):
    metric = metrics.TopKAccuracy.from_model_output(logits, jnp.asarray(batch["label"]),
                                                    batch["mask"], k=k)
    np.testing.assert_allclose(metric.compute(), expected, rtol=1e-6)
  merged = metrics.TopKAccuracy.from_hits([True]).merge(metrics.TopKAccuracy.from_hits([False]))
  assert float(merged.compute()) == 0.5


def test_confusion_matrix_json_and_png(tmp_path):
  task = _task()
  logits, batch = _crafted()
  outputs = jax.tree.map(np.asarray, classify.top_k(logits, jnp.asarray(batch["label"])))
  task.save_artifacts(task.records(batch, outputs), str(tmp_path), "eval_test")
  report = json.load(open(tmp_path / "eval_test_confusion.json"))
  assert report["classes"] == list("012345")
  assert report["per_class"]["0"] == {"count": 1, "accuracy": 1.0}
  assert report["per_class"]["3"] == {"count": 1, "accuracy": 0.0}
  assert report["per_class"]["1"] == {"count": 0, "accuracy": None}
  assert report["matrix"][3][0] == 1 and report["matrix"][5][4] == 1
  assert sorted(map(tuple, report["most_confused"])) == [("3", "0", 1), ("5", "4", 1)]
  image = Image.open(tmp_path / "eval_test_confusion.png")
  assert image.mode == "RGB" and image.width > 6 * 12 and image.height > 6 * 12


def test_classes_model_choice_and_metadata():
  task = _task("ab", {"name": "cnn.ResNet", "stem_features": 4, "stage_features": (4,),
                      "blocks_per_stage": (1,)})
  assert task.metadata() == {"classes": "ab"}
  assert type(task.model).__name__ == "ResNet" and task.model.num_classes == 2
  restored = classify.Task(task.config, {"classes": "ba"})  # The checkpoint's order wins.
  assert restored.classes == "ba"


def test_char_cnn_config_variants(config_module):
  """Every data/model choice builds its ops and its task; EMNIST is transposed upright."""
  from htr.data import registry
  module = config_module("char_cnn")
  num_classes = {"digits": 10, "synthetic94": 94, "emnist94": 94, "real94": 94, "crohme94": 94,
                 "emnist/byclass": 62, "emnist/bymerge": 47, "emnist/balanced": 47,
                 "emnist/letters": 26, "emnist/digits": 10, "emnist/mnist": 10}
  assert set(num_classes) == set(module.DATASETS)
  image = np.zeros((28, 28, 1), np.uint8)
  image[3, 20] = 255
  seven = records.ink_to_record(Ink.from_strokes([np.array(
      [[0.0, 0, 0], [10, 0, 0.1], [4, 20, 0.2]])]))
  for data, n in num_classes.items():
    for model in ("cnn", "resnet"):
      config = module.get_config(f"data={data},model={model},size=base")
      assert len(classify.Task(config).classes) == n
    first_label = 1 if data == "emnist/letters" else 0
    # A mixture's components bring their records to a common form first: each gets a
    # record of its own kind, and the label that record should end up with.
    parts = config.data.mixture.values() if config.data.mixture else [{"pp": ""}]
    for part in parts:
      if "render_glyph" in part["pp"] + config.data.pp_eval:  # Real symbols: ink, character.
        record, label = {"ink": seven, "char": b"7", "id": b"x"}, 7
      elif "from_classes='digits'" in part["pp"]:
        record, label = {"image": image, "label": np.int64(9), "id": b"x"}, 9
      else:
        record = {"image": image, "label": np.int64(n - 1 + first_label), "id": b"x"}
        label = n - 1
      stored = registry.build(part["pp"])(dict(record), np.random.default_rng(0))
      out = registry.build(config.data.pp_eval.format(**config.data))(
          stored, np.random.default_rng(0))
      assert out["image"].shape == (28, 28, 1) and out["label"] == label
      if "ink" not in record:
        transposed = data.startswith("emnist/") or "emnist" in part.get("name", "")
        assert out["image"][20, 3, 0] == 1.0 if transposed else out["image"][3, 20, 0]
      registry.build(config.data.pp_train.format(**config.data))(
          stored, np.random.default_rng(0))


def test_emnist94_trains_one_step_on_8_devices_under_tfds_mock_data(tmp_path, load_config):
  """The byclass + symbols mixture end to end; TFDS's mock stands in for both downloads."""
  import tensorflow_datasets as tfds

  from htr import train
  config = load_config("char_cnn", "data=emnist94,runlocal,size=tiny")
  config.data.data_dir = str(tmp_path / "tfds")
  assert jax.device_count() == 8
  with tfds.testing.mock_data(num_examples=64):
    metrics_ = train.train_and_evaluate(config, str(tmp_path / "work"))
  assert 0.0 <= metrics_["accuracy"] <= 1.0 and metrics_["num_examples"] == 8


def test_subset_scores_restrict_the_choice_to_the_subset():
  """A '1' read as '|' over all classes is still a right digit when only digits may win."""
  config = ml_collections.ConfigDict({
      "task": "classify", "classes": "01|a", "label_smoothing": 0.0, "model": TINY_CNN,
      "data": {"image_shape": (28, 28, 1)}, "subsets": {"digits": "01"}})
  task = classify.Task(config)
  logits = jnp.array([[0.0, 2.0, 3.0, -1.0],    # '1' -> '|' overall, '1' among digits
                      [1.0, 2.0, 0.0, 0.0],     # '0' -> '1': wrong either way
                      [0.0, 0.0, 0.0, 5.0]])    # 'a': not a digit, not scored
  np.testing.assert_array_equal(classify.subset_argmax(logits, task.subsets["digits"]),
                                [1, 1, 0])
  outputs = {**classify.top_k(logits, jnp.array([1, 0, 3])),
             "digits_id": classify.subset_argmax(logits, task.subsets["digits"])}
  batch = {"label": np.array([1, 0, 3]), "mask": np.ones(3)}
  summary = task.summarize(task.records(batch, jax.tree.map(np.asarray, outputs)))
  assert summary["accuracy"] == pytest.approx(1 / 3)
  assert summary["digits_accuracy"] == 0.5 and summary["digits_examples"] == 2


def test_a_subset_outside_the_classes_is_refused():
  config = ml_collections.ConfigDict({
      "task": "classify", "classes": "01", "label_smoothing": 0.0, "model": TINY_CNN,
      "data": {"image_shape": (28, 28, 1)}, "subsets": {"digits": "digits"}})
  with pytest.raises(ValueError, match="subsets.digits"):
    classify.Task(config).subsets
