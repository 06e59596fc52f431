"""Files of a manual download, from its extracted folder or straight from its archive.

Corpora arrive as archives (`TrainINKML.tar.gz`, `mathwriting-2024.tgz`) that users
may or may not extract. `Part` reads either without extracting anything: a folder is
walked, a tar (any compression) is streamed in one pass, a zip is read member by member.
"""

from __future__ import annotations

import contextlib
import gzip
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator

from etils import epath

from htr.errors import InputError
from htr.xml_source import MAX_BYTES

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")

# What tarfile, zipfile and the decompressors raise for damaged data.
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile,
            lzma.LZMAError)


@contextlib.contextmanager
def naming_corrupt_archive(path: epath.PathLike):
  """Turns a damaged (e.g. partly downloaded) archive's read error into an InputError
  that names it, instead of a bare 'unexpected end of data'."""
  try:
    yield
  except _CORRUPT as e:
    raise InputError(f"damaged or incomplete archive ({type(e).__name__}: {e}); download "
                     "it again", path=path) from e


class Part:
  """One part of a download: the folder `<manual_dir>/<name>/` if present, else the
  archive `<archive>.tar.gz|.tgz|.tar|.zip`, whose members start with `<name>/` or not.

  Attributes:
    name: the part's name, the first component of every file name it yields.
    path: the folder or archive read.
  """

  def __init__(self, manual_dir: epath.PathLike, name: str, archive: str | None = None):
    """`archive`: the archive's name without suffix, if not `name` (IAM-OnDB's
    `lineStrokes-all.tar.gz` holds `lineStrokes/`)."""
    manual_dir = epath.Path(manual_dir)
    self.name = name
    self._archive = archive or name
    candidates = [manual_dir / name] + [manual_dir / f"{self._archive}{s}"
                                        for s in ARCHIVE_SUFFIXES]
    found = [p for p in candidates if p.exists()]
    self.path = found[0] if found else None

  @property
  def exists(self) -> bool:
    return self.path is not None

  def names(self) -> list[str]:
    """Every file's name (`<part name>/...`); an archive is streamed through once."""
    self._check()
    if self.path.is_dir():
      return [f"{self.name}/{p.relative_to(self.path).as_posix()}" for p in _walk(self.path)]
    with naming_corrupt_archive(self.path):
      if self.path.name.endswith(".zip"):
        with self.path.open("rb") as f, zipfile.ZipFile(f) as archive:
          return [self._name(i.filename) for i in archive.infolist() if not i.is_dir()]
      with self.path.open("rb") as f, tarfile.open(fileobj=f, mode="r|*") as archive:
        return [self._name(m.name) for m in archive if m.isfile()]

  def _check(self) -> None:
    if self.path is None:
      raise InputError(f"neither the folder {self.name}/ nor an archive "
                       f"{self._archive}{{{','.join(ARCHIVE_SUFFIXES)}}} is there")

  def read(self, wanted: Callable[[str], bool]) -> Iterator[tuple[str, str, bytes]]:
    """(name, where for error messages, content) of the files whose name is wanted.

    Names are `<part name>/<path inside>`, e.g. `TrainINKML/MfrDB/MfrDB0104.inkml`,
    whether read from the folder or the archive. At most MAX_BYTES + 1 bytes of each
    are read: the readers then refuse the file.
    """
    self._check()
    if self.path.is_dir():
      for path in _walk(self.path):
        name = f"{self.name}/{path.relative_to(self.path).as_posix()}"
        if wanted(name):
          with path.open("rb") as f:
            yield name, str(path), f.read(MAX_BYTES + 1)
    elif self.path.name.endswith(".zip"):
      with naming_corrupt_archive(self.path), self.path.open("rb") as f, \
          zipfile.ZipFile(f) as archive:
        for info in archive.infolist():
          name = self._name(info.filename)
          if not info.is_dir() and wanted(name):
            with archive.open(info) as member:
              yield name, f"{self.path}:{info.filename}", member.read(MAX_BYTES + 1)
    else:
      with naming_corrupt_archive(self.path), self.path.open("rb") as f, \
          tarfile.open(fileobj=f, mode="r|*") as archive:
        for member in archive:
          name = self._name(member.name)
          if member.isfile() and wanted(name):
            data = archive.extractfile(member).read(MAX_BYTES + 1)
            yield name, f"{self.path}:{member.name}", data

  def _name(self, member: str) -> str:
    """Member name -> `<part name>/...`, for archives with or without the top folder."""
    member = member.removeprefix("./")
    return member if member.startswith(f"{self.name}/") else f"{self.name}/{member}"


def _walk(folder: epath.Path) -> Iterator[epath.Path]:
  """Files under `folder`, sorted, depth first (epath has no recursive glob on GCS)."""
  for path in sorted(folder.iterdir()):
    if path.is_dir():
      yield from _walk(path)
    else:
      yield path
