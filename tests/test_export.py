"""SavedModels against the JAX models they came from, run by plain TensorFlow without htr."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from etils import epath

from htr import export, train
from htr.ink import synthetic

RUNNER = os.path.join(os.path.dirname(__file__), "saved_model_runner.py")


def _trained(config, data_dir: str, workdir) -> str:
  config.data.data_dir = data_dir
  train.train_and_evaluate(config, str(workdir))
  return str(workdir)


def _run_saved_model(model_dir: str, calls: dict[str, dict[str, np.ndarray]], tmp_path
                     ) -> dict[str, dict[str, np.ndarray]]:
  """Every call through the SavedModel in a subprocess that does not import htr."""
  inputs, outputs = tmp_path / "inputs.npz", tmp_path / "outputs.npz"
  np.savez(inputs, **{f"{call}__{name}": value for call, arrays in calls.items()
                      for name, value in arrays.items()})
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  subprocess.run([sys.executable, RUNNER, model_dir, str(inputs), str(outputs)], check=True,
                 env=env, cwd=str(tmp_path))
  result: dict[str, dict[str, np.ndarray]] = {}
  with np.load(outputs) as data:
    for key in data.files:
      call, _, name = key.partition("__")
      result.setdefault(call, {})[name] = data[key]
  return result


def _points(inks, extra_padding: int) -> dict[str, np.ndarray]:
  n = max(ink.num_points for ink in inks) + extra_padding
  points = np.zeros((len(inks), n, 4), np.float32)
  for i, ink in enumerate(inks):
    points[i, :ink.num_points, :3] = ink.points
    points[i, :ink.num_points, 3] = ink.stroke_ids
  return {"points": points, "lengths": np.array([ink.num_points for ink in inks], np.int32)}


@pytest.fixture(scope="module")
def ink_export(data_dir, tmp_path_factory, load_config):
  workdir = _trained(load_config("online_ctc", "runlocal,size=tiny"), data_dir,
                     tmp_path_factory.mktemp("ink"))
  return workdir, export.export(workdir)


def test_ink_saved_model_matches_the_checkpoint(ink_export, tmp_path):
  from htr.predict import Predictor
  workdir, metadata = ink_export
  rng = np.random.default_rng(0)
  inks = [synthetic.write_line(synthetic.sample_line(rng, max_words=3),
                               synthetic.sample_writer(rng), rng) for _ in range(7)]
  # Varied batch sizes, lengths and padding (odd and even, so stride alignment matters).
  groups = {"one": ([0], 0), "three": ([1, 2, 3], 5), "six": ([1, 2, 3, 4, 5, 6], 33)}
  calls = {name: _points([inks[i] for i in idx], pad) for name, (idx, pad) in groups.items()}
  expected = Predictor(workdir)(inks)
  variants = {}
  for weights in export.WEIGHT_FORMATS:
    variants[weights] = _run_saved_model(os.path.join(workdir, "export", weights), calls,
                                         tmp_path)
  for name, (idx, _) in groups.items():
    got = variants["float32"][name]
    assert list(got["text"]) == [expected[i]["text"] for i in idx]
    np.testing.assert_allclose(got["confidence"], [expected[i]["confidence"] for i in idx],
                               rtol=1e-4)
    np.testing.assert_array_equal(got["num_chars"], [len(expected[i]["text"]) for i in idx])
    assert not got["points_cut"].any()
    assert got["char_scores"].shape == (len(idx), max(got["num_chars"].max(), 1))
    for scores, n in zip(got["char_scores"], got["num_chars"]):
      assert (scores[:n] > 0).all() and (scores[:n] <= 1).all() and not scores[n:].any()
    for weights in ("bfloat16", "int8"):  # Compressed weights: close, not equal.
      np.testing.assert_allclose(variants[weights][name]["confidence"], got["confidence"],
                                 rtol=0.05)
  assert json.loads(str(variants["float32"]["metadata"]["json"]))["input_kind"] == "ink"
  sizes = {w: v["size_bytes"] for w, v in metadata["variants"].items()}
  assert set(sizes) == set(export.WEIGHT_FORMATS) and all(s > 0 for s in sizes.values())


def test_htr_recognize_reads_ink_files_through_the_saved_model(ink_export, tmp_path, capsys):
  from htr import cli
  from htr.ink import inkml
  from htr.inputs import read_ink
  from htr.predict import Predictor
  workdir, _ = ink_export
  rng = np.random.default_rng(5)
  paths = []
  for i in range(3):
    ink = synthetic.write_line(synthetic.sample_line(rng, max_words=2),
                               synthetic.sample_writer(rng), rng)
    paths.append(str(tmp_path / f"line{i}.inkml"))
    inkml.write_inkml(ink, {}, paths[-1])
  export_dir = os.path.join(workdir, "export")
  assert cli.main(["recognize", f"--saved_model={export_dir}", *paths]) == 0
  rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
  expected = Predictor(workdir)([read_ink(p) for p in paths])
  assert [row[0] for row in rows] == paths
  assert [row[1] for row in rows] == [e["text"] for e in expected]
  np.testing.assert_allclose([float(row[2]) for row in rows],
                             [e["confidence"] for e in expected], atol=1e-3)
  # The checkpoint on one CPU device per core, a BiLSTM's directions on two: the same
  # rows (a child process: the device count is fixed when JAX starts).
  done = subprocess.run([sys.executable, "-m", "htr.cli", "--cpu_devices=2", "recognize",
                         f"--workdir={workdir}", "--model_axis=2", *paths],
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, "XLA_FLAGS": ""})
  assert done.returncode == 0, done.stderr
  split = [line.split("\t") for line in done.stdout.splitlines()]
  assert [row[:2] for row in split] == [[p, e["text"]] for p, e in zip(paths, expected)]
  np.testing.assert_allclose([float(row[2]) for row in split],
                             [e["confidence"] for e in expected], atol=1e-3)
  # Beam search lives in the Python recognizer, not in the graph: refused, not ignored.
  assert cli.main(["recognize", f"--saved_model={export_dir}", "--beam_width=4", paths[0]]) == 2
  assert "--beam_width and --lm need --workdir" in capsys.readouterr().err


def test_an_ink_too_long_for_the_export_is_refused_not_cut(ink_export, tmp_path, capsys,
                                                           serving_client):
  """The graph resamples into a fixed buffer; what does not fit must not vanish silently."""
  from htr import cli
  from htr.ink import inkml
  workdir, metadata = ink_export
  rng = np.random.default_rng(1)
  ink = synthetic.write_line(" ".join(["handwriting"] * 45), synthetic.sample_writer(rng), rng)
  path = str(tmp_path / "long.inkml")
  inkml.write_inkml(ink, {}, path)
  buffer = metadata["settings"]["max_points"]
  assert cli.main(["recognize", f"--saved_model={os.path.join(workdir, 'export')}", path]) == 2
  assert f"do not fit the export's {buffer}-point buffer" in capsys.readouterr().err

  # `htr serve` answers it with a 422 naming the upload.
  with serving_client({"lines": os.path.join(workdir, "export")}, max_batch=1) as client:
    with open(path, "rb") as f:
      response = client.post("/v1/models/lines/inkml",
                             files={"file": ("long.inkml", f.read(), "application/xml")})
    # JSON inks with epoch-second times read like relative ones (float32 would keep
    # only ~128 s steps of them and lose every dt).
    short = synthetic.write_line("ink", synthetic.sample_writer(rng), rng)
    results = [client.post("/v1/models/lines/ink", json={"strokes": [
        (s + [0, 0, offset]).tolist() for s in short.strokes()]}).json()
        for offset in (0.0, 1.7e9)]
  assert results[0] == results[1], results
  assert response.status_code == 422, response.text
  message = response.json()["message"]
  assert "long.inkml" in message and f"do not fit the export's {buffer}-point buffer" in message


def test_metadata_describes_signature_and_preprocessing(ink_export):
  workdir, metadata = ink_export
  with open(os.path.join(workdir, "export", "metadata.json")) as f:
    on_disk = json.load(f)
  assert on_disk == json.loads(json.dumps(metadata))
  assert on_disk["task"] == "ctc" and on_disk["input_kind"] == "ink"
  signature = on_disk["signature"]
  assert signature["inputs"] == {"points": {"dtype": "float32", "shape": [None, None, 4]},
                                 "lengths": {"dtype": "int32", "shape": [None]}}
  assert signature["outputs"] == {
      "char_scores": {"dtype": "float32", "shape": [None, None]},
      "confidence": {"dtype": "float32", "shape": [None]},
      "num_chars": {"dtype": "int32", "shape": [None]},
      "points_cut": {"dtype": "int32", "shape": [None]},
      "text": {"dtype": "string", "shape": [None]}}
  settings = on_disk["settings"]
  assert settings["resample_spacing"] == 0.1 and settings["features"] == [
      "dx", "dy", "dt", "pen_up"]
  with open(os.path.join(workdir, "export", "float32", "assets", "vocabulary.json")) as f:
    vocabulary = json.load(f)
  assert vocabulary[0] == "" and "".join(vocabulary) == settings["alphabet"]


def test_saved_model_cli_lists_a_clean_signature(ink_export):
  workdir, _ = ink_export
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  shown = subprocess.run([cli, "show", "--all", "--dir",
                          os.path.join(workdir, "export", "float32")],
                         check=True, capture_output=True, text=True).stdout
  default = shown[shown.index("signature_def['serving_default']"):]
  for line in ("inputs['points'] tensor_info:", "inputs['lengths'] tensor_info:",
               "outputs['text'] tensor_info:", "outputs['confidence'] tensor_info:",
               "dtype: DT_STRING", "shape: (-1, -1, 4)"):
    assert line in default
  # Only the signature's own inputs: the weights are variables, not arguments.
  assert default.split("outputs(s)")[0].count("inputs[") == 2


def test_image_saved_model_matches_the_checkpoint(data_dir, tmp_path_factory, tmp_path,
                                                  load_config):
  from htr.predict import Predictor
  from htr.image import canvas
  workdir = _trained(load_config("char_cnn", "runlocal,size=tiny"), data_dir,
                     tmp_path_factory.mktemp("chars"))
  metadata = export.export(workdir, weight_formats=("float32",))
  assert metadata["input_kind"] == "image"
  rng = np.random.default_rng(1)
  drawings = [rng.random((40 + 9 * i, 30 + 5 * i)) > 0.7 for i in range(5)]
  images = np.stack([canvas.preprocess(d) for d in drawings])
  calls = {"two": {"image": images[:2]}, "five": {"image": images}}
  got = _run_saved_model(os.path.join(workdir, "export", "float32"), calls, tmp_path)
  predictor = Predictor(workdir)
  expected = predictor.run([{"image": image[..., None]} for image in images])
  for name, count in (("two", 2), ("five", 5)):
    assert got[name]["classes"].shape == (count, 5)
    for row, probs, result in zip(got[name]["classes"], got[name]["probabilities"],
                                  expected[:count]):
      assert list(row) == [t["label"] for t in result["top"]]
      np.testing.assert_allclose(probs, [t["probability"] for t in result["top"]], rtol=1e-5,
                                 atol=1e-6)


def test_length_buckets_bound_padding_and_compilations():
  sizes = export.length_buckets(1 << 12)
  assert sizes[:12] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16]
  assert sizes == sorted(set(sizes))
  # At most 25% padding for any length, ~4 shapes per doubling.
  for n in range(1, 1 << 12):
    bucket = next(s for s in sizes if s >= n)
    assert bucket <= max(n * 1.25, n + 1)
  assert len(sizes) <= 4 * 12


def test_trim_rounds_the_longest_length_up_to_a_bucket():
  tf = pytest.importorskip("tensorflow")
  x = tf.reshape(tf.range(2 * 40, dtype=tf.float32), (2, 40))
  for longest, want in ((9, 10), (11, 12), (17, 20), (36, 40), (41, 48)):
    lengths = tf.constant([3, longest])
    out = export._trim(x, lengths, multiple=1, bucketed=True)
    assert out.shape == (2, want)
    keep = min(want, 40)
    assert not out.numpy()[:, keep:].any()
    np.testing.assert_array_equal(out.numpy()[:, :keep], x.numpy()[:, :keep])
  # With a multiple, the bucket counts multiples: 9 frames / 4 -> 3 units -> 12.
  assert export._trim(x, tf.constant([9]), multiple=4, bucketed=True).shape == (2, 12)
  assert export._trim(x, tf.constant([9]), multiple=4).shape == (2, 12)
  assert export._trim(x, tf.constant([17]), multiple=4, bucketed=True).shape == (2, 20)


def test_export_metrics_come_from_evaluation_reports_only(tmp_path):
  (tmp_path / "eval_digits_test.json").write_text(json.dumps({"metrics": {"accuracy": 0.9}}))
  (tmp_path / "eval_validation_confusion.json").write_text(json.dumps({"classes": "01"}))
  assert export._metrics(epath.Path(tmp_path)) == {"digits_test": {"accuracy": 0.9}}
