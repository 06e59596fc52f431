"""Synthetic math: grammar labels, 2-D layout of the ink, the synthetic_math builder."""

import numpy as np
import tensorflow_datasets as tfds

from htr.text import latex
from htr.ink import records, synthetic
from htr.ink import synthetic_math as sm
from htr_datasets.synthetic_math import Builder


def _style(seed=0):
  return synthetic.sample_writer(np.random.default_rng([9, seed]))


def _strokes(ink):
  return [s[:, :2] for s in ink.strokes()]


def test_labels_are_well_formed_latex_with_every_structure():
  seen = set()
  for i in range(300):
    expr = sm.sample_expression(np.random.default_rng(i), depth=2)
    text = sm.to_latex(expr)
    label = latex.normalize(text)
    assert text.count("{") == text.count("}")
    assert latex.normalize(label) == label
    seen.update(latex.tokenize(label))
  assert {"\\frac", "\\sqrt", "^", "_", "\\sum", "\\int", "(", "[", "\\{"} <= seen
  assert seen & set(sm.GREEK) and seen & {"=", "<", "\\leq"} and seen & set(sm.FUNCTIONS)


def test_depth_zero_draws_no_structures():
  """synthetic_math/flat, a curriculum's first stage: symbols on a baseline and
  one-symbol scripts, no fractions, roots, brackets or big operators."""
  structures = {"\\frac", "\\sqrt", "\\sum", "\\int", "(", "[", "\\{"}
  seen = set()
  for i in range(200):
    expr = sm.sample_expression(np.random.default_rng(i), depth=0)
    tokens = set(latex.tokenize(latex.normalize(sm.to_latex(expr))))
    assert not tokens & structures, tokens
    seen |= tokens
  assert {"^", "_", "="} <= seen


def test_every_symbol_can_be_written():
  for token in list(sm.GREEK) + list(sm.SIGNS) + list(sm.FUNCTIONS) + ["x", "7", "\\{"]:
    for seed in range(3):  # Writers with different fonts.
      ink, tokens = sm.write_expression(sm._sym(token), _style(seed), np.random.default_rng(0))
      assert ink.num_points > 1 and np.isfinite(ink.points).all()
      assert tokens == [latex.normalize(token)] * ink.num_strokes


def test_fraction_layout_numerator_bar_denominator():
  frac = sm.Expr("frac", children=(sm._sym("x"), sm._sym("y")))
  style = _style(1)
  ink, tokens = sm.write_expression(frac, style, np.random.default_rng(0))
  strokes = _strokes(ink)
  n_x = len(sm._layout(sm._sym("x"), style, np.random.default_rng(0)).strokes)
  assert tokens == ["x"] * n_x + ["\\frac"] + ["y"] * (len(strokes) - n_x - 1)
  numerator, bar = np.concatenate(strokes[:n_x]), strokes[n_x]
  denominator = np.concatenate(strokes[n_x + 1:])
  assert numerator[:, 1].max() < bar[:, 1].mean() < denominator[:, 1].min()
  assert np.ptp(bar[:, 0]) > 2 * np.ptp(bar[:, 1])  # A horizontal line.


def test_superscript_is_raised_and_smaller():
  expr = sm.Expr("script", children=(sm._sym("n"), None, sm._sym("n")))
  ink, _ = sm.write_expression(expr, _style(2), np.random.default_rng(0))
  strokes = _strokes(ink)
  half = len(strokes) // 2
  base, script = np.concatenate(strokes[:half]), np.concatenate(strokes[half:])
  assert script[:, 1].mean() < base[:, 1].mean()
  assert np.ptp(script[:, 1]) < 0.85 * np.ptp(base[:, 1])
  assert script[:, 0].min() > base[:, 0].mean()


def test_samples_are_a_function_of_the_seed_and_respect_max_tokens():
  a = sm.sample(np.random.default_rng(5), _style(), max_tokens=12)
  b = sm.sample(np.random.default_rng(5), _style(), max_tokens=12)
  assert a[0] == b[0] and len(latex.tokenize(latex.normalize(a[0]))) <= 12
  np.testing.assert_array_equal(a[1].points, b[1].points)


def test_tiny_builder(tmp_path):
  builder = Builder(config="tiny", data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare()
  sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
  assert sizes == {"train": 48, "validation": 16, "test": 16}
  writers = {}
  for split in sizes:
    source = tfds.data_source("synthetic_math/tiny", data_dir=str(tmp_path), split=split)
    writers[split] = set()
    for record in source:
      label = records.as_text(record["label"])
      assert records.as_text(record["normalized_label"]) == latex.normalize(label)
      assert len(latex.tokenize(latex.normalize(label))) <= 24
      ink = records.record_to_ink(record["ink"])
      assert ink.num_points > 1
      # Every stroke names a token of the label (a fraction's bar: \frac).
      stroke_tokens = records.as_text(record["stroke_tokens"]).split()
      assert len(stroke_tokens) == ink.num_strokes
      assert set(stroke_tokens) <= set(latex.tokenize(latex.normalize(label)))
      writers[split].add(int(record["writer"]))
  assert not writers["train"] & writers["test"] and not writers["train"] & writers["validation"]
