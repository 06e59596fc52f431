"""Reading a page whose lines are given (issue 18, item 4's --lines): a generated page
of synthetic handwriting with its PAGE-XML, ALTO and JSON, read by a tiny CRNN through
`htr recognize --lines`, written in each format and read back; the page CER."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from htr import cli, inputs
from htr.errors import InputError
from htr.image import lines, page_json, page_reading, page_writers, pages
from htr.image.page_model import Line, Page, Region, box_polygon
from htr.ink import render, synthetic
from htr.tasks import text_scores

PAPER = (236, 232, 220)
WIDTH, HEIGHT = 900, 330


def _line_picture(rng, max_width: int) -> tuple[str, np.ndarray]:
  """A synthetic writer's line as a scan (uint8 RGB), at most `max_width` wide."""
  text = synthetic.sample_line(rng, max_words=2)
  ink = synthetic.write_line(text, synthetic.sample_writer(rng), rng)
  rendered = render.render(ink, height=48, pen_width=2.5).astype(np.float32) / 255
  picture = Image.fromarray(lines.degrade(rendered, rng, max_skew_deg=0.0, p_jpeg=0.0,
                                          p_binary=0.0))
  if picture.width > max_width:
    picture = picture.resize((max_width, max(8, picture.height * max_width // picture.width)))
  return text, picture


def _page(seed: int = 0) -> tuple[np.ndarray, Page]:
  """Four lines in two columns (the right column's second line turned by 6 degrees) on
  paper, with their polygons, baselines, regions, texts and reading order."""
  rng = np.random.default_rng(seed)
  canvas = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
  placed = []
  for k, (x, y) in enumerate([(20, 30), (20, 170), (470, 30), (470, 170)]):
    text, picture = _line_picture(rng, 400)
    w, h = picture.size
    corners = box_polygon((x, y, x + w, y + h))
    baseline = np.array([[x, y + 0.75 * h], [x + w, y + 0.75 * h]], np.float32)
    if k == 3:  # Rotated about its centre, the outline and baseline with it.
      mask = Image.new("L", picture.size, 255).rotate(6, expand=True)
      picture = picture.rotate(6, Image.Resampling.BILINEAR, expand=True, fillcolor=PAPER)
      canvas.paste(picture, (x, y), mask)
      turn = np.radians(6)
      rotation = np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
      centre = np.array([x + w / 2, y + h / 2])
      shift = (np.array(picture.size) - [w, h]) / 2
      corners = (corners - centre) @ rotation.T + centre + shift
      baseline = (baseline - centre) @ rotation.T + centre + shift
    else:
      canvas.paste(picture, (x, y))
    placed.append((text, np.round(corners).astype(np.float32),
                   np.round(baseline).astype(np.float32)))
  page_lines = tuple(Line(f"l{k}", polygon, baseline, text, "handwritten", k,
                          "left" if k < 2 else "right")
                     for k, (text, polygon, baseline) in enumerate(placed))
  regions = (Region("left", box_polygon((10, 10, 440, 320))),
             Region("right", box_polygon((460, 10, 890, 320))))
  return np.asarray(canvas), Page("page.png", WIDTH, HEIGHT, page_lines, "", regions)


@pytest.fixture(scope="module")
def page_files(tmp_path_factory) -> dict:
  """page.png with its lines as PAGE-XML, ALTO and JSON (texts: the truth)."""
  root = tmp_path_factory.mktemp("page")
  image, page = _page()
  Image.fromarray(image).save(root / "page.png")
  files = {"image": str(root / "page.png"), "truth": page}
  for fmt, name in (("page", "page.xml"), ("alto", "alto.xml"), ("json", "page.json")):
    (root / name).write_bytes(page_writers.serialise(page, fmt))
    files[fmt] = str(root / name)
  return files


@pytest.fixture(scope="module")
def workdir(line_reader) -> str:
  """A tiny CRNN (the session's), trained for runlocal's two steps."""
  return line_reader


def _fake(texts, image, page):
  """A recogniser that knows each line of `page` by its picture (as `crop_line` cuts it
  from `image`) and reads it as `texts` (None: "no ink"); it records the pictures of each
  batch it was given."""
  by_picture = {}
  for line, text in zip(page.lines, texts):
    if len(line.polygon) >= 3:  # A line that cannot be cut is never read.
      crop = lines.crop_line(image, line.polygon, line.baseline)
      by_picture[crop.shape, crop.tobytes()] = text
  calls = []

  def recognise(images):
    calls.append(list(images))
    out = []
    for picture in images:
      text = by_picture[picture.shape, picture.tobytes()]
      if text is None:
        out.append({"error": "no ink"})
      else:
        out.append({"text": text, "confidence": 0.5,
                    "words": [{"text": w, "confidence": 0.25} for w in text.split()]})
    return out
  return recognise, calls


# ---- read_page_lines with a stand-in recogniser ----------------------------------------


def test_lines_are_read_in_batches_of_like_shape_and_kept_in_the_file_order():
  image, page = _page()
  recognise, calls = _fake(["a b", " c ", "d", "e  f"], image, page)
  reading = page_reading.read_page_lines(image, page, recognise, batch_size=3)
  assert [len(batch) for batch in calls] == [3, 1] and reading.failed == ()
  aspects = [picture.shape[1] / picture.shape[0] for batch in calls for picture in batch]
  assert aspects == sorted(aspects)  # Like widths padded together.
  read = reading.page
  assert [line.id for line in read.lines] == ["l0", "l1", "l2", "l3"]
  assert [line.text for line in read.lines] == ["a b", "c", "d", "e f"]  # Spaces collapsed.
  assert [len(line.words) for line in read.lines] == [2, 1, 1, 2]
  assert read.lines[3].words[1].text == "f" and read.lines[3].words[1].confidence == 0.25
  assert all(line.confidence == 0.5 and line.type == "handwritten" for line in read.lines)
  for before, after in zip(page.lines, read.lines):
    np.testing.assert_array_equal(before.polygon, after.polygon)
    np.testing.assert_array_equal(before.baseline, after.baseline)
  assert read.regions == page.regions


def test_each_line_is_cut_as_page_lines_cuts_it():
  """The recogniser sees `crop_line` of the page (RGB uint8), straightened: the turned
  line comes out about as high as the level ones."""
  image, page = _page()
  seen = []
  page_reading.read_page_lines(image, page, lambda images: seen.extend(images) or
                               [{"text": ""} for _ in images])
  cut = [lines.crop_line(image, line.polygon, line.baseline) for line in page.lines]
  assert sorted(crop.tobytes() for crop in seen) == sorted(crop.tobytes() for crop in cut)
  assert cut[3].shape[0] < 1.4 * max(crop.shape[0] for crop in cut[:3])


def test_a_file_without_reading_order_is_put_in_order_by_xy_cut():
  image, page = _page()
  shuffled = tuple(page.lines[i] for i in (3, 0, 2, 1))
  page = dataclasses.replace(page, lines=shuffled, ordered=False)
  reading = page_reading.read_page_lines(image, page, _fake("1234", image, page)[0])
  assert [line.id for line in reading.page.lines] == ["l0", "l1", "l2", "l3"]
  assert [line.order for line in reading.page.lines] == [0, 1, 2, 3]
  assert reading.page.ordered


def test_lines_that_cannot_be_cut_or_read_are_named_never_dropped():
  image, page = _page()
  flat = np.array([[30, 100], [200, 100], [300, 100]], np.float32)  # No area.
  bad = dataclasses.replace(page, lines=(dataclasses.replace(page.lines[0], polygon=flat),
                                         *page.lines[1:]))
  with pytest.raises(InputError, match=r"lines.xml: 1 line\(s\) cannot be cut from page.png: "
                     r"line l0: a degenerate polygon"):
    page_reading.read_page_lines(image, bad, _fake([], image, bad)[0], where="lines.xml")
  reading = page_reading.read_page_lines(image, bad, _fake([None, "x", None, "z"], image, bad)[0],
                                         strict=False)
  assert [line.id for line in reading.page.lines] == ["l0", "l1", "l2", "l3"]
  assert [line.text for line in reading.page.lines] == ["", "x", "", "z"]
  assert reading.page.lines[0].confidence is None and reading.page.lines[2].words == ()
  assert [line_id for line_id, _ in reading.failed] == ["l0", "l2"]
  assert "degenerate" in reading.failed[0][1] and reading.failed[1][1] == "no ink"
  with pytest.raises(InputError, match=r"1 line\(s\) cannot be read: line l2: no ink"):
    page_reading.read_page_lines(image, page, _fake(["w", "x", None, "z"], image, page)[0])


def test_an_image_of_another_size_is_refused_naming_both():
  image, page = _page()
  with pytest.raises(InputError, match=r"lines.xml: its lines are for a 900x330 page, but "
                     r"page.png is 900x300"):
    page_reading.read_page_lines(image[:300], page, _fake([], image, page)[0],
                                 where="lines.xml")


def test_segmentations_are_told_apart_by_content(page_files):
  truth = page_files["truth"]
  for fmt in ("page", "alto", "json"):
    page = page_reading.read_segmentation(page_files[fmt])
    assert page.format == fmt and [l.text for l in page.lines] == [l.text for l in
                                                                     truth.lines]
  with pytest.raises(InputError, match="bad.xml: malformed XML"):
    page_reading.read_segmentation(b"<PcGts><Page", name="bad.xml")
  with pytest.raises(InputError, match="bad.json: not JSON"):
    page_reading.read_segmentation(b"{oops", name="bad.json")


@pytest.mark.parametrize("array", [
    np.full((4, 5, 4), 200, np.uint8), np.full((4, 5), 50000, np.uint16),
    np.full((4, 5, 3), 0.5, np.float32), np.full((4, 5, 1), 9, np.uint8)])
def test_page_pixels_are_uint8_gray_or_rgb(array):
  pixels = page_reading.page_pixels(array)
  assert pixels.dtype == np.uint8 and pixels.shape[:2] == (4, 5) and pixels.ndim in (2, 3)
  assert pixels.ndim == 2 or pixels.shape[2] == 3


# ---- page CER ----------------------------------------------------------------------------


def test_page_cer_joins_lines_by_newlines_in_each_reading_order():
  _, truth = _page()
  texts = [line.text for line in truth.lines]
  assert text_scores.page_text(truth) == "\n".join(texts)
  assert text_scores.page_cer(truth, truth) == 0.0
  # The predicted page's own order counts: its lines listed backwards but ordered right.
  backwards = dataclasses.replace(truth, lines=truth.lines[::-1])
  assert text_scores.page_cer(backwards, truth) == 0.0
  swapped = dataclasses.replace(truth, lines=tuple(
      dataclasses.replace(line, order=3 - line.order) for line in truth.lines))
  assert text_scores.page_cer(swapped, truth) > 0.5
  merged = dataclasses.replace(truth, lines=(
      dataclasses.replace(truth.lines[0], text=texts[0] + " " + texts[1]),
      *truth.lines[2:]))  # Two lines read as one: one edit, the newline become a space.
  total = len("\n".join(texts))
  assert text_scores.page_cer(merged, truth) == pytest.approx(1 / total)
  one_wrong = dataclasses.replace(truth, lines=(
      dataclasses.replace(truth.lines[0], text=texts[0][:-1], confidence=0.5),
      *truth.lines[1:]))
  record = text_scores.page_record("p", one_wrong, truth)
  assert record["edits"] == 1 and record["cer"] == pytest.approx(1 / total)
  assert record["confidence"] == 0.5
  empty = dataclasses.replace(truth, lines=())
  assert text_scores.page_cer(empty, truth) == 1.0


# ---- htr recognize --lines with a tiny CRNN ----------------------------------------------


def _line_texts(workdir, image_path, page, tmp_path, capsys) -> list[str]:
  """What `htr recognize --json` reads in each line of `page`, cut as page_lines cuts."""
  pixels = page_reading.page_pixels(inputs.read_image(image_path))
  paths = []
  for line in page.lines:
    paths.append(str(tmp_path / f"{line.id}.png"))
    Image.fromarray(lines.crop_line(pixels, line.polygon, line.baseline)).save(paths[-1])
  assert cli.main(["recognize", f"--workdir={workdir}", "--json", *paths]) == 0
  results = [json.loads(row) for row in capsys.readouterr().out.splitlines()]
  assert [r["file"] for r in results] == paths
  return [" ".join(r["text"].split()) for r in results]


def test_htr_recognize_lines_writes_each_format_that_reads_back(workdir, page_files,
                                                                tmp_path, capsys):
  truth = page_files["truth"]
  expected = _line_texts(workdir, page_files["image"], truth, tmp_path, capsys)
  for fmt, lines_file in (("page", "alto"), ("alto", "page"), ("json", "json")):
    out = str(tmp_path / f"out.{fmt}")
    assert cli.main(["recognize", f"--workdir={workdir}", f"--lines={page_files[lines_file]}",
                     page_files["image"], f"--format={fmt}", f"--out={out}"]) == 0
    with open(out, "rb") as f:
      data = f.read()
    read = page_json.from_json(data) if fmt == "json" else pages.read_page(out)
    assert read.format == fmt and (read.width, read.height) == (WIDTH, HEIGHT)
    assert read.image.endswith("page.png")
    assert [line.id for line in read.lines] == [line.id for line in truth.lines]
    assert [line.text for line in read.lines] == expected, fmt
    for before, after in zip(truth.lines, read.lines):
      np.testing.assert_array_equal(before.polygon, after.polygon)
      np.testing.assert_array_equal(before.baseline, after.baseline)
    assert [line.region for line in read.lines] == ["left", "left", "right", "right"]
    if fmt == "json":  # JSON keeps every confidence, and words that spell each line.
      assert all(0.0 <= line.confidence <= 1.0 for line in read.lines)
      assert all(" ".join(w.text for w in line.words) == line.text for line in read.lines)
  # Without --out the page goes to stdout (JSON by default).
  assert cli.main(["recognize", f"--workdir={workdir}", f"--lines={page_files['page']}",
                   page_files["image"]]) == 0
  printed = json.loads(capsys.readouterr().out)
  assert printed["text"] == "\n".join(expected) and printed["image"] == "page.png"


def _fails(argv, capsys, *needles) -> None:
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  for needle in needles:
    assert needle in err, err


def test_htr_recognize_lines_errors(workdir, page_files, tmp_path, capsys):
  model = f"--workdir={workdir}"
  image = page_files["image"]
  small = str(tmp_path / "small.png")
  Image.open(image).crop((0, 0, 800, HEIGHT)).save(small)
  _fails(["recognize", model, f"--lines={page_files['page']}", small], capsys,
         page_files["page"], "900x330 page", "small.png is 800x330")
  broken = tmp_path / "broken.xml"
  broken.write_text("<PcGts><Page", encoding="utf-8")
  _fails(["recognize", model, f"--lines={broken}", image], capsys, str(broken), "malformed XML")
  _fails(["recognize", model, f"--lines={page_files['page']}", str(tmp_path / "none.png")],
         capsys, "none.png", "no such file")
  _fails(["recognize", model, f"--lines={tmp_path / 'none.xml'}", image], capsys,
         "none.xml", "cannot read file")
  _fails(["recognize", model, f"--lines={page_files['page']}", image, image], capsys,
         "one page image")
  _fails(["recognize", model, "--format=alto", image], capsys, "--lines=FILE")
  # A line with no area: named, and nothing written; --skip_bad_lines writes it empty.
  truth = page_files["truth"]
  flat = np.array([[30, 100], [200, 100], [300, 100]], np.float32)
  bad = dataclasses.replace(truth, lines=(
      *truth.lines[:2], dataclasses.replace(truth.lines[2], polygon=flat), truth.lines[3]))
  bad_file = tmp_path / "bad.json"
  bad_file.write_text(page_json.to_json(bad), encoding="utf-8")
  out = tmp_path / "bad_out.xml"
  _fails(["recognize", model, f"--lines={bad_file}", image, "--format=page", f"--out={out}"],
         capsys, str(bad_file), "line l2: a degenerate polygon")
  assert not out.exists()
  assert cli.main(["recognize", model, f"--lines={bad_file}", image, "--format=page",
                   f"--out={out}", "--skip_bad_lines"]) == 0
  assert "line l2 written without text: a degenerate polygon" in capsys.readouterr().err
  read = pages.read_page(str(out))
  assert [line.id for line in read.lines] == ["l0", "l1", "l2", "l3"]
  assert read.lines[2].text == "" and read.lines[2].confidence is None
