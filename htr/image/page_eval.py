"""Whole pages read end to end and scored against their ground truth: what `htr
evaluate_pages` reports for a detector and a line reader together.

Per page: the page CER (`text_scores.page_record`: the read lines in their predicted
reading order against the truth's lines in the truth's order, so a missed, split or
merged line and a wrong order all cost edits) and the wall time of the whole reading
(decode, detect, order, cut, read). The corpus figures are the page CER over all pages
(edits over truth characters), the lines found against the truth's, the reading order
(`order_accuracy`: over the found lines that match a truth line at box IoU >= 0.5, the
fraction of their pairs read in the truth's order, over all pages' pairs) and the time per
page (p50, p95, the first page left out: it compiles).

`line_types` scores a kind of line (e.g. handwritten) on mixed pages: the truth keeps
those lines, and the read page the lines that overlap them most, or none (a line found
where there is none is an insertion whatever its type).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from htr.image import page_reading, reading_order
from htr.image.page_model import Line, Page
from htr.tasks import text_scores
from htr.text import transcription

# A page image and its name -> the page read (`page_pipeline.read_page` bound to models).
PageReader = Callable[[np.ndarray, str], page_reading.PageReading]

MATCH_IOU = 0.5  # Box IoU at which a found line is taken for a truth line (as for mAP@0.5).


def _boxes(lines: Sequence[Line]) -> np.ndarray:
  """[N, 4] x, y, width, height: pycocotools' box layout."""
  corners = np.array([line.box for line in lines], np.float64).reshape(-1, 4)
  return np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], 1)


def scored_pages(read: Page, truth: Page, line_types: Iterable[str] | None
                 ) -> tuple[Page, Page]:
  """(read, truth) holding the lines to score: the truth's lines with text (of
  `line_types`, if given) as `transcription.without_struck` gives them, and the read lines not overlapping most a
  truth line of another type."""
  types = None if line_types is None else set(line_types)
  keep_truth = [line for line in truth.lines
                if transcription.without_struck(line.text) and (types is None or line.type in types)]
  kept = list(read.lines)
  if types is not None and truth.lines and read.lines:
    overlaps = coco_mask.iou(_boxes(read.lines), _boxes(truth.lines),
                             np.zeros(len(truth.lines), np.uint8))
    best = np.argmax(overlaps, axis=1)
    kept = [line for line, j, row in zip(read.lines, best, overlaps)
            if row[j] <= 0 or truth.lines[j].type in types]
  truth_lines = tuple(dataclasses.replace(line, text=transcription.without_struck(line.text))
                      for line in keep_truth)
  return (dataclasses.replace(read, lines=tuple(kept)),
          dataclasses.replace(truth, lines=truth_lines))


def order_pairs(read: Page, truth: Page) -> tuple[int, int]:
  """(pairs in the truth's order, pairs) of the read lines matching a truth line: each
  truth line taken by the first read line (in reading order) that overlaps it at
  MATCH_IOU or more, so order is judged apart from what was missed or split."""
  if not read.lines or not truth.lines:
    return 0, 0
  overlaps = coco_mask.iou(_boxes(read.lines), _boxes(truth.lines),
                           np.zeros(len(truth.lines), np.uint8))
  matched: list[int] = []
  for row in overlaps:
    j = int(np.argmax(row))
    if row[j] >= MATCH_IOU and j not in matched:
      matched.append(j)
  pairs = len(matched) * (len(matched) - 1) // 2
  if pairs == 0:
    return 0, 0
  accuracy = reading_order.pair_order_accuracy(matched, sorted(matched))
  return round(accuracy * pairs), pairs


def evaluate(pages: Iterable[tuple[str, np.ndarray, Page]], read: PageReader, *,
             line_types: Iterable[str] | None = None) -> dict[str, Any]:
  """`pages` (name, image, truth) read by `read` -> {"metrics", "pages"}: the corpus
  figures and each page's record (its texts, CER, lines and seconds)."""
  records, seconds = [], []
  for name, image, truth in pages:
    start = time.perf_counter()
    reading = read(image, name)
    seconds.append(time.perf_counter() - start)
    found, reference = scored_pages(reading.page, truth, line_types)
    in_order, pairs = order_pairs(found, reference)
    records.append({**text_scores.page_record(name, found, reference),
                    "truth_lines": len(reference.lines), "found_lines": len(found.lines),
                    "order_pairs": pairs, "order_pairs_right": in_order,
                    "unread_lines": len(reading.failed), "seconds": seconds[-1]})
  timed = np.array(seconds[1:] or seconds)
  summary = text_scores.summarize(records)
  return {"metrics": {
      "page_cer": summary["cer"], "num_pages": float(len(records)),
      "truth_lines": float(sum(r["truth_lines"] for r in records)),
      "found_lines": float(sum(r["found_lines"] for r in records)),
      "order_accuracy": (sum(r["order_pairs_right"] for r in records)
                         / max(sum(r["order_pairs"] for r in records), 1)),
      "seconds_p50": float(np.percentile(timed, 50)) if len(timed) else 0.0,
      "seconds_p95": float(np.percentile(timed, 95)) if len(timed) else 0.0},
      "pages": records}
