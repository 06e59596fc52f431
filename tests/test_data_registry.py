"""Op specs parse, compose in order, and reject what they cannot run."""

import numpy as np
import pytest

from htr import opspec
from htr.data import registry


def test_parse_names_and_literal_arguments():
  ops = opspec.parse("a | b(x=1, y=(2, 'z'))|c()")
  assert ops == [("a", {}), ("b", {"x": 1, "y": (2, "z")}), ("c", {})]


@pytest.mark.parametrize("spec", ["a(1)", "a(x=foo)", "a.b", "a(x=1"])
def test_parse_rejects_non_literal_or_positional(spec):
  with pytest.raises(ValueError, match="bad op"):
    opspec.parse(spec)


def test_build_rejects_unknown_op():
  with pytest.raises(ValueError, match="unknown op 'no_such_op'"):
    registry.build("no_such_op")


def test_build_composes_registered_ops_in_order():
  fn = registry.build("encode_text(alphabet='abc')|keep(keys=('labels',))")
  out = fn({"text": b"cab", "id": "x"}, np.random.default_rng(0))
  assert list(out) == ["labels"]
  np.testing.assert_array_equal(out["labels"], [3, 1, 2])


def test_parse_keeps_a_bar_inside_an_argument():
  ops = opspec.parse("a(v=('|', '\\\\|', 'x'))|b(s='|')")
  assert ops == [("a", {"v": ("|", "\\|", "x")}), ("b", {"s": "|"})]
