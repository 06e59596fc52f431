"""Synthetic ink: text, writers, ink validity, determinism and the `synthetic_ink` builder."""

import numpy as np
import pytest

from htr.errors import InputError
from htr.ink import records, synthetic


def _writers(n: int, seed: int = 0) -> list[synthetic.WriterStyle]:
  return [synthetic.sample_writer(np.random.default_rng([seed, i])) for i in range(n)]


@pytest.mark.parametrize("font", synthetic.FONTS)
def test_every_font_draws_the_charset(font):
  chars = synthetic.IAM_ONDB_CHARSET.replace(" ", "")
  assert all(synthetic.can_draw(font, c) for c in chars)
  style = _writers(1)[0]
  style = synthetic.WriterStyle(**{**vars(style), "font": font, "alt_chars": ""})
  ink = synthetic.write_line(chars, style, np.random.default_rng(0))
  assert ink.num_strokes >= len(chars) // 3


def test_undrawable_text_raises():
  style = _writers(1)[0]
  with pytest.raises(InputError):
    synthetic.write_line("tab\there", style, np.random.default_rng(0))
  with pytest.raises(InputError):
    synthetic.write_line("   ", style, np.random.default_rng(0))


def test_sample_line_stays_in_charset():
  rng = np.random.default_rng(0)
  for _ in range(300):
    text = synthetic.sample_line(rng, min_words=1, max_words=6)
    assert text and text == text.strip() and "  " not in text
    assert set(text) <= set(synthetic.IAM_ONDB_CHARSET)
    assert len(text.split()) <= 6 * 2  # Words plus spaced-off punctuation.


def test_lines_are_deterministic():
  def line(seed):
    style = synthetic.sample_writer(np.random.default_rng([1, seed]))
    rng = np.random.default_rng([2, seed])
    text = synthetic.sample_line(rng, min_words=2, max_words=6)
    return style, text, synthetic.write_line(text, style, rng)

  (s1, t1, ink1), (s2, t2, ink2) = line(7), line(7)
  assert s1 == s2 and t1 == t2
  np.testing.assert_array_equal(ink1.points, ink2.points)
  np.testing.assert_array_equal(ink1.stroke_lengths, ink2.stroke_lengths)
  assert line(8)[1] != t1


def test_inks_are_valid():
  rng = np.random.default_rng(0)
  for style in _writers(24):
    text = synthetic.sample_line(rng, min_words=1, max_words=6)
    ink = synthetic.write_line(text, style, rng)
    assert ink.num_points >= 2 * ink.num_strokes
    assert (ink.stroke_lengths > 0).all()
    assert np.isfinite(ink.points).all()
    np.testing.assert_array_equal(ink.points[:, :2], np.round(ink.points[:, :2]))
    assert (np.diff(ink.points[:, 2]) >= 0).all()  # Time never goes back.
    assert ink.points[0, 2] == 0.0
    # Pen-up gaps: every stroke starts strictly after the previous one ends.
    ends = np.cumsum(ink.stroke_lengths) - 1
    assert (ink.points[ends[:-1] + 1, 2] > ink.points[ends[:-1], 2]).all()


def test_y_grows_downward():
  """An apostrophe (top of the line) has smaller y than an underscore (bottom)."""
  for style in _writers(8):
    style = synthetic.WriterStyle(**{**vars(style), "lift_prob": 0.0})
    strokes = synthetic.write_line("'_", style, np.random.default_rng(0)).strokes()
    assert strokes[0][:, 1].mean() < strokes[-1][:, 1].mean()


def test_cursive_letters_join_into_few_strokes():
  style = _writers(1)[0]
  style = synthetic.WriterStyle(**{**vars(style), "font": "cursive", "alt_chars": "",
                                   "connect_prob": 1.0, "lift_prob": 0.0})
  ink = synthetic.write_line("common", style, np.random.default_rng(0))
  assert ink.num_strokes <= 2


def _records(source):
  return sorted((records.as_text(r["id"]), r) for r in (source[i] for i in range(len(source))))


def test_builder_tiny_reads_back_and_is_deterministic(tmp_path, build_dataset):
  first = build_dataset("synthetic_ink/tiny", tmp_path / "a")[1]
  second = build_dataset("synthetic_ink/tiny", tmp_path / "b")[1]
  for split, source in first.items():
    assert len(source) > 0
    for (id1, r1), (id2, r2) in zip(_records(source), _records(second[split]), strict=True):
      assert id1 == id2 and id1.startswith(split)
      assert r1["text"] == r2["text"] and r1["writer"] == r2["writer"]
      np.testing.assert_array_equal(r1["ink"]["points"], r2["ink"]["points"])
      ink = records.record_to_ink(r1["ink"])
      assert ink.num_points > 0
      assert set(records.as_text(r1["text"])) <= set(synthetic.IAM_ONDB_CHARSET)

  writers = {split: {int(r["writer"]) for _, r in _records(source)}
             for split, source in first.items()}
  assert not writers["test"] & (writers["train"] | writers["validation"])
  assert not writers["validation"] & writers["train"]
