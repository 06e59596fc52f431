"""Page image -> its text lines: polygons, boxes and scores (the page family's detector).

The model (htr/models/line_detector.py) predicts, at stride 4, the probability that a
cell lies in a line's shrunk core and, for core cells, the distances up to the line's top
and down to its bottom edge (targets: htr/data/ops_pages.py's `line_targets`). The host
decodes them (`decode_lines`): threshold, connected components (scipy.ndimage.label),
each component's column-wise top and bottom from the distances, its ends grown back by
the shrink ratio, into a polygon, its box and its mean probability as the score.
Evaluation matches boxes: mAP@0.5 and mAP@0.5:0.95
by pycocotools' COCOeval, and line precision, recall and F1 at IoU 0.5.

`results` give per page its lines in page pixels; `htr.image.page_pipeline` puts them in
XY-cut reading order (`detected_page`: a Page, baselines the bottom edges) and reads them.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import ndimage

from htr import models
from htr.ink.records import as_text
from htr.models.line_detector import STRIDE
from htr.tasks import base

EDGE_POINTS = 16  # Points per edge (top, bottom) of a decoded polygon, at most.


def link_pieces(labels: np.ndarray, max_gap: float) -> np.ndarray:
  """Components that continue each other along a line -> one label.

  Two components are one line when their rows overlap by at least half the shorter
  one's height and the horizontal gap between them is at most `max_gap` times that
  height: wide word gaps (whiteboard writing, spaced-out signatures) break a line's core
  into pieces, while neighbouring columns of a page are further apart than that.
  """
  windows = ndimage.find_objects(labels)
  parent = list(range(len(windows) + 1))

  def root(k):
    while parent[k] != k:
      parent[k] = parent[parent[k]]
      k = parent[k]
    return k

  spans = [(k, w) for k, w in enumerate(windows, 1) if w is not None]
  for i, (a, wa) in enumerate(spans):
    for b, wb in spans[i + 1:]:
      overlap = min(wa[0].stop, wb[0].stop) - max(wa[0].start, wb[0].start)
      height = min(wa[0].stop - wa[0].start, wb[0].stop - wb[0].start)
      gap = max(wa[1].start, wb[1].start) - min(wa[1].stop, wb[1].stop)
      if overlap >= 0.5 * height and gap <= max_gap * height:
        parent[root(b)] = root(a)
  lookup = np.array([root(k) for k in range(len(parent))])
  return lookup[labels]


def decode_lines(prob: np.ndarray, edges: np.ndarray | None = None, *,
                 threshold: float = 0.5, shrink: float = 0.5, stride: int = STRIDE,
                 min_area: int = 3, link_gap: float = 0.0) -> list[dict[str, Any]]:
  """One page's region probabilities `[h, w]` (and edge distances `[h, w, 2]`, in cells)
  -> its lines in working-image pixels.

  The inverse of `ops_pages.line_core`: each connected component (4-connected) above
  `threshold` of at least `min_area` cells becomes a line whose top and bottom, per
  column, are the median over its cells of the cell centre minus / plus the predicted
  edge distances (without `edges`: the column's height grown by 1 / shrink about its
  centre), and whose ends are moved out by (1 / shrink - 1) / 2 of its core's median
  height, i.e. (1 - shrink) / 2 of the line's. With `link_gap` > 0, pieces of one line
  split by wide gaps are joined first (`link_pieces`, the gap in core heights).

  Returns:
    Per line: "polygon" float32 `[N, 2]` (top edge left to right, then bottom edge right
    to left), "box" (left, top, right, bottom), "score" (mean probability).
  """
  prob = np.asarray(prob)
  labels, _ = ndimage.label(prob > threshold)
  if link_gap > 0:
    labels = link_pieces(labels, link_gap)
  lines = []
  for k, window in enumerate(ndimage.find_objects(labels), 1):
    if window is None:
      continue
    mask = labels[window] == k
    if mask.sum() < min_area:
      continue
    columns = np.flatnonzero(mask.any(0))
    y = (np.arange(mask.shape[0]) + window[0].start + 0.5)[:, None] * stride
    if edges is None:
      top = np.argmax(mask, 0)[columns]
      bottom = (mask.shape[0] - 1 - np.argmax(mask[::-1], 0))[columns]
      height = (bottom - top + 1) / shrink * stride
      centre = ((top + bottom + 1) / 2 + window[0].start) * stride
      upper, lower = centre - height / 2, centre + height / 2
    else:
      distances = np.maximum(np.asarray(edges)[window], 0) * stride
      tops = np.where(mask, y - distances[..., 0], np.nan)[:, columns]
      bottoms = np.where(mask, y + distances[..., 1], np.nan)[:, columns]
      upper, lower = np.nanmedian(tops, 0), np.nanmedian(bottoms, 0)
    grow = (1 - shrink) / 2 * np.median(lower - upper)
    x = (columns + window[1].start + 0.5) * stride
    left = (columns[0] + window[1].start) * stride - grow
    right = (columns[-1] + window[1].start + 1) * stride + grow
    keep = np.unique(np.linspace(0, len(columns) - 1, min(EDGE_POINTS, len(columns))
                                 ).round().astype(int))
    xs = np.concatenate([[left], x[keep], [right]])
    tops_kept = np.concatenate([[upper[0]], upper[keep], [upper[-1]]])
    bottoms_kept = np.concatenate([[lower[0]], lower[keep], [lower[-1]]])
    polygon = np.concatenate([np.stack([xs, tops_kept], 1),
                              np.stack([xs, bottoms_kept], 1)[::-1]]).astype(np.float32)
    lines.append({"polygon": polygon,
                  "box": [float(v) for v in (*polygon.min(0), *polygon.max(0))],
                  "score": float(prob[window][mask].mean())})
  return lines


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """IoU of every box of `a` `[N, 4]` with every box of `b` `[M, 4]` -> `[N, M]`, by
  pycocotools: the overlaps COCOeval's mAP is computed from."""
  from pycocotools import mask
  a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
  if not len(a) or not len(b):
    return np.zeros((len(a), len(b)))
  xywh = lambda x: np.concatenate([x[:, :2], x[:, 2:] - x[:, :2]], 1)  # noqa: E731
  return np.asarray(mask.iou(xywh(a), xywh(b), np.zeros(len(b), np.uint8)), np.float64)


def match_count(predicted: np.ndarray, scores: np.ndarray, truth: np.ndarray,
                iou: float = 0.5) -> int:
  """Greedy one-to-one matches (highest score first) of predicted to true boxes at IoU
  >= `iou`: the true positives."""
  if not len(predicted) or not len(truth):
    return 0
  overlaps = box_iou(predicted, truth)
  taken = np.zeros(len(truth), bool)
  hits = 0
  for i in np.argsort(-np.asarray(scores), kind="stable"):
    candidates = np.where(taken, -1.0, overlaps[i])
    j = int(np.argmax(candidates))
    if candidates[j] >= iou:
      taken[j] = True
      hits += 1
  return hits


def coco_map(records: list[dict[str, Any]]) -> tuple[float, float]:
  """(mAP@0.5, mAP@0.5:0.95) of records' `boxes` (truth) and `lines` (detections) by
  pycocotools' COCOeval (one category, every detection counted)."""
  from pycocotools.coco import COCO
  from pycocotools.cocoeval import COCOeval
  images, truth, found = [], [], []
  for n, record in enumerate(records, 1):
    images.append({"id": n})
    for box in record["boxes"]:
      l, t, r, b = box
      truth.append({"id": len(truth) + 1, "image_id": n, "category_id": 1, "iscrowd": 0,
                    "bbox": [l, t, r - l, b - t], "area": (r - l) * (b - t)})
    for line in record["lines"]:
      l, t, r, b = line["box"]
      found.append({"image_id": n, "category_id": 1, "bbox": [l, t, r - l, b - t],
                    "score": line["score"]})
  if not truth:
    return 0.0, 0.0
  if not found:  # COCO.loadRes refuses an empty list; nothing found scores 0.
    return 0.0, 0.0
  with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its tables.
    gt = COCO()
    gt.dataset = {"images": images, "annotations": truth, "categories": [{"id": 1}]}
    gt.createIndex()
    evaluation = COCOeval(gt, gt.loadRes(found), iouType="bbox")
    most = max(max(len(r["lines"]) for r in records), 1)
    evaluation.params.maxDets = [1, 10, max(most, 100)]
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
  return max(float(evaluation.stats[1]), 0.0), max(float(evaluation.stats[0]), 0.0)


class Task(base.Task):
  """Line detection: `image [B,S,S,1]` -> line-core probabilities `region [B,S/4,S/4]` and
  edge distances `edges [B,S/4,S/4,2]`.

  Config fields used: `model` (name + kwargs), `data.page_size` (S), `data.max_lines`,
  `detect` (threshold, shrink, min_area, dice_weight, edge_weight).
  """

  main_metric = ("map50", "max")

  def __init__(self, config, metadata=None):
    super().__init__(config, metadata)
    # Map 0: line-core logits; maps 1, 2: distances (cells) up to the top and down to the
    # bottom edge of the line (`ops_pages.line_targets`).
    self.model = models.build(config.model, num_maps=3)

  @property
  def _size(self) -> int:
    return self.config.data.page_size

  def padding(self):
    return {}, None

  def dummy_batch(self, batch_size):
    size, grid = self._size, self._size // STRIDE
    return {"image": np.zeros((batch_size, size, size, 1), np.float32),
            "region": np.zeros((batch_size, grid, grid), np.float32),
            "edges": np.zeros((batch_size, grid, grid, 2), np.float32),
            "boxes": np.zeros((batch_size, self.config.data.max_lines, 4), np.float32),
            "num_boxes": np.zeros((batch_size,), np.int32),
            "scale": np.ones((batch_size,), np.float32),
            "original_size": np.full((batch_size, 2), size, np.int32),
            "mask": np.ones((batch_size,), np.float32)}

  def model_inputs(self, batch):
    return {"image": batch["image"]}

  def loss(self, params, model_state, batch, rng):
    logits, updates = self.model.apply(
        {"params": params, **model_state}, **self.model_inputs(batch), train=True,
        rngs={"dropout": rng}, mutable=list(model_state))
    maps = logits.astype(jnp.float32)
    logits = maps[..., 0]
    target, weight = batch["region"], batch["mask"][:, None, None]
    pixels = jnp.maximum(jnp.sum(weight) * target.shape[1] * target.shape[2], 1.0)
    bce = jnp.sum(optax.sigmoid_binary_cross_entropy(logits, target) * weight) / pixels
    prob = jax.nn.sigmoid(logits) * weight
    # Dice over the whole batch (DBNet's): scale-free, so sparse lines still count.
    overlap, total = jnp.sum(prob * target), jnp.sum(prob) + jnp.sum(target * weight)
    dice = 1 - (2 * overlap + 1) / (total + 1)
    # L1 on the edge distances of core cells: where a line's top and bottom are.
    core = target * weight
    edge = jnp.sum(jnp.abs(maps[..., 1:] - batch["edges"]).sum(-1) * core) / jnp.maximum(
        jnp.sum(core), 1.0)
    d = self.config.detect
    loss = bce + d.dice_weight * dice + d.edge_weight * edge
    return loss, (updates, {"loss": loss, "bce": bce, "dice": dice, "edge": edge})

  def predict(self, variables, batch):
    logits = self.model.apply(variables, batch["image"], train=False)
    maps = logits.astype(jnp.float32)
    out = {"region": jax.nn.sigmoid(maps[..., 0]), "edges": maps[..., 1:]}
    for key in ("scale", "original_size"):
      if key in batch:
        out[key] = batch[key]
    return out

  # -- host side ------------------------------------------------------------
  def lines(self, region: np.ndarray, edges: np.ndarray | None) -> list[dict[str, Any]]:
    """One page's maps -> its lines in working pixels (`decode_lines` by `config.detect`)."""
    d = self.config.detect
    return decode_lines(region, edges, threshold=d.threshold, shrink=d.shrink,
                        min_area=d.min_area, link_gap=d.get("link_gap", 0.0))

  def records(self, batch, outputs):
    records = []
    for i in range(len(batch["mask"])):
      if not batch["mask"][i]:
        continue
      lines = self.lines(outputs["region"][i], outputs["edges"][i])
      boxes = np.asarray(batch["boxes"][i][:int(batch["num_boxes"][i])])
      scores = np.array([line["score"] for line in lines])
      found = np.array([line["box"] for line in lines]).reshape(-1, 4)
      records.append({
          "id": as_text(batch["id"][i]) if "id" in batch else "",
          "boxes": boxes.tolist(),
          "lines": [{"box": line["box"], "score": line["score"]} for line in lines],
          "matched": match_count(found, scores, boxes)})
    return records

  def summarize(self, records):
    truth = sum(len(r["boxes"]) for r in records)
    found = sum(len(r["lines"]) for r in records)
    hits = sum(r["matched"] for r in records)
    precision = hits / found if found else 0.0
    recall = hits / truth if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    map50, map_all = coco_map(records)
    return {"map50": map50, "map50_95": map_all, "precision": precision, "recall": recall,
            "f1": f1, "num_lines": float(truth), "num_found": float(found),
            "num_examples": float(len(records))}

  def worst(self, records, n):
    def f1(r):
      total = len(r["boxes"]) + len(r["lines"])
      return 2 * r["matched"] / total if total else 1.0
    return sorted(records, key=f1)[:n]

  # -- inference --------------------------------------------------------------
  accepts = ("image",)

  def prepare(self, value, where):
    return self._predict_ops({"id": where, "image": value}, np.random.default_rng(0))

  def results(self, outputs):
    """Per page: "lines" [{polygon, box, score}] in page pixels (unordered: `page_pipeline`
    orders them), "text" "" (nothing is read yet) and "confidence" the mean score."""
    results = []
    for i, region in enumerate(outputs["region"]):
      scale = float(outputs["scale"][i]) if "scale" in outputs else 1.0
      size = outputs["original_size"][i] if "original_size" in outputs else None
      lines = self.page_lines(region, outputs["edges"][i], scale, size)
      score = float(np.mean([line["score"] for line in lines])) if lines else 0.0
      results.append({"text": "", "confidence": score, "lines": lines})
    return results

  def page_lines(self, region: np.ndarray, edges: np.ndarray | None, scale: float,
                 original_size=None) -> list[dict[str, Any]]:
    """One page's maps -> its lines [{polygon, box, score}] in page pixels (JSON-able)."""
    lines = []
    for line in self.lines(region, edges):
      polygon = line["polygon"] / scale
      if original_size is not None:
        width, height = (int(v) for v in original_size)
        polygon = np.clip(polygon, 0, [max(width - 1, 0), max(height - 1, 0)])
      lines.append({"polygon": polygon.tolist(),
                    "box": [float(v) for v in (*polygon.min(0), *polygon.max(0))],
                    "score": line["score"]})
    return lines

  def serving(self):
    """A page image -> its line region map; lines are decoded on the host (`result`).

    Decoding, scaling and padding the page (`decode_page|fit_page`, `data.pp_predict`)
    run on the host before the graph, as for training: they turn pages of any size into
    one square shape a server can batch. The graph returns the stride-4 map; connected
    components are not a jnp operation, so `result` decodes them (`decode_lines`).
    """
    size, grid = self._size, self._size // STRIDE

    def prepare(value, where):
      example = self.prepare(value, where)
      return {"image": example["image"], "scale": np.float32(example["scale"]),
              "original_size": example["original_size"].astype(np.int32)}

    def result(outputs):
      lines = self.page_lines(outputs["region"], outputs["edges"], float(outputs["scale"]),
                              outputs["original_size"])
      score = float(np.mean([line["score"] for line in lines])) if lines else 0.0
      return {"text": "", "confidence": score, "lines": lines}

    blank = {"image": np.zeros((size, size, 1), np.float32), "scale": np.float32(1.0),
             "original_size": np.array([size, size], np.int32)}
    return base.Serving(
        kind="image", returns="lines", accepts=self.accepts,
        inputs={"image": ("float32", ("b", size, size, 1)), "scale": ("float32", ("b",)),
                "original_size": ("int32", ("b", 2))},
        preprocess=lambda inputs: dict(inputs),
        batch_shapes={"image": f"(b, {size}, {size}, 1)"},
        predict=lambda variables, batch: {
            k: v for k, v in self.predict(variables, batch).items() if k in ("region", "edges")},
        prepare=prepare, result=result, warm_up=lambda words: [blank],
        outputs={"region": "region", "edges": "edges", "scale": "scale",
                 "original_size": "original_size"},
        settings={"page_size": size, "stride": STRIDE, "shrink": self.config.detect.shrink,
                  "threshold": self.config.detect.threshold,
                  "host_preprocess": self.config.data.pp_predict},
        description=(
            f"image float32 [batch, {size}, {size}, 1]: the page fitted by "
            "htr.data.ops_pages (decode_page|fit_page, on the host: longer side "
            f"{size}, ink positive 1 - gray, padded with 0), scale float32 [batch] and "
            "original_size int32 [batch, 2] (passed through). Returns region float32 "
            f"[batch, {grid}, {grid}] (line-core probabilities at stride {STRIDE}), edges "
            f"float32 [batch, {grid}, {grid}, 2] (distances in cells from each cell up to its "
            "line's top and down to its bottom), scale and original_size; "
            "htr.tasks.detect.decode_lines turns the maps into lines."))
