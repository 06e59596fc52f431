"""The synthetic_lines builder (tiny): synthetic_ink's lines pictured as scans and photos,
deterministic per example, writers disjoint per split, pictures that show their text."""

import pathlib

import numpy as np

from htr.image import lines
from htr.ink import records, render
from htr_datasets.synthetic_lines import Builder
from htr_datasets.synthetic_lines.synthetic_lines_dataset_builder import SyntheticLinesConfig


def _by_id(source) -> dict[str, dict]:
  return {records.as_text(r["id"]): r for r in (source[i] for i in range(len(source)))}


def _shards(builder) -> dict[str, bytes]:
  return {path.name: path.read_bytes()
          for path in sorted(pathlib.Path(builder.data_dir).glob("*.array_record*"))}


def test_two_builds_are_identical_and_lines_are_synthetic_inks(tmp_path, build_dataset):
  first, sources = build_dataset("synthetic_lines/tiny", tmp_path / "a")
  second, _ = build_dataset("synthetic_lines/tiny", tmp_path / "b")
  assert _shards(first) and _shards(first) == _shards(second)  # Byte for byte.
  assert {split: len(s) for split, s in sources.items()} == dict(train=24, validation=8, test=8)
  # Line i of a split is synthetic_ink/tiny's line i of that split, with its writer.
  _, inks = build_dataset("synthetic_ink/tiny", tmp_path / "a")
  for split, source in sources.items():
    ink_lines = _by_id(inks[split])
    for key, record in _by_id(source).items():
      assert key.startswith(split)
      assert record["text"] == ink_lines[key]["text"]
      assert record["writer"] == ink_lines[key]["writer"]
      for field in ("points", "stroke_lengths"):
        np.testing.assert_array_equal(record["ink"][field], ink_lines[key]["ink"][field])
  writers = {split: {int(r["writer"]) for r in _by_id(s).values()} for split, s in sources.items()}
  assert not writers["test"] & (writers["train"] | writers["validation"])
  assert not writers["validation"] & writers["train"]


def test_a_picture_depends_on_its_line_alone_not_on_what_else_is_built(tmp_path, build_dataset):
  """Fewer lines per split (another build order, another shard layout): the same
  pictures for the lines both builds have."""
  _, full = build_dataset("synthetic_lines/tiny", tmp_path / "full")
  few = SyntheticLinesConfig(name="few", ink_config="tiny", lines=(3, 2, 2))
  _, part = build_dataset(Builder, tmp_path / "few", config=few)
  for split, source in part.items():
    everything = _by_id(full[split])
    assert len(source) == few.lines[("train", "validation", "test").index(split)]
    for key, record in _by_id(source).items():
      np.testing.assert_array_equal(record["image"], everything[key]["image"])


def test_pictures_are_scans_and_photos_of_their_text(tmp_path, build_dataset):
  _, sources = build_dataset("synthetic_lines/tiny", tmp_path)
  chars, widths, binary = [], [], 0
  for source in sources.values():
    for record in _by_id(source).values():
      image = record["image"]
      assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
      gray = image.mean(axis=2)
      assert np.median(gray) > 100 and gray.min() < np.median(gray) - 60  # Ink on paper.
      binary += ((gray > 60) & (gray < 190)).mean() < 0.01  # Black and white, no grey.
      # Read as users' images are, the picture is the line's ink: about as wide for its
      # height as the ink drawn cleanly (its ink was also resized, slanted and turned a
      # little, and skew makes the line taller), with a fair share of ink pixels.
      read = lines.prepare_line(image, height=64, max_width=4096)
      clean = lines.prepare_line(render.render(records.record_to_ink(record["ink"]),
                                               height=64, pen_width=2.5), height=64,
                                 max_width=4096)
      assert 0.55 < read.shape[1] / clean.shape[1] < 1.5
      assert 0.03 < (read > 0.3).mean() < 0.4
      chars.append(len(records.as_text(record["text"])))
      widths.append(read.shape[1])
  assert np.corrcoef(chars, widths)[0, 1] > 0.8  # Longer text, wider picture.
  assert 0 < binary < len(chars) / 4  # Some binarised scans; most grey or colour.
