"""Text lines cut from page ground truth: page images with ALTO or PAGE-XML files.

The manual dir holds page images and their XML (any format `htr.image.pages` reads, in
any subfolders). Each line is cut by its polygon and straightened by its baseline
(`htr.image.lines.crop_line`) and kept with its text, line type (handwritten,
typewritten, printed, signature...) and page. Pages are split, never lines: pages whose
images are byte-identical (one image under two names, two transcriptions) form one
group, and groups in sha256 order go every 8th to `validation` (from the 1st) and to
`test` (from the 5th), the rest to `train` (a split that gets no page is not generated).
`split_pages` does this for `page_layout` too, so both datasets split the pages alike.
Nothing is dropped silently:
`info.metadata` lists unreadable pages, pages without an image, images that cannot be
used (truncated, too large, not the page's size), lines without text or too small to
cut, and the pages of each split.

Configs: `all` (every line) and `handwritten` (handwritten lines, and untyped ones:
PAGE exports rarely type their lines, and the lines they transcribe are the handwriting).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from htr import inputs
from htr.errors import InputError
from htr.image import lines as lines_lib
from htr.image import pages

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(eq=False)
class PageLinesConfig(tfds.core.BuilderConfig):
  """Attributes:
    types: line types kept (empty: all).
  """

  types: tuple[str, ...] = ()


def split_of(rank: int) -> str:
  """The split of the `rank`-th page group in sha256 order."""
  return {0: "validation", 4: "test"}.get(rank % 8, "train")


def _image_problem(page: pages.Page, max_pixels: int) -> str | None:
  """Why the page's image cannot be used (None if it can): not decodable (truncated, not
  an image), over `max_pixels` (refused before decoding), or not the size the XML states
  (decoded as `htr.inputs` decodes a user's page, EXIF orientation applied)."""
  try:
    image = inputs.decode_image(epath.Path(page.image).read_bytes(), page.image,
                                max_pixels=max_pixels, formats=None)
  except InputError as e:
    return e.reason
  height, width = image.shape[:2]
  if (width, height) != (page.width, page.height):
    return f"the image is {width}x{height}, the XML describes a {page.width}x{page.height} page"
  return None


def split_pages(manual_dir: epath.Path, *, max_pixels: int = inputs.MAX_IMAGE_PIXELS,
                log_name: str = "pages"
                ) -> tuple[dict[str, list[tuple[epath.Path, pages.Page]]], dict]:
  """Every usable page of a manual dir, read and put in its split: the one page split
  that `page_lines` and `page_layout` share, so a line recogniser and a line detector
  trained on one never see the other's test pages.

  Pages whose images are byte-identical (one image under two names, two transcriptions)
  form one group; groups in sha256 order go to `split_of(rank)`. Pages that cannot be
  read, whose image is missing, or whose image cannot be used (`_image_problem`) are in
  no split (the others keep theirs); they and the pages of each split are in the report.

  Args:
    manual_dir: a folder of page images and their ALTO or PAGE-XML, in any subfolders.
    max_pixels: larger images are refused before they are decoded.
    log_name: names the builder in the warnings logged.

  Returns:
    ({split: [(XML path, Page)] in sha256 order}, report) with `unreadable_pages`,
    `pages_without_image` and `unreadable_images` ({XML relative to manual_dir: reason,
    or the image missing}) and `pages` ({split: [XML relative to manual_dir]}).

  Raises:
    InputError: the manual dir holds no XML file.
  """
  report = {"unreadable_pages": {}, "pages_without_image": {}, "unreadable_images": {}}
  groups = collections.defaultdict(list)  # Image sha256 -> [(xml path, page)].
  xmls = sorted(folder / name for folder, _, names in manual_dir.walk() for name in names
                if name.lower().endswith(".xml"))
  if not xmls:
    raise InputError("no ALTO or PAGE-XML files; see the manual download instructions",
                     path=manual_dir)
  for xml in xmls:
    try:
      page = pages.read_page(str(xml))
    except InputError as e:
      report["unreadable_pages"][str(xml.relative_to(manual_dir))] = e.reason
      continue
    image = epath.Path(page.image)
    if not image.exists():
      report["pages_without_image"][str(xml.relative_to(manual_dir))] = str(
          image.relative_to(manual_dir))
      continue
    groups[hashlib.sha256(image.read_bytes()).hexdigest()].append((xml, page))
  assigned = {split: [] for split in SPLITS}
  for rank, digest in enumerate(sorted(groups)):
    for xml, page in groups[digest]:
      if problem := _image_problem(page, max_pixels):
        name = epath.Path(page.image).relative_to(manual_dir)
        report["unreadable_images"][str(xml.relative_to(manual_dir))] = f"{name}: {problem}"
      else:
        assigned[split_of(rank)].append((xml, page))
  report["pages"] = {split: [str(x.relative_to(manual_dir)) for x, _ in entries]
                     for split, entries in assigned.items()}
  for reason in ("unreadable_pages", "pages_without_image", "unreadable_images"):
    for name, why in report[reason].items():
      logging.warning("%s: %s: %s (%s)", log_name, reason, name, why)
  return assigned, report


class Builder(tfds.core.GeneratorBasedBuilder):
  """Lines of real pages, cropped and straightened, with text and line type."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Put page images (JPEG, PNG, TIFF) and their ground truth (ALTO v2-v4 or PAGE-XML
  2010-2019, as eScriptorium, kraken and Transkribus export it) in one folder, in any
  subfolders. Each XML names its image; it is looked up next to the XML."""
  BUILDER_CONFIGS = [
      PageLinesConfig(name="all", description="Every line with text."),
      # Untyped lines count as handwritten: PAGE exports (Transkribus) rarely type
      # lines, and their transcribed lines are the handwriting.
      PageLinesConfig(name="handwritten", types=("handwritten", ""),
                      description="Handwritten lines, and untyped ones."),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
            "text": tfds.features.Text(),
            "line_type": tfds.features.Text(),
            "page": tfds.features.Text(),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = epath.Path(dl_manager.manual_dir)
    assigned, report = split_pages(manual_dir, log_name="page_lines")
    report.update({key: {} for key in ("lines_without_text", "lines_not_cut")})
    self.info.metadata.update(dict(report))
    # A split without a line to keep (a manual dir of a few pages) is not generated:
    # TFDS cannot write an empty one. `metadata["pages"]` shows what it holds.
    types = self.builder_config.types
    return {split: self._generate_examples(entries, manual_dir, report)
            for split, entries in assigned.items()
            if any(line.text and (not types or line.type in types)
                   for _, page in entries for line in page.lines)}

  def _generate_examples(self, entries, manual_dir: epath.Path, report):
    from PIL import Image
    types = self.builder_config.types
    for xml, page in entries:
      name = str(xml.relative_to(manual_dir))
      with Image.open(page.image) as opened:
        pixels = np.asarray(opened.convert("RGB"))
      for line in page.lines:
        if types and line.type not in types:
          continue
        key = f"{name}#{line.id}"
        if not line.text:
          report["lines_without_text"][key] = line.type
          continue
        try:
          crop = lines_lib.crop_line(pixels, line.polygon, line.baseline)
        except InputError as e:
          report["lines_not_cut"][key] = e.reason
          continue
        yield key, {"id": key, "image": np.ascontiguousarray(crop[..., :3]),
                    "text": line.text, "line_type": line.type, "page": name}
