"""Whole pages in (issue 18, items 4 and 5): a generated page read end to end by tiny
models trained once per session (a line detector on the page_layout fixture's pages, a
CRNN), through `htr recognize --detector` (checkpoints and exports) and a server's page
model; the JSON, PAGE-XML and ALTO written read back into the same lines, and bad input
is an error naming the file."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from htr import cli
from htr.errors import InputError
from htr.image import page_pipeline, page_reading
from htr.image.page_model import box_polygon
from htr_datasets.page_lines import fixture


@pytest.fixture(scope="module")
def page_file(tmp_path_factory) -> str:
  """A 400x300 page of three wavy lines, as the detector's training pages (a new seed)."""
  path = tmp_path_factory.mktemp("pages") / "page.png"
  fixture.page_image(21).save(path)
  return str(path)


def _lines_of(page) -> list[tuple]:
  return [(line.text, np.asarray(line.polygon), np.asarray(line.baseline)) for line in
          sorted(page.lines, key=lambda line: line.order)]


def _same_lines(a, b, atol: float) -> None:
  assert len(a) == len(b) and [x[0] for x in a] == [y[0] for y in b]
  for (_, polygon_a, baseline_a), (_, polygon_b, baseline_b) in zip(a, b):
    np.testing.assert_allclose(polygon_a, polygon_b, atol=atol)
    np.testing.assert_allclose(baseline_a, baseline_b, atol=atol)


# ---- the composition, with stand-ins ---------------------------------------------------


def test_detected_lines_are_ordered_cut_and_read():
  image = np.asarray(fixture.page_image(0))
  boxes = [(20, 200, 300, 250), (20, 30, 380, 70), (20, 100, 380, 160)]  # Not in order.
  found = [{"polygon": box_polygon(box), "score": 0.9} for box in boxes]
  seen = []

  def recognise(crops):
    seen.extend(crop.shape for crop in crops)
    return [{"text": f"{crop.shape[0]} rows", "confidence": 0.5,
             "words": [{"text": f"{crop.shape[0]}", "confidence": 0.5},
                       {"text": "rows", "confidence": 0.25}]} for crop in crops]

  reading = page_pipeline.read_page(image, lambda pixels: found, recognise, name="p.png",
                                    batch_size=2)
  page = reading.page
  assert not reading.failed and page.image == "p.png" and (page.width, page.height) == (400, 300)
  assert [line.box[1] for line in page.lines] == [30, 100, 200]  # XY-cut: top to bottom.
  assert [line.order for line in page.lines] == [0, 1, 2]
  assert [line.id for line in page.lines] == ["line1", "line2", "line3"]
  assert all(line.text.endswith(" rows") and line.confidence == 0.5 for line in page.lines)
  assert [w.text for w in page.lines[0].words] == page.lines[0].text.split()
  assert len(seen) == 3
  summary = page_pipeline.summary(reading)
  assert summary["text"] == "\n".join(line.text for line in page.lines)
  assert summary["confidence"] == 0.5 and summary["page"]["schema"] == "htr.page/1"
  with pytest.raises(InputError, match="no text lines found on the 400x300 page") as e:
    page_pipeline.read_page(image, lambda pixels: [], recognise, name="blank.png")
  assert "blank.png" in str(e.value)


def test_a_line_the_model_refuses_fails_alone():
  def prepare(image, where):
    if image.sum() == 0:
      raise InputError("no ink", sample_id=where)
    return image

  read = page_pipeline.recogniser(prepare, lambda examples: [{"text": "x"} for _ in examples])
  blank, inked = np.zeros((8, 8)), np.ones((8, 8))
  assert read([inked, blank, inked]) == [{"text": "x"}, {"error": "no ink"}, {"text": "x"}]
  assert read([blank]) == [{"error": "no ink"}]


# ---- htr recognize --detector ---------------------------------------------------------


def _recognize(argv, capsys) -> dict:
  assert cli.main(["recognize", *argv]) == 0
  return json.loads(capsys.readouterr().out)


def test_htr_recognize_finds_orders_and_reads_a_page(line_detector, line_reader, page_file,
                                                     tmp_path, capsys):
  detector = line_detector[1]
  printed = _recognize([f"--detector={detector}", f"--workdir={line_reader}", page_file],
                       capsys)
  page = page_reading.read_segmentation(json.dumps(printed).encode(), name="stdout")
  assert printed["image"] == "page.png" and (page.width, page.height) == (400, 300)
  assert len(page.lines) >= 2  # The page's three lines (the short third may be missed).
  tops = [line.box[1] for line in page.lines]
  assert tops == sorted(tops) and [line.order for line in page.lines] == list(range(len(tops)))
  for line in page.lines:
    assert line.confidence is None or 0.0 <= line.confidence <= 1.0
    assert line.baseline[:, 1].mean() > line.polygon[:, 1].mean()
  assert printed["text"] == "\n".join(line.text for line in page.lines)
  expected = _lines_of(page)
  for fmt in ("page", "alto", "json"):
    out = tmp_path / f"out.{fmt}"
    assert cli.main(["recognize", f"--detector={detector}", f"--workdir={line_reader}",
                     page_file, f"--format={fmt}", f"--out={out}"]) == 0
    read = page_reading.read_segmentation(str(out))
    assert read.format == fmt and (read.width, read.height) == (400, 300)
    _same_lines(_lines_of(read), expected, atol=0.51 if fmt != "json" else 0.0)


def test_exports_read_the_page_as_the_checkpoints_do(line_detector, line_reader,
                                                     detector_export, reader_export, page_file,
                                                     capsys):
  from_checkpoints = _recognize([f"--detector={line_detector[1]}", f"--workdir={line_reader}",
                                 page_file], capsys)
  from_exports = _recognize([f"--detector={detector_export}",
                             f"--saved_model={reader_export}", page_file], capsys)
  _same_lines(_lines_of(page_reading.read_segmentation(json.dumps(from_exports).encode())),
              _lines_of(page_reading.read_segmentation(json.dumps(from_checkpoints).encode())),
              atol=0.1)


def _entry(workdir: str, folder: str, default_for: list[str]) -> str:
  """A float32 zoo entry of `workdir`'s checkpoint in `folder`."""
  from htr import checkpoint, publish, zoo
  task, variables, config = checkpoint.restore_for_inference(workdir)
  zoo.write_entry(folder, name=os.path.basename(folder), variables=variables,
                  config=publish.portable(config), task_metadata=task.metadata(),
                  accepts=list(task.accepts), weights="float32",
                  about={"default_for": default_for})
  return folder


def test_a_zoo_entry_detects_as_its_workdir(line_detector, line_reader, page_file, tmp_path,
                                            capsys):
  folder = _entry(line_detector[1], str(tmp_path / "detector-entry"), [])
  want = _recognize([f"--detector={line_detector[1]}", f"--workdir={line_reader}", page_file],
                    capsys)
  for source in (folder, f"zoo:{folder}"):
    got = _recognize([f"--detector={source}", f"--workdir={line_reader}", page_file], capsys)
    assert got == want


def test_htr_recognize_page_takes_the_zoos_detector_and_line_reader(
    line_detector, line_reader, page_file, tmp_path, monkeypatch, capsys):
  """`--page` with no model: the zoo's default for pages finds the lines and its default
  for line images reads them, as the same models named on the command line do."""
  from htr import zoo
  want = _recognize([f"--detector={line_detector[1]}", f"--workdir={line_reader}", page_file],
                    capsys)
  monkeypatch.setattr(zoo, "ENTRIES", str(tmp_path))
  _fails(["--page", page_file], capsys, "no zoo entry finds a page's lines", "--detector")
  _entry(line_detector[1], str(tmp_path / "detector"), ["page"])
  _entry(line_reader, str(tmp_path / "reader"), ["line"])
  assert _recognize(["--page", page_file], capsys) == want


def _fails(argv, capsys, *needles) -> None:
  assert cli.main(["recognize", *argv]) == 2
  err = capsys.readouterr().err
  for needle in needles:
    assert needle in err, err


def test_htr_recognize_detector_errors(line_detector, line_reader, page_file, tmp_path, capsys):
  detector, reader = f"--detector={line_detector[1]}", f"--workdir={line_reader}"
  broken = tmp_path / "broken.png"
  broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
  _fails([detector, reader, str(broken)], capsys, "broken.png")
  blank = tmp_path / "blank.png"
  Image.new("RGB", (400, 300), "white").save(blank)
  _fails([detector, reader, str(blank)], capsys, "blank.png", "no text lines found")
  _fails([f"--detector={line_reader}", reader, page_file], capsys, line_reader,
         "not a line detector", "returns text")
  _fails([detector, f"--workdir={line_detector[1]}", page_file], capsys,
         "into lines: a page needs a line recogniser")
  _fails([detector, reader, page_file, page_file], capsys, "--detector reads one page image")
  _fails(["--detector=no-such-detector", reader, page_file], capsys, "no zoo entry")
  with pytest.raises(SystemExit):  # argparse: not both.
    cli.main(["recognize", detector, f"--lines={page_file}", reader, page_file])


# ---- the server's page model ----------------------------------------------------------


def test_htr_serve_without_models_serves_the_zoos_page_model(line_detector, line_reader,
                                                             page_file, tmp_path, monkeypatch,
                                                             capsys):
  """The zoo's default line detector and line reader are served together as "page"."""
  from htr import inputs, zoo
  from htr.serve import server
  from htr.serve.models import load_models
  entries = tmp_path / "entries"
  _entry(line_detector[1], str(entries / "detector"), ["page"])
  _entry(line_reader, str(entries / "reader"), ["line"])
  monkeypatch.setattr(zoo, "ENTRIES", str(entries))
  expected = _recognize(["--page", page_file], capsys)
  models = load_models(server.zoo_models(str(tmp_path / "cache")))
  assert sorted(models) == ["detector", "page", "reader"]
  (result,) = models["page"].run([models["page"].prepare(inputs.read_image(page_file),
                                                         page_file)])
  assert result["text"] == expected["text"]


def _page_models_dir(root, detector_export: str, reader_export: str) -> dict[str, str]:
  """root/page/page.json naming the detector and reader served beside it; returns the
  exports to link into root (as `serving_client` does)."""
  os.makedirs(root / "page", exist_ok=True)
  (root / "page" / "page.json").write_text(
      json.dumps({"detector": "../detector", "reader": "../reader"}), encoding="utf-8")
  return {"detector": detector_export, "reader": reader_export}


def test_the_server_reads_an_uploaded_page(detector_export, reader_export, page_file,
                                           serving_client, tmp_path, capsys):
  expected = _recognize([f"--detector={detector_export}", f"--saved_model={reader_export}",
                         page_file], capsys)
  exports = _page_models_dir(tmp_path / "models", detector_export, reader_export)
  with serving_client(exports) as client:
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["page"]["kind"] == "image_page" and models["page"]["inputs"] == ["image"]
    assert models["page"]["metadata"]["detector"]["returns"] == "lines"
    assert models["page"]["metadata"]["reader"]["returns"] == "text"
    with open(page_file, "rb") as f:
      answer = client.post("/v1/models/page/image", files={"file": ("page.png", f, "image/png")})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["kind"] == "image_page" and result["text"] == expected["text"]
    assert result["page"]["image"] == "page.png"
    _same_lines(_lines_of(page_reading.read_segmentation(json.dumps(result["page"]).encode())),
                _lines_of(page_reading.read_segmentation(json.dumps(expected).encode())),
                atol=0.01)
    blank = Image.new("RGB", (400, 300), "white")
    blank.save(tmp_path / "blank.png")
    with open(tmp_path / "blank.png", "rb") as f:
      refused = client.post("/v1/models/page/image",
                            files={"file": ("blank.png", f, "image/png")})
    assert refused.status_code == 422 and refused.json()["error"] == "input"
    assert "blank.png" in refused.json()["message"]
    assert "no text lines found" in refused.json()["message"]
    assert 'htr_batch_size_count{model="page"}' in client.get("/metrics").text


def test_a_page_model_of_the_wrong_parts_is_refused(detector_export, tmp_path):
  from htr.serve import models
  os.makedirs(tmp_path / "page")
  manifest = tmp_path / "page" / "page.json"
  manifest.write_text(json.dumps({"detector": detector_export}), encoding="utf-8")
  with pytest.raises(InputError, match="no 'reader'"):
    models.load_page_model("page", str(tmp_path / "page"))
  manifest.write_text(json.dumps({"detector": detector_export, "reader": detector_export}),
                      encoding="utf-8")
  with pytest.raises(InputError, match="into lines, not images into text") as e:
    models.load_page_model("page", str(tmp_path / "page"))
  assert "page.json" in str(e.value)


def test_the_drawing_page_shows_a_pages_lines(detector_export, reader_export, page_file,
                                              live_server, browser, tmp_path):
  """Chromium opens a page photo on the drawing page with the page model chosen: the
  photo is shown with each found line's outline and, in reading order, its text and
  confidence."""
  import time

  import httpx

  from htr.serve.app import create_app
  from htr.serve.config import ServeConfig
  root = tmp_path / "models"
  for name, path in _page_models_dir(root, detector_export, reader_export).items():
    os.symlink(path, root / name)
  with live_server(create_app(ServeConfig(models_dir=str(root), rate=0))) as url:
    deadline = time.time() + 300
    while httpx.get(f"{url}/readyz").status_code != 200:
      assert time.time() < deadline
      time.sleep(0.1)
    expected = httpx.post(f"{url}/v1/models/page/image", timeout=120, files={
        "file": ("page.png", open(page_file, "rb").read(), "image/png")}).json()["page"]
    page = browser.new_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#model", "page")
    assert page.locator("#kind").inner_text() == "image_page"
    assert page.locator("#pad").is_hidden() and page.locator("#page").is_visible()
    page.set_input_files("#upload", page_file)
    lines = sorted((line for region in expected["regions"]
                                for line in region["lines"]),
                               key=lambda line: line["reading_order"])
    deadline = time.time() + 60
    while page.locator("#lines li").count() != len(lines):
      assert time.time() < deadline, page.locator("#status").inner_text()
      time.sleep(0.05)
    shown = page.locator("#lines li").all_inner_texts()
    for text, line in zip(shown, lines):
      assert text.startswith(line["text"])
      if line["confidence"] is not None:
        assert f"{100 * line['confidence']:.1f} %" in text
    assert "page.png" in page.locator("#status").inner_text()
    # The photo at its size (400x300 fits), with the outlines drawn in their colour.
    size = page.evaluate("() => [document.getElementById('page').width,"
                         " document.getElementById('page').height]")
    assert size == [400, 300]
    outline = page.evaluate(
        "() => { const d = document.getElementById('page').getContext('2d')"
        ".getImageData(0, 0, 400, 300).data; let n = 0; for (let i = 0; i < d.length; i += 4)"
        " if (d[i] > 200 && d[i + 1] < 90 && d[i + 2] < 60) n++; return n; }")
    assert outline > 100 * len(lines)
    assert not violations
    page.close()
