"""Manual-download parts read the same from a folder, a tar (any compression) or a zip."""

import tarfile
import zipfile

import pytest

from htr.errors import InputError
from htr.ink import archives

FILES = {"a/x.inkml": b"<ink/>", "a/b/y.inkml": b"<ink>y</ink>", "notes.txt": b"hello"}


def _folder(root):
  for name, data in FILES.items():
    path = root / "Part" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
  return root / "Part"


@pytest.mark.parametrize("kind", ["folder", "tar.gz", "tgz-without-top-folder", "zip"])
def test_every_layout_reads_the_same(tmp_path, kind):
  folder = _folder(tmp_path / "src")
  manual = tmp_path / "manual"
  manual.mkdir()
  if kind == "folder":
    folder.rename(manual / "Part")
  elif kind == "tar.gz":
    with tarfile.open(manual / "Part.tar.gz", "w:gz") as tar:
      tar.add(folder, arcname="Part")
  elif kind == "tgz-without-top-folder":
    with tarfile.open(manual / "Part.tgz", "w:gz") as tar:
      for name in FILES:
        tar.add(folder / name, arcname=f"./{name}")
  else:
    with zipfile.ZipFile(manual / "Part.zip", "w") as archive:
      for name in FILES:
        archive.write(folder / name, f"Part/{name}")
  part = archives.Part(manual, "Part")
  assert part.exists
  assert sorted(part.names()) == sorted(f"Part/{n}" for n in FILES)
  read = {name: data for name, _, data in part.read(lambda n: n.endswith(".inkml"))}
  assert read == {f"Part/{n}": d for n, d in FILES.items() if n.endswith(".inkml")}


def test_missing_part(tmp_path):
  part = archives.Part(tmp_path, "Absent")
  assert not part.exists
  with pytest.raises(InputError, match="Absent"):
    list(part.read(lambda n: True))


@pytest.mark.parametrize("suffix", ["tar.gz", "zip"])
def test_a_damaged_archive_is_named(tmp_path, suffix):
  """E.g. a download cut short: the error says which archive, not 'unexpected end'."""
  folder = _folder(tmp_path / "src")
  whole = tmp_path / f"whole.{suffix}"
  if suffix == "zip":
    with zipfile.ZipFile(whole, "w") as archive:
      for name in FILES:
        archive.write(folder / name, f"Part/{name}")
  else:
    with tarfile.open(whole, "w:gz") as tar:
      tar.add(folder, arcname="Part")
  manual = tmp_path / "manual"
  manual.mkdir()
  damaged = manual / f"Part.{suffix}"
  damaged.write_bytes(whole.read_bytes()[:-40])
  part = archives.Part(manual, "Part")
  with pytest.raises(InputError, match=f"{damaged}: damaged or incomplete archive"):
    part.names()
  with pytest.raises(InputError, match=f"{damaged}: damaged or incomplete archive"):
    list(part.read(lambda n: True))
