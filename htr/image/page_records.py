"""Page <-> TFDS record, shared by the page-layout builders (`page_layout`,
`iam_ondb_pages`, and synthetic pages) and the line detector's input pipeline.

A record is one page: the image file's bytes as stored (JPEG, PNG, TIFF...), its size,
and its lines in reading order as flat arrays, one entry per line, with the polygons and
baselines of all lines concatenated and their point counts beside them (as ink records
keep strokes). Flat arrays, because TFDS's numpy decoding of a `Sequence` of dicts gives
Python lists of arrays, not arrays.

  id: the page's name (its XML file relative to the manual dir, or a form id).
  image_bytes: the image file as stored; decode it with `htr.inputs.decode_image(data,
    name, formats=None)` (size checked before decoding, EXIF orientation applied: the
    builders checked that size against the page's).
  width, height: int32, the page size in pixels, the decoded image's.
  ordered: bool, whether the file states the reading order (`Page.ordered`).
  line_id, line_text, line_type, line_region: `[L]` UTF-8 bytes: each line's id, text
    ("" if none), type ("handwritten", "printed"... or "") and region id.
  line_order: int32 `[L]`, the reading-order index: 0..L-1, lines are stored in order.
  line_box: float32 `[L, 4]`, left, top, right, bottom of each polygon.
  polygons, polygon_lengths: float32 `[P, 2]` x, y of every line's outline (an open
    ring), concatenated; int32 `[L]` points per line.
  baselines, baseline_lengths: float32 `[B, 2]` x, y of every baseline (left to right),
    concatenated; int32 `[L]` points per line.

Coordinates are page pixels, origin top-left, y down, inside `[0, width-1] x [0, height-1]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from htr.image.page_model import Line, Page

_TEXTS = ("line_id", "line_text", "line_type", "line_region")


def page_features():
  """The TFDS features of one page (imported lazily: TFDS is heavy)."""
  import tensorflow_datasets as tfds

  def tensor(shape, dtype):
    return tfds.features.Tensor(shape=shape, dtype=dtype)

  return tfds.features.FeaturesDict({
      "id": tfds.features.Text(),
      "image_bytes": tensor((), np.object_),
      "width": tfds.features.Scalar(np.int32),
      "height": tfds.features.Scalar(np.int32),
      "ordered": tfds.features.Scalar(np.bool_),
      **{key: tensor((None,), np.object_) for key in _TEXTS},
      "line_order": tensor((None,), np.int32),
      "line_box": tensor((None, 4), np.float32),
      "polygons": tensor((None, 2), np.float32),
      "polygon_lengths": tensor((None,), np.int32),
      "baselines": tensor((None, 2), np.float32),
      "baseline_lengths": tensor((None,), np.int32),
  })


def _points(arrays: list[np.ndarray]) -> np.ndarray:
  return (np.concatenate(arrays).astype(np.float32) if arrays
          else np.zeros((0, 2), np.float32))


def page_to_record(page: Page, image_bytes: bytes, name: str) -> dict[str, Any]:
  """A page (lines in reading order) and its image file's bytes -> a record; the
  lines' orders become 0..L-1 in that order."""
  lines = sorted(page.lines, key=lambda line: line.order)
  return {
      "id": name,
      "image_bytes": image_bytes,
      "width": page.width,
      "height": page.height,
      "ordered": page.ordered,
      "line_id": np.array([line.id for line in lines], object),
      "line_text": np.array([line.text for line in lines], object),
      "line_type": np.array([line.type for line in lines], object),
      "line_region": np.array([line.region for line in lines], object),
      "line_order": np.arange(len(lines), dtype=np.int32),
      "line_box": np.array([line.box for line in lines], np.float32).reshape(-1, 4),
      "polygons": _points([line.polygon for line in lines]),
      "polygon_lengths": np.array([len(line.polygon) for line in lines], np.int32),
      "baselines": _points([line.baseline for line in lines]),
      "baseline_lengths": np.array([len(line.baseline) for line in lines], np.int32),
  }


def _text(value: Any) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def record_to_page(record: dict[str, Any]) -> Page:
  """A record (as a data source returns it) -> Page; `image` is the record's id."""
  def split(points, lengths):
    return np.split(np.asarray(points, np.float32).reshape(-1, 2),
                    np.cumsum(lengths)[:-1]) if len(lengths) else []
  polygons = split(record["polygons"], record["polygon_lengths"])
  baselines = split(record["baselines"], record["baseline_lengths"])
  texts = {key: [_text(v) for v in record[key]] for key in _TEXTS}
  lines = tuple(
      Line(texts["line_id"][i], polygons[i], baselines[i], texts["line_text"][i],
           texts["line_type"][i], int(record["line_order"][i]), texts["line_region"][i])
      for i in range(len(record["line_order"])))
  return Page(_text(record["id"]), int(record["width"]), int(record["height"]), lines, "",
              ordered=bool(record["ordered"]))
