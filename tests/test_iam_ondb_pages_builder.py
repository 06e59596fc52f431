"""The iam_ondb_pages TFDS builder on the generated IAM-OnDB fixture, lines laid out as
forms on the whiteboard."""

import numpy as np
from PIL import Image, ImageDraw

from htr import inputs
from htr.image import page_records
from htr.ink import iam_ondb, page_render
from htr.ink.records import as_text
from htr_datasets.iam_ondb_pages import Builder, fixture


def _polygons_mask(page) -> np.ndarray:
  mask = Image.new("1", (page.width, page.height), 0)
  draw = ImageDraw.Draw(mask)
  for line in page.lines:
    draw.polygon([tuple(point) for point in line.polygon.tolist()], fill=1)
  return np.asarray(mask)


def test_forms_become_pages_with_their_lines(tmp_path, build_dataset):
  expected = fixture.write_fixture(tmp_path / "manual")
  builder, sources = build_dataset(Builder, tmp_path / "data", manual_dir=tmp_path / "manual")
  assert set(sources) == {"trainset", "testset_v", "testset_t", "testset_f"}
  for split, source in sources.items():
    rows = list(source)
    assert {as_text(r["id"]): len(r["line_id"]) for r in rows} == expected["pages"][split]
    for row in rows:
      form = as_text(row["id"])
      image = inputs.decode_image(row["image_bytes"], form)
      assert image.ndim == 2 and image.shape == (row["height"], row["width"])
      assert row["width"] <= page_render.MAX_WIDTH
      page = page_records.record_to_page(row)
      assert [line.id for line in page.lines] == [
          f"{form}-{k:02d}" for k in range(1, len(page.lines) + 1)]  # The form's order.
      for line in page.lines:
        assert line.text == expected["labels"][line.id]
        assert (line.type, line.region) == ("handwritten", form)
        for points in (line.polygon, line.baseline):
          assert (points >= 0).all() and (points <= [page.width - 1, page.height - 1]).all()
        # The baseline runs under the letters: in the lower part of the line's box.
        left, top, right, bottom = line.box
        assert top + 0.4 * (bottom - top) < line.baseline[:, 1].mean() < bottom
      tops = [line.box[1] for line in page.lines]
      assert tops == sorted(tops)  # Written one under the other.
      # Every inked pixel is inside a line's polygon.
      ink = image < 128
      assert ink.sum() > 0 and not (ink & ~_polygons_mask(page)).any()
  metadata = builder.info.metadata
  assert list(metadata["mismatched_forms"]) == expected["mismatched_forms"]
  assert not metadata["unreadable_forms"]


def test_a_form_with_a_bad_line_is_left_out_and_named(tmp_path, build_dataset):
  manual = tmp_path / "manual"
  expected = fixture.write_fixture(manual, archives=False)
  (manual / "lineStrokes/a01/a01-003/a01-003-02.xml").write_bytes(b"<Whiteboard")
  # Ink 10^7 units away: it cannot be drawn on one page.
  far = iam_ondb.read_line_strokes(manual / "lineStrokes/b02/b02-010/b02-010x-01.xml")
  points = far.points.copy()
  points[-1, 1] = 1e7
  iam_ondb.write_line_strokes(far.replace_points(points),
                              manual / "lineStrokes/b02/b02-010/b02-010x-01.xml")
  builder, sources = build_dataset(Builder, tmp_path / "data", manual_dir=manual)
  forms = {as_text(r["id"]) for source in sources.values() for r in source}
  assert "a01-003" not in forms and "b02-010x" not in forms
  assert "testset_v" not in sources  # Its one form is left out: no empty split.
  assert forms == {form for pages in expected["pages"].values() for form in pages} - {
      "a01-003", "b02-010x"}
  metadata = builder.info.metadata
  assert "malformed XML" in metadata["unreadable_lines"]["a01-003-02"]
  assert metadata["unreadable_forms"]["a01-003"] == "line a01-003-02 cannot be read"
  assert "pixels" in metadata["unreadable_forms"]["b02-010x"]
