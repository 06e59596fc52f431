"""Safe loading of XML files, shared by every reader of ink (InkML, IAM-OnDB) and of
pages (ALTO, PAGE-XML).

Size limits are checked before parsing and defusedxml refuses entity bombs and
external references, so a hostile or broken file becomes an InputError, not a hang.
"""

from __future__ import annotations

import os
from xml.etree import ElementTree

import defusedxml
import defusedxml.ElementTree

from htr.errors import InputError, InputTooLarge

# Real ink files are at most a few MiB; anything far larger is a mistake or an attack,
# refused before the parser allocates a tree for it.
MAX_BYTES = 64 << 20
MAX_POINTS = 200_000  # The default of `ink.validate`: about 30 minutes of pen at 100 Hz.
MAX_DEPTH = 64  # Elements inside elements; real InkML nests a handful of traceGroups.

Source = str | os.PathLike | bytes


def read_source(source: Source, *, name: str | None = None,
                max_bytes: int = MAX_BYTES) -> tuple[bytes, str | None]:
  """The bytes of a file path (or of bytes already read) and the name to report.

  Args:
    source: a path, or the content (e.g. a tar member read by the caller).
    name: what error messages call the source; defaults to the path.
    max_bytes: larger inputs are refused before they are read or parsed.
  """
  if isinstance(source, (bytes, bytearray, memoryview)):
    data = bytes(source)
  else:
    name = name or os.fspath(source)
    try:
      size = os.path.getsize(source)
      if size > max_bytes:
        raise InputTooLarge(f"file of {size} bytes is larger than the limit {max_bytes}",
                         path=name)
      with open(source, "rb") as f:
        data = f.read(max_bytes + 1)  # The file may have grown since getsize.
    except OSError as e:
      raise InputError(f"cannot read file: {e.strerror or e}", path=name) from None
  if len(data) > max_bytes:
    raise InputTooLarge(f"input of {len(data)} bytes is larger than the limit {max_bytes}",
                     path=name)
  if not data.strip():
    raise InputError("empty file", path=name)
  return data, name


# A UTF-16 document starts with a byte-order mark or with '<' in two bytes.
_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")


def utf16_as_utf8(head: bytes) -> bytes:
  """The start of a file, re-encoded as UTF-8 if it is UTF-16 (for sniffing tags)."""
  if head.startswith(_UTF16_STARTS):
    little = head.startswith((b"\xff\xfe", b"<\x00"))
    return head.decode("utf-16-le" if little else "utf-16-be", errors="ignore").encode()
  return head


def _undeclared_latin1_as_utf8(data: bytes) -> bytes:
  """Undeclared XML must be UTF-8, but some CROHME files (MfrDB) hold Latin-1 bytes
  (a `\xb7` middle dot) and no declaration: those are re-encoded, others kept."""
  if data.lstrip().startswith(b"<?xml") and b"encoding" in data[:200]:
    return data
  if data.startswith(_UTF16_STARTS):  # Expat detects UTF-16 itself.
    return data
  try:
    data.decode("utf-8")
  except UnicodeDecodeError:
    return data.decode("latin-1").encode("utf-8")
  return data


class _DepthLimited(ElementTree.TreeBuilder):
  """A tree builder that refuses documents nested deeper than `max_depth`: walking
  such a tree (`Element.iter`) recurses once per level and would end in a RecursionError."""

  def __init__(self, path: str | None, max_depth: int):
    super().__init__()
    self._path, self._max_depth, self._depth = path, max_depth, 0

  def start(self, tag, attrs):
    self._depth += 1
    if self._depth > self._max_depth:
      raise InputError(f"XML nested deeper than {self._max_depth} elements", path=self._path)
    return super().start(tag, attrs)

  def end(self, tag):
    self._depth -= 1
    return super().end(tag)


def parse_xml(data: bytes, *, path: str | None, target=None, max_depth: int = MAX_DEPTH):
  """Parses with defusedxml: entity bombs, external references and absurd nesting
  become InputError.

  Args:
    data: the document; its XML declaration chooses the encoding.
    path: the name used in error messages.
    target: an ElementTree parser target for streaming (it keeps no tree, so nesting
      costs it nothing); default builds a tree no deeper than `max_depth`.

  Returns:
    The root element, or what `target.close()` returns.
  """
  target = target if target is not None else _DepthLimited(path, max_depth)
  parser = defusedxml.ElementTree.DefusedXMLParser(target=target)
  try:
    parser.feed(_undeclared_latin1_as_utf8(data))
    return parser.close()
  except ElementTree.ParseError as e:
    raise InputError(f"malformed XML: {e}", path=path) from None
  except defusedxml.DefusedXmlException as e:
    raise InputError(f"unsafe XML refused ({type(e).__name__}): {e}", path=path) from None
