"""Reading a whole page: a detector finds its lines, XY-cut puts them in reading order,
and `page_reading` cuts and reads them, the path a page whose lines are given takes.

The detector and the line recogniser are callables (or a model's `prepare` and `run`):
the `htr` command hands a checkpoint's or an export's, the server its loaded exports.
This module knows neither a task nor a model, so both halves stay swappable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from htr.errors import InputError
from htr.image import page_json, page_model, page_reading, reading_order

# A page image (as htr.inputs reads it) -> its lines [{"polygon", "score", ...}] in page
# pixels, unordered: what `htr.tasks.detect`'s results hold per page.
Detector = Callable[[np.ndarray], list[dict[str, Any]]]


def detected_page(lines: list[dict[str, Any]], width: int, height: int,
                  image: str = "") -> page_model.Page:
  """Detected lines (page pixels) -> a `Page` in XY-cut reading order, each line's
  baseline the bottom edge of its polygon, its confidence the detection score and its id
  `lineN`, N its place in reading order from 1."""
  found = []
  for i, line in enumerate(lines):
    polygon = np.asarray(line["polygon"], np.float32).reshape(-1, 2)
    polygon = np.clip(polygon, 0, [max(width - 1, 0), max(height - 1, 0)])
    half = len(polygon) // 2
    baseline = polygon[half:][::-1]  # The bottom edge, left to right.
    found.append(page_model.Line(f"found{i}", polygon, baseline, "", "", i, "",
                                 confidence=float(line["score"])))
  page = page_model.Page(image, int(width), int(height), tuple(found), "", ordered=False)
  page = reading_order.with_reading_order(page)
  return dataclasses.replace(page, lines=tuple(
      dataclasses.replace(line, id=f"line{k + 1}") for k, line in enumerate(page.lines)))


def recogniser(prepare: Callable[[np.ndarray, str], Any],
               run: Callable[[list[Any]], list[dict[str, Any]]]) -> page_reading.Recogniser:
  """A model's `prepare` (image, where -> example) and `run` (examples -> results) as the
  recogniser `page_reading` calls: a line the model refuses (no ink in it) becomes
  `{"error": why}`, so one bad line fails alone."""
  def read(images: list[np.ndarray]) -> list[dict[str, Any]]:
    results: list[dict[str, Any] | None] = [None] * len(images)
    examples, slots = [], []
    for i, image in enumerate(images):
      try:
        examples.append(prepare(image, f"line {i}"))
        slots.append(i)
      except InputError as e:
        results[i] = {"error": e.reason}
    for i, result in zip(slots, run(examples) if examples else []):
      results[i] = result
    return results
  return read


def read_detected(image: np.ndarray, lines: list[dict[str, Any]],
                  recognise: page_reading.Recogniser, *, name: str,
                  batch_size: int = page_reading.BATCH_SIZE,
                  strict: bool = True) -> page_reading.PageReading:
  """A page image and the lines a detector found on it -> the page read.

  Raises:
    InputError: no lines found; (strict) a line that cannot be cut or read; naming
      `name`, the image file.
  """
  pixels = page_reading.page_pixels(image)
  height, width = pixels.shape[:2]
  if not lines:
    raise InputError(f"no text lines found on the {width}x{height} page", path=name)
  page = detected_page(lines, width, height, name)
  return page_reading.read_page_lines(pixels, page, recognise, batch_size=batch_size,
                                      strict=strict, where=name)


def read_page(image: np.ndarray, detect: Detector, recognise: page_reading.Recogniser, *,
              name: str, batch_size: int = page_reading.BATCH_SIZE,
              strict: bool = True) -> page_reading.PageReading:
  """A page image -> its lines found by `detect`, in reading order, each read by
  `recognise` (see `read_detected`)."""
  return read_detected(image, detect(image), recognise, name=name, batch_size=batch_size,
                       strict=strict)


def summary(reading: page_reading.PageReading) -> dict[str, Any]:
  """A read page as a response: its text (lines joined by newlines), its confidence (the
  mean of its lines') and the page JSON (`page_json.to_dict`)."""
  page = page_json.to_dict(reading.page)
  scores = [line.confidence for line in reading.page.lines if line.confidence is not None]
  return {"text": page["text"], "confidence": float(np.mean(scores)) if scores else None,
          "page": page}
