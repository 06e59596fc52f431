"""A tiny Kaggle "Handwriting Recognition" download in its real layout, for tests:
CSVs with UNREADABLE, empty and duplicated rows, images in nested folders for one split
and in a zip for another, a missing image and a broken one."""

from __future__ import annotations

import io
import pathlib
import zipfile

from PIL import Image, ImageDraw

ROWS = {
    "train": [("TRAIN_00001.jpg", "BALTHAZAR"), ("TRAIN_00002.jpg", "SIMON"),
              ("TRAIN_00003.jpg", "UNREADABLE"), ("TRAIN_00004.jpg", ""),
              ("TRAIN_00005.jpg", "JEAN-PAUL"), ("TRAIN_00002.jpg", "SIMONE"),
              ("TRAIN_00006.jpg", "MISSING")],
    "validation": [("VALIDATION_0001.jpg", "BILEL"), ("VALIDATION_0002.jpg", "LAUMIONIER")],
    "test": [("TEST_0001.jpg", "KEVIN"), ("TEST_0002.jpg", "CLOTAIRE")],
}
BROKEN = "TEST_0002.jpg"


def _jpeg(text: str) -> bytes:
  image = Image.new("L", (240, 42), 250)
  ImageDraw.Draw(image).text((6, 12), text, fill=20)
  buffer = io.BytesIO()
  image.save(buffer, format="JPEG", quality=85)
  return buffer.getvalue()


def write_fixture(root) -> dict:
  root = pathlib.Path(root)
  root.mkdir(parents=True, exist_ok=True)
  for split, rows in ROWS.items():
    with open(root / f"written_name_{split}_v2.csv", "w", encoding="utf-8") as f:
      f.write("FILENAME,IDENTITY\n" + "".join(f"{n},{t}\n" for n, t in rows))
  folder = root / "train_v2" / "train"  # Kaggle's nesting.
  folder.mkdir(parents=True, exist_ok=True)
  for name, text in ROWS["train"][:5]:
    (folder / name).write_bytes(_jpeg(text))
  (root / "validation_v2").mkdir(exist_ok=True)
  for name, text in ROWS["validation"]:
    (root / "validation_v2" / name).write_bytes(_jpeg(text))
  with zipfile.ZipFile(root / "test_v2.zip", "w") as archive:
    for name, text in ROWS["test"]:
      data = b"\xff\xd8 not a jpeg" if name == BROKEN else _jpeg(text)
      archive.writestr(f"test_v2/test/{name}", data)
  return {"sizes": {"train": 3, "validation": 2, "test": 1},
          "train_skipped": {"label 'UNREADABLE'": 1, "label 'empty'": 1,
                            "duplicate file name": 1},
          "train_missing": ["TRAIN_00006.jpg"], "test_unreadable": [BROKEN]}
