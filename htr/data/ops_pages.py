"""Ops on whole pages for the line detector (htr/tasks/detect.py): decode a page record,
fit it into a fixed square working image, augment image and line polygons together,
and draw the training targets at the model's output resolution.

A page travels through the ops as an example holding
  image: float32 `[S, S, 1]` (after `fit_page`), ink positive: 1 - gray, padding 0;
  polygons: a list of float32 `[N, 2]` line outlines in working-image pixels;
  scale: float32, working pixels per page pixel (`fit_page`); original_size: int32 (w, h).

Targets (`line_targets`) follow DBNet (Liao et al. 2020) in spirit: each line's polygon
is drawn at 1/stride resolution shrunk toward its core (per column, the middle `shrink`
of its height; at both ends, as much as it lost in height), so that lines that touch or
overlap on the page stay apart in the map. Each core cell also carries its distances to
the line's top and bottom edges, measured on the exact polygon (as FCOS regresses box
sides): at stride 4 a small line is only a few cells high, and growing a rounded core
back by the shrink ratio alone (`detect.decode_lines` without edges) would double the
rounding error. Everything runs on the host, in the
grain workers, with numpy, scipy.ndimage and PIL; every draw comes from the op's rng.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image
from scipy import ndimage

from htr.data.registry import Example, register
from htr.errors import InputError
from htr.image.page_effects import homography
from htr.ink.records import as_text


def split_polygons(points, lengths) -> list[np.ndarray]:
  """A record's flat `polygons` and `polygon_lengths` -> one float32 `[N, 2]` per line."""
  points = np.asarray(points, np.float32).reshape(-1, 2)
  lengths = np.asarray(lengths, np.int64)
  return np.split(points, np.cumsum(lengths)[:-1]) if len(lengths) else []


@register("decode_page")
def get_decode_page():
  """A page record (htr/image/page_records.py) or a user's image -> `page` uint8 gray
  `[H, W]` and `polygons` (page pixels; none for a user's image).

  The record's `image_bytes` are decoded by `htr.inputs.decode_image` (size checked
  before decoding, EXIF orientation applied); an `image` array (the `htr` command's
  input) is taken as it is.

  Raises:
    InputError: an unreadable image, or one of another size than the record states.
  """
  from htr import inputs
  from htr.image import page_reading

  def op(example: Example) -> Example:
    where = as_text(example.get("id", ""))
    if "image_bytes" in example:
      pixels = inputs.decode_image(example["image_bytes"], where, formats=None)
    else:
      pixels = example["image"]
    pixels = page_reading.page_pixels(pixels)
    if pixels.ndim == 3:  # ITU-R 601 luma, as PIL's convert("L").
      pixels = (pixels @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)
    out = {k: v for k, v in example.items() if k not in ("image_bytes", "image")}
    if "width" in example and pixels.shape != (int(example["height"]), int(example["width"])):
      raise InputError(f"the image is {pixels.shape[1]}x{pixels.shape[0]}, the record says "
                       f"{int(example['width'])}x{int(example['height'])}", sample_id=where)
    out["page"] = pixels
    out["polygons"] = (split_polygons(example["polygons"], example["polygon_lengths"])
                       if "polygons" in example else [])
    return out
  return op


@register("fit_page")
def get_fit_page(size: int = 512, stride: int = 32):
  """`page` -> `image` float32 `[size, size, 1]`: the page scaled so that its longer side
  is `size` (area averaging), ink positive (1 - gray), at the top left, the rest 0;
  `polygons` scaled alike; `scale` and `original_size` (w, h) to map results back.

  Args:
    size: the working image's side, a multiple of `stride` (the model's total stride).
    stride: checked only: a misfit size would shift the model's output grid.
  """
  if size % stride:
    raise ValueError(f"fit_page: size {size} is not a multiple of the model stride {stride}")

  def op(example: Example) -> Example:
    page = example.pop("page")
    height, width = page.shape
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = np.asarray(Image.fromarray(page).resize((new_w, new_h), Image.Resampling.BOX),
                         np.float32)
    image = np.zeros((size, size, 1), np.float32)
    image[:new_h, :new_w, 0] = 1.0 - resized / 255.0
    polygons = [np.asarray(p, np.float32) * np.float32(scale) for p in example["polygons"]]
    return {**example, "image": image, "polygons": polygons, "scale": np.float32(scale),
            "original_size": np.array([width, height], np.int32)}
  return op


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
  """`[N, 2]` points through a 3x3 projective map."""
  p = np.concatenate([points, np.ones((len(points), 1))], 1) @ matrix.T
  return (p[:, :2] / p[:, 2:3]).astype(np.float32)


@register("page_augment", random=True)
def get_page_augment(p: float = 0.8, scale: float = 0.2, rotation_deg: float = 2.0,
                     perspective: float = 0.03, contrast: float = 0.3,
                     brightness: float = 0.15, blur_p: float = 0.3, jpeg_p: float = 0.3,
                     noise: float = 0.03):
  """Geometry (image and polygons together, one interpolation) and colour, on `image`.

  Args:
    p: probability of the geometric part (scale, rotation, perspective).
    scale: the page is scaled by log-uniform [1 - scale, 1 + scale] about the centre.
    rotation_deg: rotation drawn uniformly in +-rotation_deg.
    perspective: each corner moves by up to this fraction of the side (a camera's tilt).
    contrast: ink strength multiplied by uniform [1 - contrast, 1 + contrast].
    brightness: a paper tone (ink-positive offset) uniform in [0, brightness].
    blur_p: probability of a Gaussian blur (sigma 0.3-1.2 working pixels).
    jpeg_p: probability of a JPEG round trip (quality 30-90).
    noise: Gaussian noise sigma, uniform in [0, noise].
  """
  def op(example: Example, rng: np.random.Generator) -> Example:
    image = example["image"][..., 0]
    polygons = example["polygons"]
    size = image.shape[0]
    if rng.uniform() < p:
      angle = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
      factor = np.exp(rng.uniform(np.log(1 - scale), np.log(1 + scale)))
      corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)
      centre = size / 2
      rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
      moved = (corners - centre) @ rotation.T * factor + centre
      moved += rng.uniform(-perspective, perspective, moved.shape) * size
      forward = homography(corners, moved)
      inverse = np.linalg.inv(forward)
      coeffs = (inverse / inverse[2, 2]).ravel()[:8]
      image = np.asarray(Image.fromarray(image).transform(
          (size, size), Image.Transform.PERSPECTIVE, tuple(coeffs),
          Image.Resampling.BILINEAR, fillcolor=0.0), np.float32)
      polygons = [apply_homography(forward, poly) for poly in polygons]
    image = image * rng.uniform(1 - contrast, 1 + contrast)
    image = image + rng.uniform(0, brightness) * (1 - image)
    if rng.uniform() < blur_p:
      image = ndimage.gaussian_filter(image, rng.uniform(0.3, 1.2))
    if rng.uniform() < jpeg_p:
      buffer = io.BytesIO()
      gray = np.clip((1 - image) * 255 + 0.5, 0, 255).astype(np.uint8)
      Image.fromarray(gray).save(buffer, format="JPEG", quality=int(rng.integers(30, 91)))
      image = 1 - np.asarray(Image.open(buffer), np.float32) / 255.0
    image = image + rng.normal(0, rng.uniform(0, noise), image.shape)
    image = np.clip(image, 0, 1).astype(np.float32)
    return {**example, "image": image[..., None], "polygons": polygons}
  return op


def column_extents(polygon: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The top and bottom of a closed polygon `[N, 2]` along vertical lines at `xs` (its
  highest and lowest edge crossings; NaN where a line misses it)."""
  start = np.asarray(polygon, np.float64)
  end = np.roll(start, -1, axis=0)
  x0, y0, x1, y1 = start[:, 0:1], start[:, 1:2], end[:, 0:1], end[:, 1:2]
  xs = np.asarray(xs, np.float64)[None]
  span = x1 - x0
  t = np.where(span != 0, (xs - x0) / np.where(span != 0, span, 1), np.nan)
  crossing = (t >= 0) & (t <= 1)
  y = np.where(crossing, y0 + t * (y1 - y0), np.nan)
  # Vertical edges: both their ends count where x matches.
  vertical = (span == 0) & (np.abs(xs - x0) < 1e-9)
  y_top = np.where(vertical, np.minimum(y0, y1), y)
  y_bottom = np.where(vertical, np.maximum(y0, y1), y)
  with warnings.catch_warnings():  # A column that misses the polygon is all NaN.
    warnings.simplefilter("ignore", RuntimeWarning)
    return np.nanmin(y_top, 0), np.nanmax(y_bottom, 0)


def line_core(polygon: np.ndarray, shape: tuple[int, int], stride: int, shrink: float):
  """One line's shrunk core on the `shape` grid of cells `stride` pixels wide, and each
  core cell's distances to the line's top and bottom edges (in cells), from the exact
  polygon (not its rasterisation, which would round a small line's height).

  Per column (at cell centres) the middle `shrink` of the line's height is kept (at least
  the cell nearest its centre), and at both ends the columns within `(1 - shrink) / 2`
  of its median height (at least the middle one).

  Returns:
    (window slices, bool core mask, float32 top distances, float32 bottom distances)
    over the window, or None if the line lies off the grid.
  """
  polygon = np.asarray(polygon, np.float64)
  left, right = polygon[:, 0].min(), polygon[:, 0].max()
  first = int(np.ceil(left / stride - 0.5))
  last = int(np.floor(right / stride - 0.5))
  columns = np.arange(first, last + 1) if last >= first else np.array(
      [int(np.floor((left + right) / 2 / stride))])
  top, bottom = column_extents(polygon, (columns + 0.5) * stride)
  ok = np.isfinite(top) & np.isfinite(bottom)
  if not ok.any():
    return None
  columns, top, bottom = columns[ok], top[ok], bottom[ok]
  height = bottom - top
  trim = (1 - shrink) / 2 * np.median(height)
  x = (columns + 0.5) * stride
  kept = (x >= left + trim) & (x <= right - trim)
  if not kept.any():
    kept[len(kept) // 2] = True
  columns, top, bottom, height = columns[kept], top[kept], bottom[kept], height[kept]
  inside = (columns >= 0) & (columns < shape[1])
  if not inside.any():
    return None
  columns, top, bottom, height = columns[inside], top[inside], bottom[inside], height[inside]
  centre = (top + bottom) / 2
  row_low = max(int(np.floor(top.min() / stride)) - 1, 0)
  row_high = min(int(np.ceil(bottom.max() / stride)) + 1, shape[0])
  if row_high <= row_low:
    return None
  rows = np.arange(row_low, row_high)[:, None]
  y = (rows + 0.5) * stride
  core = np.abs(y - centre) <= shrink * height / 2
  nearest = np.clip(np.floor(centre / stride).astype(int) - row_low, 0, len(rows) - 1)
  empty = ~core.any(0)
  core[nearest[empty], np.flatnonzero(empty)] = True
  window = (slice(row_low, row_high), slice(columns[0], columns[-1] + 1))
  mask = np.zeros((row_high - row_low, columns[-1] + 1 - columns[0]), bool)
  mask[:, columns - columns[0]] = core
  to_top = np.zeros(mask.shape, np.float32)
  to_bottom = np.zeros(mask.shape, np.float32)
  to_top[:, columns - columns[0]] = np.where(core, (y - top) / stride, 0)
  to_bottom[:, columns - columns[0]] = np.where(core, (bottom - y) / stride, 0)
  return window, mask, to_top, to_bottom


@register("line_targets")
def get_line_targets(stride: int = 4, shrink: float = 0.5, max_lines: int = 256,
                     min_size: float = 2.0):
  """`polygons` (working pixels) -> the detector's targets and the lines' boxes:

    region: float32 `[S/stride, S/stride]`, 1 on each line's shrunk core (`line_core`);
    edges: float32 `[S/stride, S/stride, 2]`, on core cells the distances (in cells) from
      the cell's centre up to its line's top edge and down to its bottom edge, 0 elsewhere;
    boxes: float32 `[max_lines, 4]` left, top, right, bottom (working pixels, clipped to
      the image), zero rows after `num_boxes`; num_boxes: int32.

  Args:
    stride: the model's output stride.
    shrink: the fraction of each line's height its core keeps (the decoder's ratio).
    max_lines: boxes per page; a page with more lines is an error, not cut short.
    min_size: lines whose clipped box is narrower or lower than this (pixels; moved off
      the image by augmentation) are left out of the boxes and the maps.

  Raises:
    InputError: a page with more than `max_lines` lines.
  """
  def op(example: Example) -> Example:
    size = example["image"].shape[0]
    grid = (size // stride, size // stride)
    region = np.zeros(grid, np.float32)
    edges = np.zeros((*grid, 2), np.float32)
    boxes = []
    for polygon in example["polygons"]:
      polygon = np.asarray(polygon, np.float32)
      if len(polygon) < 3:
        continue
      box = np.clip(np.concatenate([polygon.min(0), polygon.max(0)]), 0, size)
      if box[2] - box[0] < min_size or box[3] - box[1] < min_size:
        continue
      boxes.append(box)
      core = line_core(polygon, grid, stride, shrink)
      if core is not None:
        window, mask, to_top, to_bottom = core
        region[window][mask] = 1.0
        edges[window][mask] = np.stack([to_top[mask], to_bottom[mask]], -1)
    if len(boxes) > max_lines:
      raise InputError(f"{len(boxes)} lines, more than max_lines={max_lines}",
                       sample_id=as_text(example.get("id", "")))
    padded = np.zeros((max_lines, 4), np.float32)
    if boxes:
      padded[:len(boxes)] = np.stack(boxes)
    out = {k: v for k, v in example.items() if k != "polygons"}
    return {**out, "region": region, "edges": edges, "boxes": padded,
            "num_boxes": np.int32(len(boxes))}
  return op
