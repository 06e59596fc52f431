"""The trainer end to end, small: every config, exact resume, retraces, reports."""

import glob
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from htr import checkpoint, evaluate, sharding, train
from htr import state as state_lib
from htr.data import pipeline
from htr.tasks import get_task

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "*.py")))
CONFIGS = [c for c in CONFIGS if not os.path.basename(c).startswith("_")]


@pytest.fixture
def tiny(data_dir, load_config):
  """`tiny(**overrides)`: the tiny online_ctc config on the session's data, with dotted
  overrides ("model.lstm_units": (8,))."""
  def make(**overrides):
    config = load_config("online_ctc", "runlocal,size=tiny")
    config.data.data_dir = data_dir
    for key, value in overrides.items():
      target = config
      *parents, leaf = key.split(".")
      for p in parents:
        target = target[p]
      target[leaf] = value
    return config
  return make


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_one_step_of_every_config_on_8_devices(path, data_dir, tmp_path, load_config):
  assert jax.device_count() == 8
  config = load_config(path, "runlocal,size=tiny")
  config.data.data_dir = data_dir
  metrics = train.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(metrics[get_task(config).main_metric[0]])
  assert os.listdir(tmp_path / "checkpoints") and os.listdir(tmp_path / "best")


def test_resume_continues_bit_for_bit(tmp_path, tiny):
  overrides = {"num_train_steps": 4, "checkpoint_every": 2, "eval_every": 100,
               "log_every": 2}
  straight = tmp_path / "straight"
  train.train_and_evaluate(tiny(**overrides), str(straight))
  resumed = tmp_path / "resumed"
  train.train_and_evaluate(tiny(**{**overrides, "num_train_steps": 2}),
                           str(resumed))
  train.train_and_evaluate(tiny(**overrides), str(resumed))
  a = checkpoint.restore_for_inference(str(straight), which="checkpoints")[1]
  b = checkpoint.restore_for_inference(str(resumed), which="checkpoints")[1]
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_an_early_stopped_run_stays_stopped_when_rerun(tmp_path, tiny):
  """Rerunning used to train `eval_every` more steps each time and replace `best/`."""
  config = tiny(num_train_steps=40, eval_every=2, early_stopping_patience=1)
  config.optimizer.learning_rate = 0.0  # Only BatchNorm statistics move: it soon stalls.
  train.train_and_evaluate(config, str(tmp_path))
  stopped = sorted(os.listdir(tmp_path / "checkpoints"), key=int)
  best = sorted(os.listdir(tmp_path / "best"))
  assert int(stopped[-1]) < 40
  # best/ holds the step the progress names (a tie used to let orbax keep a later one).
  meta = json.loads((tmp_path / "checkpoints" / stopped[-1] / "meta" / "metadata").read_text())
  assert best == [str(meta["progress"]["best_step"])]
  assert train.train_and_evaluate(config, str(tmp_path)) == {}
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == stopped
  assert sorted(os.listdir(tmp_path / "best")) == best


def test_init_from_starts_from_another_runs_best_weights(tmp_path, tiny):
  source = tmp_path / "source"
  train.train_and_evaluate(tiny(num_train_steps=2), str(source))
  # A zero learning rate keeps the starting weights, so they can be compared.
  tuned = tmp_path / "tuned"
  train.train_and_evaluate(tiny(init_from=str(source), num_train_steps=1,
                                 **{"optimizer.learning_rate": 0.0}), str(tuned))
  start = checkpoint.restore_for_inference(str(source))[1]["params"]
  after = checkpoint.restore_for_inference(str(tuned), which="checkpoints")[1]["params"]
  jax.tree.map(np.testing.assert_array_equal, start, after)
  # ... which are not the weights this config's seed starts from.
  fresh = _fresh(tiny())[3].params
  assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, start, fresh)))

  with pytest.raises(ValueError, match="init_from=.*do not fit this model"):
    train.train_and_evaluate(tiny(init_from=str(source),
                                   **{"model.lstm_units": (8,)}), str(tmp_path / "wider"))


def _fresh(config):
  """(task, optimizer, mesh, initial state, its shardings) of a new run of `config`."""
  task = get_task(config)
  tx = state_lib.make_optimizer(config)
  mesh = sharding.create_mesh(config.mesh)
  state, shardings = state_lib.create_state(task, tx, mesh, config)
  return task, tx, mesh, state, shardings


def test_the_trainers_step_compiles_once_per_bucket(tiny):
  config = tiny()
  task, tx, mesh, state, shardings = _fresh(config)
  layout = sharding.BatchLayout(mesh)
  step = train.jit_train_step(task, tx, config, shardings)
  for length in (128, 192, 128, 192, 128):
    batch = task.dummy_batch(config.batch_size)
    batch["inputs"] = np.zeros((config.batch_size, length, 4), np.float32)
    state, _ = step(state, layout.put(batch))
  assert step._cache_size() == 2  # One executable per bucket length, reused.


def test_nan_loss_stops_with_a_clear_error(tmp_path, monkeypatch, tiny):
  from htr.tasks import ctc
  original = ctc.Task.loss

  def nan_loss(self, *args):
    loss, aux = original(self, *args)
    return loss * np.nan, aux
  monkeypatch.setattr(ctc.Task, "loss", nan_loss)
  with pytest.raises(FloatingPointError, match=r"training loss is nan at step \d+ .*learning_rate"):
    train.train_and_evaluate(tiny(), str(tmp_path))


def test_eval_report_and_recognition(data_dir, tmp_path, tiny):
  config = tiny(num_train_steps=2)
  train.train_and_evaluate(config, str(tmp_path))
  report = evaluate.evaluate(config, str(tmp_path), split="test")
  saved = json.load(open(tmp_path / "eval_synthetic_ink_tiny_test.json"))
  assert saved["metrics"] == report["metrics"]
  assert {"cer", "wer", "char_accuracy", "mean_normalised_edit_distance"} <= set(saved["metrics"])
  assert 0.0 <= saved["metrics"]["mean_normalised_edit_distance"] <= 1.0
  assert len(saved["predictions"]) == report["metrics"]["num_examples"] > 0
  assert saved["worst"][0]["cer"] == max(p["cer"] for p in saved["predictions"])

  from htr.ink.records import record_to_ink
  from htr.predict import Predictor
  source = pipeline.load_source(config.data.name, "test", data_dir=data_dir)
  inks = [record_to_ink(source[i]["ink"]) for i in range(3)]
  results = Predictor(str(tmp_path))(inks)
  assert len(results) == 3
  assert all(isinstance(r["text"], str) and 0.0 <= r["confidence"] <= 1.0 for r in results)
  # The BiLSTM directions on two devices each: the same texts and confidences.
  split = Predictor(str(tmp_path), model_axis=2)
  assert split.variables["params"]["BiLSTM_0"]["recurrent_kernel"].sharding.spec == P("model")
  for one, two in zip(results, split(inks)):
    assert one["text"] == two["text"]
    np.testing.assert_allclose(one["confidence"], two["confidence"], atol=1e-5)


def test_a_restored_task_keeps_the_characters_of_its_checkpoint(tiny):
  """The config's alphabet name may mean other characters now; the weights do not."""
  config = tiny(alphabet="abc")
  assert get_task(config, {"alphabet": "abd"}).alphabet.chars == "abd"
  assert get_task(config).alphabet.chars == "abc"


def test_a_config_without_an_input_shape_is_a_clear_error(tiny):
  """Configs saved before CTC read images too have neither field."""
  config = tiny()
  del config.data["input_shape"]
  with pytest.raises(ValueError, match="no input_shape: for ink, set data.input_kind='ink'"):
    get_task(config)


def test_a_model_sharded_over_more_devices_restores_on_one(tmp_path, tiny):
  """A "model" axis of 2 used to make the checkpoint unusable on a 1-device machine."""
  config = tiny(num_train_steps=1, mesh=(("data", -1), ("model", 2)))
  train.train_and_evaluate(config, str(tmp_path))
  script = ("import sys; from htr.checkpoint import restore_for_inference; "
            "print(restore_for_inference(sys.argv[1])[2].mesh)")
  done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                        text=True, timeout=300, env={**os.environ, "XLA_FLAGS": ""})
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.split("\n")[-2] == "[['data', -1], ['model', 1]]"


@pytest.mark.parametrize("key", ["batch_size", "eval_batch_size"])
def test_batch_sizes_the_data_axis_cannot_split_are_refused_up_front(tmp_path, key, tiny):
  config = tiny(**{key: 3})  # 8 devices on "data".
  with pytest.raises(ValueError, match=f"{key}=3 must be a multiple of the data axis"):
    train.train_and_evaluate(config, str(tmp_path))
  if key == "eval_batch_size":  # Before restoring anything: this workdir has nothing.
    with pytest.raises(ValueError, match="eval_batch_size=3 must be a multiple"):
      evaluate.evaluate(config, str(tmp_path))


def test_workdir_path_keeps_uris_and_anchors_local_folders(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  # os.path.abspath made `gs://b/run` into `<cwd>/gs:/b/run` on every worker's disk.
  assert str(checkpoint.workdir_path("gs://bucket/runs/iam")) == "gs://bucket/runs/iam"
  assert str(checkpoint.workdir_path("runs/iam")) == str(tmp_path / "runs" / "iam")
  assert str(checkpoint.workdir_path("~/runs")) == str(tmp_path / "home" / "runs")


def test_optimizer_schedules(tiny):
  import jax.numpy as jnp
  config = tiny(num_train_steps=100)
  config.optimizer.update(warmup_steps=10, learning_rate=1.0, final_lr_fraction=0.1)
  schedule = state_lib.learning_rate_schedule(config.optimizer, config.num_train_steps)
  assert float(schedule(0)) == 0.0 and float(schedule(10)) == 1.0
  assert abs(float(schedule(100)) - 0.1) < 1e-6

  config.optimizer.update(schedule="plateau", plateau_patience=2, plateau_accumulation=1,
                          plateau_factor=0.5, grad_clip_norm=1e9, weight_decay=0.0)
  tx = state_lib.make_optimizer(config)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  for _ in range(6):  # A loss that never improves halves the LR after the patience.
    _, state = tx.update({"w": jnp.ones(3)}, state, params, value=jnp.array(1.0))
  scale = [s.scale for s in jax.tree.leaves(state, is_leaf=lambda s: hasattr(s, "scale"))
           if hasattr(s, "scale")]
  assert scale and float(scale[0]) < 1.0
  # What the trainer logs is that scale times the warmup schedule, not the schedule alone.
  assert state_lib.current_learning_rate(config, state) == pytest.approx(float(scale[0]) * 0.6)
  with pytest.raises(ValueError, match="unknown schedule"):
    config.optimizer.schedule = "linear"
    state_lib.learning_rate_schedule(config.optimizer, 10)
