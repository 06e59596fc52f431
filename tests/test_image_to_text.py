"""The TrOCR-style line reader (configs/offline_trocr.py): the Swin encoder and the
Transformer decoder of the math family over characters, trained, exported and served
through the generic paths, and scored as text."""

import os

import numpy as np
import pytest

from htr import cli, export, train
from htr.tasks import get_task


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory, load_config):
  config = load_config("offline_trocr", "runlocal,size=tiny")
  config.data.data_dir = data_dir
  config.data.max_width, config.data.buckets = 512, (128, 256, 512)  # Fewer, smaller shapes.
  workdir = str(tmp_path_factory.mktemp("trocr"))
  return config, workdir, train.train_and_evaluate(config, workdir)


def test_it_trains_on_eight_devices_and_reports_seed_004s_figures(trained):
  config, _, metrics = trained
  for name in ("cer", "wer", "exact_match", "char_accuracy", "mean_normalised_edit_distance"):
    assert np.isfinite(metrics[name]), name
  assert metrics["num_examples"] > 0
  task = get_task(config)
  assert task.main_metric == ("cer", "min")
  assert "".join(task.vocab.tokens[4:]) == task.vocab.decode(range(4, len(task.vocab)))


def test_htr_recognize_reads_lines_as_its_export_does(trained, line_image_files, capsys):
  _, workdir, _ = trained
  paths = line_image_files(3)
  assert cli.main(["recognize", f"--workdir={workdir}", *paths]) == 0
  rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
  assert [row[0] for row in rows] == paths
  metadata = export.export(workdir, weight_formats=("float32",))
  assert metadata["input_kind"] == "image" and metadata["returns"] == "text"
  assert cli.main(["recognize", f"--saved_model={workdir}/export", *paths]) == 0
  exported = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
  assert [row[:2] for row in exported] == [row[:2] for row in rows]
  np.testing.assert_allclose([float(r[2]) for r in exported], [float(r[2]) for r in rows],
                             atol=2e-3)


def test_the_server_reads_an_uploaded_line(trained, line_image_files, serving_client, capsys):
  _, workdir, _ = trained
  if not os.path.exists(os.path.join(workdir, "export")):
    export.export(workdir, weight_formats=("float32",))
  path = line_image_files(1)[0]
  assert cli.main(["recognize", f"--saved_model={workdir}/export", path]) == 0
  expected = capsys.readouterr().out.split("\t")[1]
  with serving_client({"trocr": os.path.join(workdir, "export")}) as client:
    assert client.get("/v1/models/trocr").json()["inputs"][0] == "image"
    with open(path, "rb") as f:
      answer = client.post("/v1/models/trocr/image", files={"file": ("line.png", f, "image/png")})
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == expected and 0 <= answer.json()["confidence"] <= 1
