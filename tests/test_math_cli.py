"""A trained math workdir end to end: its own vocabulary on restore, evaluation, `htr latex`,
the SavedModel export and its served predictions."""

import json
import os

import pytest

from htr import checkpoint, cli, evaluate, train
from htr.data import pipeline
from htr.errors import InputError
from htr.ink import inkml
from htr.ink.records import as_text, record_to_ink
from htr.tasks import seq2seq


@pytest.fixture(scope="module")
def workdir(data_dir, tmp_path_factory, load_config):
  config = load_config("math_swin", "runlocal,size=tiny")
  config.data.data_dir = data_dir
  out = tmp_path_factory.mktemp("math")
  train.train_and_evaluate(config, str(out))
  return config, str(out)


def test_restore_and_evaluate_use_the_checkpoint_vocabulary(workdir, monkeypatch):
  config, out = workdir

  def rebuilt(_):
    raise AssertionError("a restored model must not rebuild its vocabulary")
  monkeypatch.setattr(seq2seq, "vocabulary_from_training_labels", rebuilt)
  task, _, _ = checkpoint.restore_for_inference(out)
  saved = json.load(open(os.path.join(out, "best", os.listdir(os.path.join(out, "best"))[0],
                                      "meta", "metadata")))
  assert list(task.vocab.tokens) == saved["task"]["vocab"]
  report = evaluate.evaluate(config, out, split="test")
  assert {"token_cer", "exprate", "exprate_le1", "exprate_le2"} <= set(report["metrics"])
  assert report["metrics"]["num_examples"] == len(report["predictions"]) > 0


def test_htr_latex_prints_latex_and_score(workdir, data_dir, tmp_path, capsys):
  source = pipeline.load_source("synthetic_math/tiny", "test", data_dir=data_dir)
  record = source[0]
  path = str(tmp_path / "expression.inkml")
  inkml.write_inkml(record_to_ink(record["ink"]), {"truth": as_text(record["label"])}, path)
  assert cli.main(["latex", "--workdir", workdir[1], path, "--beam_width", "2"]) == 0
  name, latex, score = capsys.readouterr().out.rstrip("\n").split("\t")
  assert name == path and isinstance(latex, str) and 0.0 <= float(score) <= 1.0
  assert cli.main(["latex", "--workdir", workdir[1], str(tmp_path / "missing.inkml")]) == 2


def test_saved_model_reads_latex_like_the_recognizer(workdir, data_dir):
  """The export renders on the host, pads to the widest bucket and decodes in the graph:
  the same LaTeX and confidence as the checkpoint, for inks of several widths at once."""
  from htr import export
  from htr.predict import Predictor
  from htr.serve.models import load_model
  metadata = export.export(workdir[1], weight_formats=("float32",))
  assert metadata["input_kind"] == "image"
  assert set(metadata["signature"]["outputs"]) == {"latex", "confidence"}
  source = pipeline.load_source("synthetic_math/tiny", "test", data_dir=data_dir)
  inks = [record_to_ink(source[i]["ink"]) for i in range(5)]
  model = load_model("math", os.path.join(workdir[1], "export"))
  assert model.kind == "image_latex" and model.accepts == ["ink"]
  examples = [model.prepare(ink, f"ink {i}") for i, ink in enumerate(inks)]
  assert len({int(e["image_width"]) for e in examples}) > 1
  served = model.run(examples)
  expected = Predictor(workdir[1])(inks)
  assert [r["text"] for r in served] == [r["text"] for r in expected]
  for got, want in zip(served, expected):
    assert abs(got["confidence"] - want["confidence"]) < 1e-4
  with pytest.raises(InputError, match="reads ink, not image"):
    model.prepare(examples[0]["image"], "upload")
