"""InkML reader and writer: round trip, the variants real corpora use, bad files."""

import io

import numpy as np
import pytest

from htr.errors import InputError
from htr.ink import inkml
from htr.ink.ink import Ink

NS = ' xmlns="http://www.w3.org/2003/InkML"'


def doc(body: str, *, namespace: bool = True, fmt: str | None = None) -> bytes:
  channels = "" if fmt is None else "<traceFormat>" + "".join(
      f'<channel name="{c.split(":")[0]}"'
      + (f' units="{c.split(":")[1]}"' if ":" in c else "") + "/>"
      for c in fmt.split()) + "</traceFormat>"
  return f"<ink{NS if namespace else ''}>{channels}{body}</ink>".encode()


def test_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  ink = Ink.from_strokes([np.column_stack([rng.normal(500, 100, (n, 2)), 0.013 * np.arange(n) + s])
                          for s, n in enumerate([7, 1, 30])])
  annotations = {"normalizedLabel": r"\frac{a<b}{c&d}", "sampleId": "0123abc"}
  path = tmp_path / "x.inkml"
  inkml.write_inkml(ink, annotations, path)
  back = inkml.read_inkml(path)
  assert back.annotations == annotations
  np.testing.assert_array_equal(back.ink.stroke_lengths, ink.stroke_lengths)
  np.testing.assert_array_equal(back.ink.points, ink.points)  # Bit for bit.
  buffer = io.BytesIO()
  inkml.write_inkml(ink, annotations, buffer)
  assert buffer.getvalue() == path.read_bytes()


@pytest.mark.parametrize("namespace", [True, False])
def test_mathwriting_style_ms_time(namespace):
  data = doc('<annotation type="label">x^2</annotation>'
             '<annotation type="normalizedLabel">x^{2}</annotation>'
             '<trace id="0">412.00 259.00 1000.0,413.5 254.25 1057.0</trace>'
             '<trace id="1">420 260 1200</trace>', namespace=namespace, fmt="X Y T:ms")
  result = inkml.read_inkml(data)
  assert result.annotations == {"label": "x^2", "normalizedLabel": "x^{2}"}
  np.testing.assert_allclose(result.ink.points,
                             [[412, 259, 0], [413.5, 254.25, 0.057], [420, 260, 0.2]], atol=1e-6)
  assert result.ink.stroke_lengths.tolist() == [2, 1]


def test_channel_order_extra_channels_and_seconds():
  data = doc('<trace>0.5 10 1 2, 0.7 20 3 4</trace>', fmt="T:s F X Y")
  np.testing.assert_allclose(inkml.read_inkml(data).ink.points, [[1, 2, 0], [3, 4, 0.2]],
                             atol=1e-6)


def test_huge_times_rebased_before_float32():
  data = doc('<trace>1 2 1700000000000, 3 4 1700000000010</trace>', fmt="X Y T:ms")
  np.testing.assert_allclose(inkml.read_inkml(data).ink.points[:, 2], [0, 0.01], atol=1e-7)


def test_crohme_style_no_format_no_time_and_truth():
  data = doc('<annotation type="UI">2013_IVC_F106</annotation>'
             '<annotation type="truth">$s = \\frac{1}{2}$</annotation>'
             '<annotation>$ignored$</annotation>'
             '<trace id="0">\n418 197, 408 195\n</trace><trace id="1">474 231</trace>'
             '<traceGroup><annotation type="truth">s</annotation>'
             '<traceView traceDataRef="0"/></traceGroup>')
  result = inkml.read_inkml(data)
  assert result.annotations == {"UI": "2013_IVC_F106", "truth": "$s = \\frac{1}{2}$"}
  np.testing.assert_allclose(result.ink.points, [[418, 197, 0], [408, 195, 0.01],
                                                  [474, 231, 0.02]], atol=1e-6)


def test_untyped_annotation_is_truth_when_no_typed_truth():
  data = doc('<annotation>$x + 1$</annotation><trace>1 2</trace>')
  assert inkml.read_inkml(data).annotations == {"truth": "$x + 1$"}


def test_declared_but_unwritten_trailing_channel():
  # 80 CROHME MfrDB files declare X Y F and write X Y.
  data = doc('<trace>1 2, 3 4 0.5</trace>', fmt="X Y F")
  np.testing.assert_array_equal(inkml.read_inkml(data).ink.points[:, :2], [[1, 2], [3, 4]])


def test_difference_coding():
  # Explicit, then first differences, then (sticky) second differences, then explicit.
  data = doc("<trace>10 20, '1'-2, \"1\"1, 0 0, !5 !5</trace>", fmt="X Y")
  np.testing.assert_allclose(inkml.read_inkml(data).ink.points[:, :2],
                             [[10, 20], [11, 18], [13, 17], [15, 16], [5, 5]])


@pytest.mark.parametrize("data, match", [
    (b"", "empty file"),
    (b"  \n", "empty file"),
    (b"<ink><trace>1 2</trace>", "malformed XML"),
    (doc(""), "no traces"),
    (doc("<trace></trace><trace> </trace>"), "all 2 traces are empty"),
    (doc("<trace>1 2, 3</trace>"), "point 1 has 1 values, expected 2"),
    (doc("<trace>1 2 3 4</trace>", fmt="X Y T"), "expected 3"),
    (doc("<trace>1 abc</trace>"), "could not convert"),
    (doc("<trace>1 T</trace>"), "not supported"),
    (doc("<trace>1 2, nan 3</trace>"), "NaN or infinite"),
    (doc("<trace>1 2, 3 inf</trace>"), "NaN or infinite"),
    (doc("<trace>1 2, 3e38 3</trace>"), "coordinate of 3e\\+38, beyond"),
    (doc("<trace>1 2, 1e300 3</trace>"), "1 points with NaN or infinite .*beyond float32"),
    (doc("<trace>1 2 3</trace>", fmt="X F T"), "lack a regular X or Y"),
    (doc("<trace>1 2 3</trace>", fmt="X Y T:fortnights"), "unknown units"),
    (doc("<trace>1 '2x</trace>"), "cannot read point 0"),
    (b"<svg><trace>1 2</trace></svg>", "not InkML"),
    (b'<ink xmlns="http://example.com/other"><trace>1 2</trace></ink>', "not InkML"),
    (b'<!DOCTYPE ink [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]><ink>&b;</ink>',
     "unsafe XML refused"),
    (b'<!DOCTYPE ink [<!ENTITY e SYSTEM "file:///etc/passwd">]><ink>&e;</ink>',
     "unsafe XML refused"),
])
def test_bad_files_name_the_file_and_problem(data, match):
  with pytest.raises(InputError, match=match) as error:
    inkml.read_inkml(data, name="train/0123.inkml")
  assert error.value.path == "train/0123.inkml"


def test_limits(tmp_path):
  data = doc("<trace>" + ", ".join(f"{i} {i}" for i in range(50)) + "</trace>")
  with pytest.raises(InputError, match="more than 20 points"):
    inkml.read_inkml(data, max_points=20)
  path = tmp_path / "big.inkml"
  path.write_bytes(data)
  with pytest.raises(InputError, match="larger than the limit"):
    inkml.read_inkml(path, max_bytes=len(data) - 1)
  assert inkml.read_inkml(path, max_bytes=len(data)).ink.num_points == 50


def test_a_trace_over_the_point_limit_is_refused_before_parsing(monkeypatch):
  def parse(*args):
    raise AssertionError("parsed a trace that was over the limit")
  monkeypatch.setattr(inkml, "_parse_trace", parse)
  with pytest.raises(InputError, match="more than 20 points"):
    inkml.read_inkml(doc("<trace>" + "1 2, " * 21 + "</trace>"), max_points=20)


def test_a_trailing_comma_does_not_count_as_a_point():
  data = doc("<trace>" + "1 2, " * 20 + "</trace>")
  assert inkml.read_inkml(data, max_points=20).ink.num_points == 20


def test_undeclared_latin1_bytes_are_read_as_latin1():
  # MfrDB0104.inkml of CROHME 2014: a raw 0xB7 (Latin-1 middle dot) in MathML, no declaration.
  data = (b'<ink xmlns="http://www.w3.org/2003/InkML"><annotation type="truth">$a \\cdot b$'
          b'</annotation><annotationXML><mo>\xb7</mo></annotationXML>'
          b'<trace>1 2, 3 4</trace></ink>')
  doc = inkml.read_inkml(data, name="MfrDB0104.inkml")
  assert doc.annotations["truth"] == "$a \\cdot b$" and doc.ink.num_points == 2
  declared = b'<?xml version="1.0" encoding="UTF-8"?>' + data
  with pytest.raises(InputError, match="x.inkml: malformed XML"):
    inkml.read_inkml(declared, name="x.inkml")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_are_read(tmp_path, encoding):
  """Windows tools save UTF-16 (with or without a byte-order mark); not to be taken
  for undeclared Latin-1."""
  from htr.inputs import read_ink
  text = doc('<annotation type="truth">é</annotation><trace>1 2, 3 4</trace>').decode()
  path = tmp_path / "utf16.inkml"
  path.write_bytes(text.encode(encoding))
  document = inkml.read_inkml(path)
  assert document.annotations["truth"] == "é" and document.ink.num_points == 2
  assert read_ink(path).num_points == 2


def test_empty_traces_hold_no_ink_and_are_left_out():
  document = inkml.read_inkml(doc("<trace/><trace>1 2, 3 4</trace><trace> </trace>"))
  assert document.ink.num_strokes == 1 and document.ink.num_points == 2


def test_deeply_nested_documents_are_refused_before_they_recurse():
  """10^5 nested traceGroups hit Python's recursion limit when the tree was walked (a
  server answered them with a 500)."""
  deep = doc("<traceGroup>" * 100_000 + "<trace>1 2, 3 4</trace>" + "</traceGroup>" * 100_000)
  with pytest.raises(InputError, match="deep.inkml: XML nested deeper than 64 elements"):
    inkml.read_inkml(deep, name="deep.inkml")
  nested = doc("<traceGroup>" * 5 + "<trace>1 2, 3 4</trace>" + "</traceGroup>" * 5)
  assert inkml.read_inkml(nested).ink.num_points == 2


def test_symbol_segmentation_is_read():
  """CROHME's traceGroups: a group of groups holds the symbols; each symbol names its
  traces by xml:id; an empty trace is no stroke, and references shift past it."""
  data = doc('<trace xml:id="a">1 2, 3 4</trace><trace xml:id="b"> </trace>'
             '<trace xml:id="c">5 6, 7 8</trace><trace xml:id="d">9 9, 9 8</trace>'
             '<traceGroup xml:id="g"><annotation type="truth">Segmentation</annotation>'
             '<traceGroup><annotation type="truth">x</annotation>'
             '<traceView traceDataRef="a"/><traceView traceDataRef="c"/></traceGroup>'
             '<traceGroup><annotation type="truth">\\lt</annotation>'
             '<traceView traceDataRef="d"/></traceGroup>'
             '<traceGroup><traceView traceDataRef="b"/></traceGroup></traceGroup>')
  document = inkml.read_inkml(data)
  assert document.ink.num_strokes == 3
  assert document.symbols == (("x", (0, 1)), ("\\lt", (2,)), ("", ()))
