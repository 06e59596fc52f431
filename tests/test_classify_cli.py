"""`htr classify`: a model trained for two steps classifies drawn characters and lines."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from htr import cli, evaluate, train


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, load_config):
  config = load_config("char_cnn", "data=digits,runlocal,size=tiny")
  config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
  workdir = tmp_path_factory.mktemp("digits")
  train.train_and_evaluate(config, str(workdir))
  assert (workdir / "eval_validation_confusion.json").exists()
  assert (workdir / "eval_validation_confusion.png").exists()
  report = evaluate.evaluate(config, str(workdir), split="test")
  assert {"accuracy", "top5_accuracy"} <= set(report["metrics"])
  assert (workdir / "eval_sklearn_digits_test_confusion.png").exists()
  return str(workdir)


def _drawing(shapes, size=(64, 64)):
  """Black strokes on white: `shapes` are ("line", xy) or ("ellipse", box)."""
  image = Image.new("RGB", size, "white")
  draw = ImageDraw.Draw(image)
  for kind, xy in shapes:
    if kind == "line":
      draw.line(xy, fill="black", width=5)
    else:
      draw.ellipse(xy, outline="black", width=5)
  return image


def test_classify_prints_the_top5(workdir, tmp_path, capsys):
  path = tmp_path / "one.png"
  _drawing([("line", (32, 8, 32, 56)), ("line", (24, 16, 32, 8))]).save(path)
  jpeg = tmp_path / "zero.jpg"
  _drawing([("ellipse", (16, 8, 48, 56))]).convert("L").save(jpeg)
  assert cli.main(["classify", f"--workdir={workdir}", str(path), str(jpeg)]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 12 and lines[0].startswith(f"{path}: ")
  ranks, chars, probs = zip(*(line.split() for line in lines[1:6]))
  assert ranks == ("1", "2", "3", "4", "5") and set(chars) <= set("0123456789")
  probs = [float(p) for p in probs]
  assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
  assert lines[0].endswith(chars[0])


def test_classify_a_line_of_characters(workdir, tmp_path, capsys):
  path = tmp_path / "line.png"
  _drawing([("line", (20, 10, 20, 54)), ("ellipse", (50, 10, 80, 54)),
            ("line", (100, 10, 120, 54))], size=(140, 64)).save(path)
  assert cli.main(["classify", "--line", f"--workdir={workdir}", str(path)]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 4
  text = lines[0].split(": ", 1)[1]
  assert len(text) == 3 and [line.split()[0] for line in lines[1:]] == list(text)


def test_bad_inputs_are_clear_errors(workdir, tmp_path, capsys):
  corrupt = tmp_path / "corrupt.png"
  corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
  empty = tmp_path / "empty.png"
  Image.fromarray(np.full((40, 40), 255, np.uint8)).save(empty)
  lab = tmp_path / "lab.tif"  # Pillow reads LAB TIFFs but cannot convert them.
  Image.new("LAB", (40, 40)).save(lab)
  for path, reason in ((corrupt, "not a readable image"), (empty, "empty"),
                       (tmp_path / "missing.png", "no such file"),
                       (lab, "not a readable image")):
    assert cli.main(["classify", f"--workdir={workdir}", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("htr classify: error: ") and str(path) in err and reason in err


def test_a_character_model_reads_ink_by_rendering_it(workdir, tmp_path, capsys):
  """One verb for every input: ink goes to a character model as the drawing page's does."""
  ink = tmp_path / "one.inkml"
  ink.write_text('<ink xmlns="http://www.w3.org/2003/InkML">'
                 '<trace>10 0, 10 5, 10 10, 10 15, 10 20</trace></ink>')
  assert cli.main(["recognize", f"--workdir={workdir}", str(ink)]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 6 and lines[0].startswith(f"{ink}: ")
  assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3", "4", "5"]


def test_other_commands_refuse_what_they_cannot_use(workdir, tmp_path, capsys):
  """Each used to end in a traceback (AttributeError, IsADirectoryError, ValueError)."""
  broken = tmp_path / "broken_export"
  broken.mkdir()
  (broken / "saved_model.pb").write_bytes(b"")
  (broken / "assets").mkdir()
  (broken / "assets" / "metadata.json").write_text("{}")
  ink = tmp_path / "a.inkml"
  ink.write_text('<ink xmlns="http://www.w3.org/2003/InkML"><trace>1 2, 3 4</trace></ink>')
  notes = tmp_path / "notes.txt"
  notes.write_text("neither ink nor an image")
  for argv, reason in (
      (["recognize", f"--workdir={workdir}", "--lm=en.npz", str(ink)], "no decoding option"),
      (["recognize", f"--workdir={workdir}", str(notes)], "not a readable image"),
      (["write", "hi", f"--out={tmp_path}"], "Is a directory"),
      (["recognize", f"--saved_model={broken}", str(ink)], "not a loadable SavedModel")):
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith(f"htr {argv[0]}: error: ") and reason in err, err
