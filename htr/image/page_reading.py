"""Reading a page whose lines are already found: an existing segmentation (PAGE-XML, ALTO
or htr's page JSON) and its page image in, the same page with each line's text,
confidence and words out.

Every line is cut from the page as the `page_lines` dataset cuts its training lines
(`lines.crop_line` of the page as uint8 gray or RGB, by the line's polygon, straightened
by its baseline), so a recogniser trained there reads the same pictures here. The
recogniser is any callable from a list of line images to one result dict each (`text`,
optionally `confidence` and `words`, or `error` for an image it cannot read): the
`htr` command hands a checkpoint's or an export's, and this module imports neither.

Nothing is dropped: a line that cannot be cut (a degenerate polygon) or read is an
error naming its id, or with `strict=False` stays in the page, geometry and all, without
text, and is listed in `PageReading.failed`. The file's reading order is kept; a file
that states none (`Page.ordered` False) is put in order by XY-cut
(`reading_order.with_reading_order`), which groups its lines into one region per block.

Words carry the recogniser's confidence but no box: the results hold no positions
within the line (CTC's greedy alignment would give them, once the task returns them).
"""

from __future__ import annotations

import dataclasses
import math
import os
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from htr.errors import InputError
from htr.image import lines as lines_lib
from htr.image import page_json, pages, reading_order
from htr.image.page_model import Line, Page, Word
from htr.xml_source import MAX_BYTES, read_source

Recogniser = Callable[[list[np.ndarray]], list[dict[str, Any]]]
BATCH_SIZE = 16  # Lines per recogniser call.


@dataclasses.dataclass(frozen=True)
class PageReading:
  """A read page and what could not be read.

  Attributes:
    page: the page, every line of the segmentation in it, in reading order.
    failed: (line id, reason) of each line left without text, in reading order.
  """

  page: Page
  failed: tuple[tuple[str, str], ...] = ()


def read_segmentation(source, *, name: str | None = None,
                      max_bytes: int = MAX_BYTES) -> Page:
  """Lines to read, from a PAGE-XML, ALTO or page JSON file (a path or bytes), told apart
  by content.

  Raises:
    InputError: an unreadable, empty or malformed file; naming it.
  """
  data, path = read_source(source, name=name, max_bytes=max_bytes)
  if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
    return page_json.from_json(data, name=path)
  return pages.read_page(data, name=path, max_bytes=max_bytes)


def page_pixels(image: np.ndarray) -> np.ndarray:
  """An image array as `htr.inputs` reads it (gray or RGB(A); 8 bit, 16 bit or float)
  -> uint8 `[H, W]` or `[H, W, 3]`, what `crop_line` cuts (`page_lines` cuts RGB)."""
  image = np.asarray(image)
  if image.ndim == 3 and image.shape[2] == 4:  # Alpha dropped, as Pillow's convert("RGB").
    image = image[..., :3]
  if image.ndim == 3 and image.shape[2] == 1:
    image = image[..., 0]
  if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
    raise InputError(f"a page image of shape {image.shape}: expected gray or RGB")
  if image.dtype == np.uint8:
    return image
  if image.dtype == bool:
    return image.astype(np.uint8) * 255
  if np.issubdtype(image.dtype, np.floating):
    top = 1.0 if float(np.nanmax(image, initial=0.0)) <= 1.0 else 255.0
  else:  # 16-bit scans: the full range of their type.
    top = float(np.iinfo(image.dtype).max)
  return np.clip(np.nan_to_num(image / top) * 255 + 0.5, 0, 255).astype(np.uint8)


def check_size(image: np.ndarray, page: Page, *, lines_name: str, image_name: str) -> None:
  """Raises InputError, naming both files, unless `image` is of `page`'s size: lines of
  another page, or of a scaled copy, would be cut from the wrong places."""
  height, width = np.shape(image)[:2]
  if (width, height) != (page.width, page.height):
    raise InputError(f"its lines are for a {page.width}x{page.height} page, but "
                     f"{image_name} is {width}x{height}", path=lines_name)


def _cut(pixels: np.ndarray, line: Line) -> np.ndarray:
  """`crop_line`, refusing outlines that enclose no pixel, whose masks would cut the
  paper around them or a hairline instead of the line."""
  x, y = np.asarray(line.polygon, np.float64).T
  area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
  if len(line.polygon) < 3 or area < 1.0:
    raise InputError(f"a degenerate polygon ({len(line.polygon)} points, area {area:.1f} "
                     "square pixels)")
  return lines_lib.crop_line(pixels, line.polygon, line.baseline)


def _confidence(value) -> float | None:
  """A confidence in 0..1, or None when the recogniser gives none (or nothing finite)."""
  if value is None or not math.isfinite(float(value)):
    return None
  return min(max(float(value), 0.0), 1.0)


def _read_line(line: Line, result: dict[str, Any]) -> Line:
  """`line` with a recogniser's result: its text (NFC, spaces collapsed, as every page
  format keeps it), confidence and words (which spell the text, else are left out)."""
  text = " ".join(unicodedata.normalize("NFC", str(result["text"])).split())
  words = tuple(Word(unicodedata.normalize("NFC", w["text"]), _confidence(w.get("confidence")))
                for w in result.get("words") or () if w.get("text"))
  if " ".join(w.text for w in words) != text:
    words = ()
  return dataclasses.replace(line, text=text, words=words,
                             confidence=_confidence(result.get("confidence")))


def _failures(failed: Sequence[tuple[str, str]], what: str) -> str:
  shown = "; ".join(f"line {line_id}: {reason}" for line_id, reason in failed[:10])
  more = f"; and {len(failed) - 10} more" if len(failed) > 10 else ""
  return f"{len(failed)} line(s) cannot be {what}: {shown}{more}"


def read_page_lines(image: np.ndarray, page: Page, recognise: Recogniser, *,
                    batch_size: int = BATCH_SIZE, strict: bool = True,
                    where: str | None = None) -> PageReading:
  """Cuts every line of `page` from `image` and reads it with `recognise`.

  Args:
    image: the page image, of `page`'s size (gray or RGB(A), any depth).
    page: its lines (polygon and baseline; their texts are replaced).
    recognise: line images -> one result dict each (`text`, optionally `confidence` and
      `words` [{"text", "confidence"}], or `error` for an image it cannot read).
    batch_size: lines per `recognise` call (lines of like width-to-height together).
    strict: raise on a line that cannot be cut or read; False keeps it without text
      (and no confidence or words) and lists it in `failed`.
    where: what errors name (the segmentation file); `page.image` by default.

  Returns:
    The page in the file's reading order (XY-cut's if it states none), each line read.

  Raises:
    InputError: an image of another size than the page's; (strict) lines that cannot
      be cut, before anything is read, or read, naming each line.
  """
  where = where or page.image
  pixels = page_pixels(image)
  check_size(pixels, page, lines_name=where, image_name=os.path.basename(page.image))
  if not page.ordered:
    page = reading_order.with_reading_order(page)
  failed: dict[int, str] = {}
  crops: dict[int, np.ndarray] = {}
  for i, line in enumerate(page.lines):
    try:
      crops[i] = _cut(pixels, line)
    except InputError as e:
      failed[i] = e.reason
  if strict and failed:
    raise InputError(_failures([(page.lines[i].id, r) for i, r in failed.items()],
                               f"cut from {os.path.basename(page.image)}"), path=where)
  read = list(page.lines)
  # Batches of lines of like shape: each is padded to its widest line's width bucket, so
  # a short line batched with long ones costs their width (a 25-line page: 529 against
  # 601 ms read in the file's order; README, Speed). Results go back by line.
  order = sorted(crops, key=lambda i: crops[i].shape[1] / max(crops[i].shape[0], 1))
  for start in range(0, len(order), batch_size):
    batch = order[start:start + batch_size]
    results = recognise([crops[i] for i in batch])
    if len(results) != len(batch):
      raise ValueError(f"the recogniser gave {len(results)} results for {len(batch)} lines")
    for i, result in zip(batch, results):
      if "error" in result:
        failed[i] = str(result["error"])
      else:
        read[i] = _read_line(read[i], result)
  if strict and failed:
    raise InputError(_failures([(page.lines[i].id, r) for i, r in sorted(failed.items())],
                               "read"), path=where)
  for i in failed:  # Kept, without a reading: no text of the file's passes for ours.
    read[i] = dataclasses.replace(read[i], text="", confidence=None, words=())
  return PageReading(dataclasses.replace(page, lines=tuple(read)),
                     tuple((page.lines[i].id, failed[i]) for i in sorted(failed)))
