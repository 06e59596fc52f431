"""What a user hands htr, read by content: pen ink or an image.

Every inference path (the `htr` command over a checkpoint or a SavedModel, the server)
reads user input here and hands a task's hooks one of two kinds of value:
  "ink"    an `htr.ink.Ink` (InkML, IAM-OnDB line XML, or the server's JSON strokes)
  "image"  a numpy array as `htr.image.canvas.pil_to_array` makes it (gray, RGB or
           RGBA; 8 or 16 bit), EXIF orientation applied
A task declares which kinds it accepts (`Serving.accepts`, `Task.accepts`).
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np

from htr.errors import InputError, InputTooLarge
from htr.ink.ink import Ink

Input = Union[Ink, np.ndarray]
KINDS = ("ink", "image")
IMAGE_FORMATS = ("PNG", "JPEG", "MPO")  # What uploads may be; MPO: phone cameras' JPEGs.
MAX_IMAGE_PIXELS = 50_000_000  # Larger images are refused before they are decoded.


def kind_of(value: Input) -> str:
  """"ink" or "image"."""
  return "ink" if isinstance(value, Ink) else "image"


def read_ink(path: str | os.PathLike) -> Ink:
  """An ink file by its content: W3C InkML or an IAM-OnDB line XML."""
  from htr.ink import iam_ondb, inkml
  from htr.xml_source import utf16_as_utf8
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise InputError("no such file", path=path)
  with open(path, "rb") as f:
    head = utf16_as_utf8(f.read(4096))
  if b"<WhiteboardCaptureSession" in head:
    return iam_ondb.read_line_strokes(path)
  if b"<ink" in head:
    return inkml.read_inkml(path).ink
  raise InputError("not an ink file: expected InkML (<ink>) or IAM-OnDB line XML "
                   "(<WhiteboardCaptureSession>)", path=path)


def decode_image(data: bytes, where: str, *, max_pixels: int = MAX_IMAGE_PIXELS,
                 formats: tuple[str, ...] | None = IMAGE_FORMATS) -> np.ndarray:
  """Image bytes -> array; the size is checked from the header, before decoding.

  Args:
    formats: Pillow format names accepted (None: any Pillow reads).

  Raises:
    InputTooLarge: more than `max_pixels` pixels (or what Pillow calls a bomb).
    InputError: not an image of `formats`, truncated, or a mode that cannot convert.
  """
  shown = " or ".join(f for f in formats or () if f != "MPO")
  from PIL import Image, ImageOps

  from htr.image import canvas
  try:
    with Image.open(io.BytesIO(data)) as image:
      if image.width * image.height > max_pixels:
        raise InputTooLarge(f"{image.width}x{image.height} pixels, more than the limit "
                            f"{max_pixels}", sample_id=where)
      if formats is not None and image.format not in formats:
        raise InputError(f"{image.format} images are not accepted, only {shown}",
                         sample_id=where)
      image.load()
      return canvas.pil_to_array(ImageOps.exif_transpose(image))
  except Image.DecompressionBombError as e:  # Pillow refuses before we can measure it.
    raise InputTooLarge(str(e), sample_id=where) from None
  except (OSError, SyntaxError, ValueError) as e:
    if isinstance(e, InputError):
      raise
    # Pillow's messages may name a BytesIO object and its address: not for clients.
    reason = type(e).__name__ if "<_io." in str(e) else str(e)
    raise InputError(f"not a readable {shown + ' ' if shown else ''}image ({reason})",
                     sample_id=where) from None


def read_image(path: str | os.PathLike) -> np.ndarray:
  """An image file (any format Pillow reads) as an array."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise InputError("no such file", path=path)
  with open(path, "rb") as f:
    data = f.read()
  try:
    return decode_image(data, path, formats=None)
  except InputError as e:
    raise type(e)(e.reason, path=path) from None


def read_file(path: str | os.PathLike) -> Input:
  """Ink or an image, by the file's content (not its name)."""
  from htr.xml_source import utf16_as_utf8
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise InputError("no such file", path=path)
  with open(path, "rb") as f:
    head = utf16_as_utf8(f.read(64)).lstrip(b"\xef\xbb\xbf \t\r\n")
  return read_ink(path) if head.startswith(b"<") else read_image(path)
