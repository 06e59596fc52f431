"""The model zoo: a run becomes an entry, and an entry is used, measured, exported and
trained on like a workdir; shipped entries match their manifests."""

import json
import os

import numpy as np
import pytest

from htr import checkpoint, cli, export, publish, train, zoo
from htr.errors import InputError
from htr.ink import synthetic
from htr.predict import Predictor

REQUIRED = {"name", "task", "accepts", "description", "licence", "training", "weights",
            "code_version", "created", "config", "task_metadata", "metrics", "evaluation",
            "metrics_float32_checkpoint"}


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory, load_config):
  config = load_config("online_ctc", "runlocal,size=tiny")
  config.data.data_dir = data_dir
  workdir = str(tmp_path_factory.mktemp("run"))
  train.train_and_evaluate(config, workdir)
  return config, workdir


@pytest.fixture(scope="module")
def entries(run, data_dir, tmp_path_factory):
  """The run as a float32 entry and as an int8 entry."""
  _, workdir = run
  root = tmp_path_factory.mktemp("zoo")
  made = {}
  for weights in ("float32", "int8"):
    made[weights] = publish.add(
        workdir, f"tiny-{weights}", splits=["test"], weights=weights,
        folder=str(root / f"tiny-{weights}"), description="a test entry",
        licence="test data", train_command="python -m htr.main ...", cpu_hours=0.01,
        default_for=["ink"], data_dir=data_dir)
  return made


def _inks(n=3):
  rng = np.random.default_rng(0)
  return [synthetic.write_line(synthetic.sample_line(rng, max_words=2),
                               synthetic.sample_writer(rng), rng) for _ in range(n)]


def test_an_entry_holds_everything_its_manifest_promises(entries):
  for weights, entry in entries.items():
    manifest = entry.manifest
    assert REQUIRED <= set(manifest), REQUIRED - set(manifest)
    assert manifest["weights"]["format"] == weights and manifest["accepts"] == ["ink"]
    assert manifest["weights"]["sha256"] == zoo.sha256(os.path.join(entry.path, zoo.WEIGHTS))
    assert set(manifest["metrics"]) == {"synthetic_ink/tiny/test"}
    assert 0 <= manifest["metrics"]["synthetic_ink/tiny/test"]["cer"]
    assert manifest["training"]["chain"][0]["best_step"] == 2
    assert sorted(os.listdir(entry.path)) == [zoo.MANIFEST, zoo.WEIGHTS]
    # No folder of the machine it was made on: users point it at their own data.
    assert manifest["config"]["data"]["data_dir"] is None
    assert manifest["config"]["data"]["manual_dir"] is None
  # int8 kernels: a quarter of float32's bytes, give or take the float32 biases.
  assert (entries["int8"].manifest["weights"]["bytes"]
          < 0.5 * entries["float32"].manifest["weights"]["bytes"])
  # The float32 entry is the checkpoint: the same metrics.
  manifest = entries["float32"].manifest
  assert manifest["metrics"] == manifest["metrics_float32_checkpoint"]


def test_the_last_entry_made_default_for_a_kind_takes_it_from_the_others(entries):
  """Both test entries were added as the default for ink, int8 last: it alone keeps it."""
  assert zoo.entry(entries["int8"].path).manifest["default_for"] == ["ink"]
  assert zoo.entry(entries["float32"].path).manifest["default_for"] == []


def test_a_portable_config_names_no_folder_of_a_mixture_component(load_config):
  config = load_config("offline_crnn", "data=pages_iam")
  config.data.manual_dir = "/home/me/pages"
  config.data.mixture.iam_ondb.manual_dir = "/home/me/iam_ondb"
  kept = publish.portable(config)
  assert kept.data.manual_dir is None and kept.data.mixture.iam_ondb.manual_dir is None
  assert "/home/me" not in json.dumps(kept.to_dict())


def test_an_entry_reads_ink_like_its_checkpoint(run, entries):
  _, workdir = run
  inks = _inks()
  want = Predictor(workdir)(inks)
  got = Predictor(entries["float32"].source)(inks)
  assert [r["text"] for r in got] == [r["text"] for r in want]
  np.testing.assert_allclose([r["confidence"] for r in got],
                             [r["confidence"] for r in want], rtol=1e-5)
  assert len(Predictor(entries["int8"].source)(inks)) == 3


def test_htr_recognize_and_zoo_eval_take_an_entry(entries, data_dir, tmp_path, capsys):
  from htr.ink import inkml
  path = str(tmp_path / "line.inkml")
  inkml.write_inkml(_inks(1)[0], {}, path)
  folder = entries["int8"].path
  assert cli.main(["recognize", f"--model={folder}", path]) == 0
  row = capsys.readouterr().out.strip().split("\t")
  assert row[0] == path and 0.0 <= float(row[2]) <= 1.0
  assert cli.main(["zoo", "eval", folder, "--split=test", f"--data_dir={data_dir}",
                   f"--out_dir={tmp_path / 'eval'}"]) == 0
  assert "'cer'" in capsys.readouterr().out
  report = json.loads((tmp_path / "eval" / "eval_synthetic_ink_tiny_test.json").read_text())
  assert report["metrics"] == entries["int8"].manifest["metrics"]["synthetic_ink/tiny/test"]


def test_training_continues_from_an_entry(run, entries, tmp_path):
  config, _ = run
  entry = entries["int8"]
  config = checkpoint.ml_collections.ConfigDict(config.to_dict())
  config.init_from = entry.source
  config.num_train_steps = 1
  train.train_and_evaluate(config, str(tmp_path / "next"))
  # It started from the entry's (dequantised) weights: its one step, the warmup's first,
  # has a learning rate of 0, so they are still exactly those.
  start = zoo.load(entry.source)[2]["params"]["Dense_0"]["kernel"]
  after = checkpoint.restore_for_inference(str(tmp_path / "next"), which="checkpoints")[1]
  np.testing.assert_array_equal(np.asarray(after["params"]["Dense_0"]["kernel"]), start)
  # Published from that run, the chain holds both runs.
  chained = publish.add(str(tmp_path / "next"), "next", splits=["test"],
                        folder=str(tmp_path / "zoo" / "next"), cpu_hours=0.5,
                        data_dir=config.data.data_dir)
  assert [r["init_from"] for r in chained.manifest["training"]["chain"]] == [
      None, entry.source]
  assert chained.manifest["training"]["cpu_hours"] == pytest.approx(0.51)


def test_an_entry_exports_with_its_metrics(entries, tmp_path):
  entry = entries["int8"]
  metadata = export.export(entry.source, str(tmp_path / "export"), ("float32",))
  assert metadata["metrics"] == entry.manifest["metrics"]
  assert (tmp_path / "export" / "float32" / "saved_model.pb").exists()


def test_htr_serve_without_models_serves_the_zoo(entries, tmp_path, monkeypatch):
  from htr.serve import server
  from htr.serve.models import load_models
  monkeypatch.setattr(zoo, "ENTRIES", os.path.dirname(entries["int8"].path))
  models_dir = server.zoo_models(str(tmp_path / "cache"))
  assert sorted(os.listdir(models_dir)) == ["tiny-float32", "tiny-int8"]
  stamp = os.path.getmtime(os.path.join(models_dir, "tiny-int8", "metadata.json"))
  assert server.zoo_models(str(tmp_path / "cache")) == models_dir
  assert os.path.getmtime(os.path.join(models_dir, "tiny-int8", "metadata.json")) == stamp
  models = load_models(models_dir)
  result = models["tiny-int8"].run([models["tiny-int8"].prepare(_inks(1)[0], "ink")])[0]
  assert isinstance(result["text"], str) and 0.0 <= result["confidence"] <= 1.0


def test_a_damaged_entry_is_refused(entries, tmp_path):
  import shutil
  copy = tmp_path / "damaged"
  shutil.copytree(entries["int8"].path, copy)
  with open(copy / zoo.WEIGHTS, "r+b") as f:
    f.seek(200)
    f.write(b"\0\0\0\0")
  with pytest.raises(InputError, match="sha256"):
    zoo.load(zoo.PREFIX + str(copy))
  with pytest.raises(InputError, match="no zoo entry 'nothing'"):
    zoo.entry("zoo:nothing")


def test_shipped_entries_match_their_manifests():
  """Every entry in htr/zoo/entries: complete, intact, within the size budget, and its
  task builds from what the manifest holds."""
  from htr.tasks import get_task
  total = 0
  for entry in zoo.entries():
    manifest = entry.manifest
    assert REQUIRED <= set(manifest), (entry.name, REQUIRED - set(manifest))
    assert manifest["name"] == os.path.basename(entry.path)
    size = os.path.getsize(os.path.join(entry.path, zoo.WEIGHTS))
    assert size == manifest["weights"]["bytes"] <= zoo.MAX_ENTRY_BYTES
    total += size
    config, task_metadata, variables = zoo.load(entry.source)
    task = get_task(config, task_metadata)
    assert list(task.accepts) == manifest["accepts"]
    assert manifest["metrics"] and manifest["evaluation"]["command"]
    assert manifest["config"]["data"]["data_dir"] is None
    assert manifest["config"]["data"]["manual_dir"] is None
  assert total <= zoo.MAX_TOTAL_BYTES


def test_each_input_kind_has_one_default_entry():
  """`htr recognize FILE` with no model takes the default for FILE's kind: one, not a tie."""
  from htr import zoo
  defaults = [kind for entry in zoo.entries() for kind in entry.manifest["default_for"]]
  assert sorted(defaults) == sorted(set(defaults)) and {"ink", "image", "line"} <= set(defaults)
