"""Pages read end to end and scored (`htr evaluate_pages`): the page CER takes missed,
split and misordered lines, line types select what is scored, and the command runs a
detector and a reader over a page dataset's split."""

import json

import numpy as np
import pytest

from htr import cli
from htr.image import page_eval, page_reading
from htr.image.page_model import Line, Page, box_polygon


def _line(i: int, text: str, box, kind: str = "handwritten") -> Line:
  polygon = box_polygon(box)
  return Line(f"l{i}", polygon, polygon[[3, 2]], text, kind, i, "r")


TRUTH = Page("p.png", 200, 100, (
    _line(0, "Dear Sir,", (10, 10, 190, 30)),
    _line(1, "21^st of May ⟦illegible⟧", (10, 40, 190, 60)),
    _line(2, "PRINTED", (10, 70, 190, 90), kind="printed")), "")


def _reader(texts_and_boxes):
  def read(image, name):
    lines = tuple(_line(i, text, box, "") for i, (text, box) in enumerate(texts_and_boxes))
    return page_reading.PageReading(Page(name, 200, 100, lines, ""))
  return read


def test_a_perfect_reading_scores_zero_and_struck_ink_is_not_expected():
  read = _reader([("Dear Sir,", (10, 10, 190, 30)), ("21st of May", (10, 40, 190, 60)),
                  ("PRINTED", (10, 70, 190, 90))])
  report = page_eval.evaluate([("p.png", np.zeros((100, 200)), TRUTH)] * 2, read)
  assert report["metrics"]["page_cer"] == 0.0 and report["metrics"]["order_accuracy"] == 1.0
  assert report["metrics"]["truth_lines"] == report["metrics"]["found_lines"] == 6
  assert report["pages"][0]["reference"] == "Dear Sir,\n21st of May\nPRINTED"
  assert report["metrics"]["seconds_p95"] >= report["metrics"]["seconds_p50"] >= 0


def test_line_types_keep_the_lines_over_them_and_false_lines():
  read = _reader([("Dear Sir,", (10, 10, 190, 30)), ("21st of May", (10, 40, 190, 60)),
                  ("XYZ", (10, 70, 190, 90)),        # Over the printed line: not scored.
                  ("noise", (150, 92, 190, 99))])    # Over nothing: an insertion.
  report = page_eval.evaluate([("p.png", np.zeros((100, 200)), TRUTH)], read,
                              line_types=["handwritten"])
  page = report["pages"][0]
  assert page["reference"] == "Dear Sir,\n21st of May"
  assert page["prediction"] == "Dear Sir,\n21st of May\nnoise"
  assert report["metrics"]["page_cer"] == pytest.approx(6 / len(page["reference"]))


def test_a_missed_line_and_a_wrong_order_cost_their_text():
  missed = page_eval.evaluate([("p", np.zeros((100, 200)), TRUTH)],
                              _reader([("Dear Sir,", (10, 10, 190, 30))]))
  swapped = page_eval.evaluate([("p", np.zeros((100, 200)), TRUTH)], _reader(
      [("PRINTED", (10, 70, 190, 90)), ("21st of May", (10, 40, 190, 60)),
       ("Dear Sir,", (10, 10, 190, 30))]))
  assert missed["metrics"]["page_cer"] > 0.5 and swapped["metrics"]["page_cer"] > 0.3
  assert swapped["metrics"]["order_accuracy"] == 0.0  # None of the 3 pairs in order.
  assert swapped["pages"][0]["order_pairs"] == 3


def test_order_accuracy_counts_the_pairs_of_matched_lines_only():
  """A line found twice, or found where no truth line is, is judged by the CER, not by
  the order: the pairs are those of distinct truth lines found."""
  read = _reader([("21st of May", (10, 40, 190, 60)), ("Dear Sir,", (10, 10, 190, 30)),
                  ("Dear", (10, 10, 180, 30)),          # Same truth line again: not a pair.
                  ("PRINTED", (10, 70, 190, 90)),
                  ("noise", (150, 92, 190, 99))])      # Over nothing: not a pair.
  report = page_eval.evaluate([("p.png", np.zeros((100, 200)), TRUTH)], read)
  assert report["pages"][0]["order_pairs"] == 3 and report["pages"][0]["order_pairs_right"] == 2
  assert report["metrics"]["order_accuracy"] == pytest.approx(2 / 3)


def test_evaluate_pages_reads_a_page_dataset(line_detector, line_reader, data_dir, tmp_path,
                                             capsys):
  out = tmp_path / "report.json"
  assert cli.main(["evaluate_pages", f"--detector={line_detector[1]}",
                   f"--workdir={line_reader}", "--data=page_layout_fixture", "--split=train",
                   f"--data_dir={data_dir}", f"--out={out}"]) == 0
  report = json.loads(out.read_text())
  metrics = report["metrics"]
  assert metrics["num_pages"] == len(report["pages"]) > 0
  assert metrics["truth_lines"] > 0 and metrics["found_lines"] > 0
  assert np.isfinite(metrics["page_cer"]) and metrics["seconds_p95"] > 0
  assert all({"reference", "prediction", "cer", "seconds"} <= set(p) for p in report["pages"])
  assert "page_layout_fixture/train: page_cer" in capsys.readouterr().out

  # The reader's CTC beam with a character LM, as `htr recognize --lm` reads lines.
  from htr.decode.lm import CharNgramLM
  lm = tmp_path / "lm.npz"
  CharNgramLM.train([p["reference"] for p in report["pages"]], order=3).save(lm)
  assert cli.main(["evaluate_pages", f"--detector={line_detector[1]}",
                   f"--workdir={line_reader}", "--data=page_layout_fixture", "--split=train",
                   f"--data_dir={data_dir}", f"--out={out}", "--beam_width=4",
                   f"--lm={lm}"]) == 0
  report = json.loads(out.read_text())
  assert report["decode"] == {"beam_width": 4, "lm": str(lm)}
  assert np.isfinite(report["metrics"]["page_cer"])
  missing = tmp_path / "no_such_lm.npz"
  assert cli.main(["evaluate_pages", f"--detector={line_detector[1]}",
                   f"--workdir={line_reader}", "--data=page_layout_fixture", "--split=train",
                   f"--data_dir={data_dir}", "--beam_width=4", f"--lm={missing}"]) == 2
  assert str(missing) in capsys.readouterr().err
