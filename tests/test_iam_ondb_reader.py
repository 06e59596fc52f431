"""IAM-OnDB lineStrokes and transcription readers: real quirks and bad files."""

import numpy as np
import pytest

from htr.errors import InputError
from htr.ink import iam_ondb
from htr.ink.ink import Ink

HEADER = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<WhiteboardCaptureSession>\n'
          '<WhiteboardDescription><SensorLocation corner="top_left"/>'
          '<DiagonallyOppositeCoords x="6512" y="1376"/></WhiteboardDescription>\n')


def line_xml(strokes: str) -> bytes:
  return (HEADER + f"<StrokeSet>{strokes}</StrokeSet></WhiteboardCaptureSession>\n").encode(
      "iso-8859-1")


def stroke(*points: str) -> str:
  return '<Stroke colour="black">' + "".join(f"<Point {p}/>" for p in points) + "</Stroke>"


def test_reads_points_and_rebases_huge_times_in_float64():
  data = line_xml(stroke('x="1073" y="1058" time="12924790.73"',
                         'x="1080" y="1060" time="12924790.74"')
                  + stroke('x="1100" y="1070" time="12924791.18"'))
  ink = iam_ondb.read_line_strokes(data, name="a01-000u-01.xml")
  assert ink.stroke_lengths.tolist() == [2, 1]
  np.testing.assert_array_equal(ink.points[:, :2], [[1073, 1058], [1080, 1060], [1100, 1070]])
  # In float32 12924790.73 and .74 are the same number: the offset must go first.
  np.testing.assert_allclose(ink.points[:, 2], [0.0, 0.01, 0.45], atol=1e-6)
  assert ink.points.dtype == np.float32


def test_crlf_and_empty_strokes():
  data = line_xml("\r\n" + stroke('x="1" y="2" time="5.0"') + '<Stroke colour="black"/>\r\n'
                  + stroke('x="3" y="4" time="5.5"'))
  assert iam_ondb.read_line_strokes(data).stroke_lengths.tolist() == [1, 1]


def test_write_read_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  ink = Ink.from_strokes([np.column_stack([rng.integers(0, 5000, (n, 2)), 0.01 * np.arange(n) + s])
                          for s, n in enumerate([5, 1, 12])])
  path = tmp_path / "a01-000u-01.xml"
  iam_ondb.write_line_strokes(ink, path, time_offset=12924790.73, crlf=True)
  assert path.read_bytes().startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>\r\n')
  back = iam_ondb.read_line_strokes(path)
  np.testing.assert_array_equal(back.stroke_lengths, ink.stroke_lengths)
  np.testing.assert_array_equal(back.points[:, :2], ink.points[:, :2])
  np.testing.assert_allclose(back.points[:, 2], ink.points[:, 2], atol=1e-6)


def test_transcription_csr_lines(tmp_path):
  text = ("OCR:\r\n\r\nThough they may gather some Left-wing support , a\r\n\r\nCSR: \r\n\r\n"
          "Though they may gather some  \r\nLeft-wing support , a large majority\r\n\r\n"
          " of Labour M Ps\r\n\r\n")
  path = tmp_path / "a01-003.txt"
  path.write_bytes(text.encode("iso-8859-1"))
  assert iam_ondb.read_transcription(path) == [
      "Though they may gather some", "Left-wing support , a large majority", "of Labour M Ps"]
  assert iam_ondb.read_transcription(b"CSR:\nA caf\xe9\n") == ["A caf\u00e9"]


def test_transcription_without_csr():
  with pytest.raises(InputError, match="x.txt: no CSR"):
    iam_ondb.read_transcription(b"OCR:\n\nsome text\n", name="x.txt")


@pytest.mark.parametrize("data, match", [
    (b"", "empty file"),
    (b"<WhiteboardCaptureSession><StrokeSet>", "malformed XML"),
    (line_xml(""), "no strokes"),
    (line_xml('<Stroke colour="black"/>'), "no strokes"),
    (b"<ink><trace>1 2</trace></ink>", "not an IAM-OnDB lineStrokes file"),
    (line_xml(stroke('x="1" y="2" time="0"', 'x="1" time="0"')), "stroke 1, point 2 has no y"),
    (line_xml(stroke('x="1" y="2" time="0"') + stroke('x="1" y="abc" time="0"')),
     "stroke 2, point 1: could not convert string to float: 'abc'"),
    (line_xml('<Point x="1" y="2" time="0"/>'), "outside any <Stroke> \\(before any"),
    (line_xml(stroke('x="1" y="2" time="0"') + '<Point x="1" y="2" time="0"/>'),
     "outside any <Stroke> \\(after stroke 1"),
    (line_xml(stroke('x="nan" y="2" time="0"')), "NaN or infinite"),
    (line_xml(stroke('x="1" y="inf" time="0"')), "NaN or infinite"),
    (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
     b"<WhiteboardCaptureSession>&b;</WhiteboardCaptureSession>", "unsafe XML refused"),
])
def test_bad_files_name_the_file_and_problem(data, match):
  with pytest.raises(InputError, match=match) as error:
    iam_ondb.read_line_strokes(data, name="lineStrokes/a01/a01-000/a01-000u-01.xml")
  assert error.value.path == "lineStrokes/a01/a01-000/a01-000u-01.xml"


def test_limits(tmp_path):
  data = line_xml(stroke(*[f'x="{i}" y="0" time="{i}"' for i in range(20)]))
  with pytest.raises(InputError, match="more than 10 points"):
    iam_ondb.read_line_strokes(data, max_points=10)
  path = tmp_path / "big.xml"
  path.write_bytes(data)
  with pytest.raises(InputError, match="larger than the limit 100") as error:
    iam_ondb.read_line_strokes(path, max_bytes=100)
  assert error.value.path == str(path)
  with pytest.raises(InputError, match="cannot read file"):
    iam_ondb.read_line_strokes(tmp_path / "missing.xml")
