"""Offline lines (image -> text): rendering as scans, reading any line image, and the
CRNN through htr's CTC task, the `htr` command, export and the server, unchanged."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jax.sharding import PartitionSpec as P

from htr import cli, export, inputs, train
from htr.errors import InputError
from htr.image import lines
from htr.ink import render, synthetic
from htr.predict import Predictor


def _rendered(rng, words=2) -> np.ndarray:
  ink = synthetic.write_line(synthetic.sample_line(rng, max_words=words),
                             synthetic.sample_writer(rng), rng)
  return render.render(ink, height=64, pen_width=2.5).astype(np.float32) / 255


def test_degrade_is_a_picture_of_the_ink_and_deterministic():
  ink = _rendered(np.random.default_rng(0))
  a = lines.degrade(ink, np.random.default_rng(5))
  b = lines.degrade(ink, np.random.default_rng(5))
  np.testing.assert_array_equal(a, b)
  assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
  assert a.shape[0] > ink.shape[0] and a.shape[1] > ink.shape[1]  # Margins (and skew).
  gray = a.mean(axis=2)
  assert np.median(gray) > 150 and gray.min() < 110  # Light paper, dark ink.
  assert not np.array_equal(a, lines.degrade(ink, np.random.default_rng(6)))


def test_a_degraded_line_reads_back_as_the_ink():
  """prepare_line of the picture ~ the rendering itself: paper, light, colour gone."""
  rng = np.random.default_rng(1)
  ink = _rendered(rng)
  clean = lines.prepare_line(ink, height=32, max_width=4096)
  for seed in range(4):
    picture = lines.degrade(ink, np.random.default_rng(seed), max_skew_deg=0.0,
                            p_binary=0.0)
    read = lines.prepare_line(picture, height=32, max_width=4096)
    assert read.shape[0] == 32 and abs(read.shape[1] - clean.shape[1]) <= 0.15 * clean.shape[1]
    # Where the ink is along the line (letters and the gaps between words) survives.
    profile = [np.interp(np.linspace(0, 1, 24), np.linspace(0, 1, x.shape[1]), x.mean(0))
               for x in (read, clean)]
    assert np.corrcoef(*profile)[0, 1] > 0.7
    assert 0.5 < (read > 0.5).mean() / (clean > 0.5).mean() < 2.0
    assert np.median(read) < 0.1  # The background is 0 after the column medians.


def test_uneven_light_dims_paper_and_ink_from_any_side_and_reads_back():
  """`uneven_light`: the light falls off over paper and ink alike (a lamp to one side, a
  shadow), towards a different side from picture to picture, by at most that much; the
  same rng gives the same picture otherwise, and prepare_line's flat field undoes it."""
  ink = _rendered(np.random.default_rng(1))
  plain = dict(p_ruling=0.0, p_binary=0.0, p_jpeg=0.0, max_skew_deg=0.0)
  pad = max(2, ink.shape[0] // 8)
  darkest_at, dimmest, agreement = [], [], []
  for seed in range(8):
    even = lines.degrade(ink, np.random.default_rng(seed), uneven_light=0.0, **plain)
    uneven = lines.degrade(ink, np.random.default_rng(seed), uneven_light=0.5, **plain)
    np.testing.assert_array_equal(even, lines.degrade(ink, np.random.default_rng(seed),
                                                      uneven_light=0.0, **plain))
    lit = even.mean(axis=2) > 60
    light = uneven.mean(axis=2)[lit] / even.mean(axis=2)[lit]
    assert light.max() < 1.02 and light.min() > 0.45
    light = uneven.mean(axis=2) / np.maximum(even.mean(axis=2), 1.0)
    on_ink = ink > 0.5
    core = light[pad:-pad, pad:-pad]
    assert abs(core[on_ink].mean() - core[~on_ink].mean()) < 0.04  # Ink dims with paper.
    columns = np.median(light, axis=0)
    darkest_at.append(np.argmin(columns) / len(columns))
    dimmest.append(1.0 - columns.min())
    read_even = lines.prepare_line(even, height=32, max_width=4096)
    read = lines.prepare_line(uneven, height=32, max_width=4096)
    # (Shade down a short word's height, which the per-column flat field leaves, can
    # make the crop a few rows taller and so the read line narrower.)
    assert abs(read.shape[1] - read_even.shape[1]) <= 0.2 * read_even.shape[1]
    profile = [np.interp(np.linspace(0, 1, 24), np.linspace(0, 1, x.shape[1]), x.mean(0))
               for x in (read, read_even)]
    agreement.append(np.corrcoef(*profile)[0, 1])
  assert min(darkest_at) < 0.3 and max(darkest_at) > 0.7  # Both sides get the shadow.
  assert max(dimmest) > 0.2
  assert min(agreement) > 0.7 and np.mean(agreement) > 0.9


def test_a_word_inked_from_top_to_bottom_is_still_read():
  """A word cropped to its strokes ("Il"): its inked columns are ink in every row, which
  the flat field and the column levelling would both take for paper."""
  word = np.full((40, 60), 255, np.uint8)
  word[:, 10:16] = word[:, 30:36] = 20  # Two strokes, top to bottom.
  line = lines.prepare_line(word, height=32, max_width=512)
  assert line.shape[0] == 32 and line.max() == pytest.approx(1.0)
  profile = line.mean(axis=0)
  assert profile[:5].max() > 0.9 and profile[-5:].max() > 0.9  # Cropped to the strokes.
  assert profile.min() < 0.1  # The gap between them stays paper.


@pytest.mark.parametrize("bad, reason", [
    (np.zeros((0, 0, 3), np.uint8), "holds no line"),
    (np.zeros((1, 100_000), np.uint8), "holds no line"),
    (np.full((40, 200), 255, np.uint8), "empty"),
])
def test_images_that_hold_no_line_are_input_errors(bad, reason):
  with pytest.raises(InputError, match=reason):
    lines.prepare_line(bad, height=64, max_width=2048)


@pytest.fixture(scope="module")
def workdir(data_dir, tmp_path_factory, load_config):
  config = load_config("offline_crnn", "runlocal,size=tiny")
  config.data.data_dir = data_dir
  out = str(tmp_path_factory.mktemp("offline"))
  train.train_and_evaluate(config, out)
  return out


def test_htr_recognize_reads_line_images_like_the_export(workdir, line_image_files, capsys):
  paths = line_image_files(3)
  assert cli.main(["recognize", f"--workdir={workdir}", *paths]) == 0
  rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
  assert [row[0] for row in rows] == paths
  assert all(0.0 <= float(row[2]) <= 1.0 for row in rows)
  metadata = export.export(workdir, weight_formats=("float32",))
  assert metadata["input_kind"] == "image" and metadata["accepts"] == ["image"]
  assert cli.main(["recognize", f"--saved_model={workdir}/export", *paths]) == 0
  exported = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
  assert [row[:2] for row in exported] == [row[:2] for row in rows]
  np.testing.assert_allclose([float(r[2]) for r in exported], [float(r[2]) for r in rows],
                             atol=2e-3)
  # --json: every field, with a confidence per word that no letter of the word exceeds.
  assert cli.main(["recognize", f"--saved_model={workdir}/export", "--json", *paths]) == 0
  results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert [(r["file"], r["text"]) for r in results] == [tuple(row[:2]) for row in rows]
  for result in results:
    assert [w["text"] for w in result["words"]] == result["text"].split()
    start = 0
    for word in result["words"]:
      start = result["text"].index(word["text"], start)
      assert word["confidence"] == min(result["char_scores"][start:start + len(word["text"])])
      start += len(word["text"])


def test_a_line_split_by_columns_over_two_devices_reads_as_on_one(workdir, line_image_files):
  """configs/offline_crnn.py's batch_sharding_rules: with `model_axis=2` each device runs
  the conv stack on half the columns (XLA exchanges the seam) and one BiLSTM direction."""
  lines_read = [inputs.read_image(p) for p in line_image_files(3)]
  whole = Predictor(workdir)(lines_read)
  split = Predictor(workdir, model_axis=2)
  assert split.layout.sharding("inputs", (3, 64, 256, 1)).spec == P(None, None, "model", None)
  halves = split(lines_read)
  assert [r["text"] for r in halves] == [r["text"] for r in whole]
  np.testing.assert_allclose([r["confidence"] for r in halves],
                             [r["confidence"] for r in whole], rtol=1e-4)


def test_bad_image_files_are_clear_errors(workdir, tmp_path, capsys):
  truncated = tmp_path / "truncated.png"
  buffer = io.BytesIO()
  Image.fromarray(np.full((40, 300), 200, np.uint8)).save(buffer, format="PNG")
  truncated.write_bytes(buffer.getvalue()[:60])
  thin = tmp_path / "thin.png"
  Image.fromarray(np.zeros((1, 100_000), np.uint8)).save(thin)
  cmyk = tmp_path / "cmyk.jpg"
  Image.new("CMYK", (300, 40), (0, 0, 0, 0)).save(cmyk)
  deep = tmp_path / "sixteen.png"
  Image.fromarray(np.full((40, 300), 60000, np.uint16)).save(deep)
  for path, reason in ((truncated, "not a readable"), (thin, "holds no line"),
                       (cmyk, "empty"), (deep, "empty")):
    assert cli.main(["recognize", f"--workdir={workdir}", str(path)]) == 2, path
    err = capsys.readouterr().err
    assert str(path) in err and reason in err, err


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
  from htr import inputs
  bomb = tmp_path / "bomb.png"
  Image.new("1", (20_000, 20_000)).save(bomb)  # 400 Mpixels in a few kilobytes.
  assert os.path.getsize(bomb) < 1 << 20
  with pytest.raises(InputError, match="bomb.png.*(pixels|bomb)"):
    inputs.read_image(bomb)


def test_an_ink_given_to_an_image_model_is_refused(workdir):
  rng = np.random.default_rng(0)
  ink = synthetic.write_line("ink", synthetic.sample_writer(rng), rng)
  with pytest.raises(InputError, match="reads image, not ink"):
    Predictor(workdir).prepare(ink, "line.inkml")


@pytest.mark.parametrize("data", ["pages", "kaggle_names"])
def test_stored_line_images_train_the_crnn(tmp_path, load_config, data):
  """data=pages (lines cut from ALTO/PAGE-XML pages) and data=kaggle_names (seed 004's
  name fields), each from its builder's fixture, train the same model on 8 devices."""
  import importlib
  fixture = importlib.import_module(f"htr_datasets.{'page_lines' if data == 'pages' else data}"
                                    ".fixture")
  fixture.write_fixture(tmp_path / "manual")
  config = load_config("offline_crnn", f"data={data},runlocal,size=tiny")
  config.data.data_dir = str(tmp_path / "data")
  config.data.manual_dir = str(tmp_path / "manual")
  config.num_train_steps = 1
  metrics = train.train_and_evaluate(config, str(tmp_path / "work"))
  assert metrics["num_examples"] > 0 and np.isfinite(metrics["cer"])


def test_page_lines_mixed_with_rendered_iam_ondb_train_and_evaluate_on_the_pages_alone(
    tmp_path, load_config):
  """data=pages_iam: each component from its own manual dir; IAM-OnDB trains only."""
  from htr_datasets.iam_ondb import fixture as iam_fixture
  from htr_datasets.page_lines import fixture as pages_fixture
  pages_fixture.write_fixture(tmp_path / "pages")
  iam_fixture.write_fixture(tmp_path / "iam")
  config = load_config("offline_crnn", "data=pages_iam,runlocal,size=tiny")
  config.data.data_dir = str(tmp_path / "data")
  config.data.manual_dir = str(tmp_path / "pages")
  config.data.mixture.iam_ondb.manual_dir = str(tmp_path / "iam")
  config.num_train_steps = 1
  config.eval_max_batches = None  # Every validation line: page lines, and only them.
  metrics = train.train_and_evaluate(config, str(tmp_path / "work"))
  validation = tfds.data_source("page_lines/handwritten", split="validation",
                                data_dir=str(tmp_path / "data"))
  assert metrics["num_examples"] == len(validation) and np.isfinite(metrics["cer"])
