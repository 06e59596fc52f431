"""The list of benchmark cases: name, what is measured, unit, and both implementations."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from bench import cases, inputs


@dataclasses.dataclass(frozen=True)
class Case:
  """One row of the table.

  Attributes:
    name: short id (command-line selection, JSON key).
    what: what is measured, for the table.
    unit: unit of the figure.
    higher_is_better: True for throughputs, False for latencies.
    htr: htr's implementation (repeats -> result dict).
    peer: the peer's implementation, or None if the case has no peer.
    max_repeats: cap on timed repeats (for cases of several seconds per repeat).
  """

  name: str
  what: str
  unit: str
  higher_is_better: bool
  htr: Callable[[int], dict[str, Any]]
  peer: Callable[[int], dict[str, Any]] | None
  max_repeats: int | None = None


def _latency(frames: int, size: str) -> tuple[Callable, Callable]:
  return (functools.partial(cases.htr_latency, frames=frames, size=size),
          functools.partial(cases.peer_latency, frames=frames))


CASES = [
    Case("train", f"train step, batch {cases.BATCH}, IAM-like lengths (seed arch)", "lines/s",
         True, cases.htr_train, cases.peer_train, max_repeats=3),
    *[Case(f"latency_T{t}", f"recognise 1 line, T={t} (seed arch)", "ms", False,
           *_latency(t, "base")) for t in cases.LATENCY_LENGTHS],
    Case("latency_default", f"recognise 1 line, T={inputs.TYPICAL_LENGTH}: htr default "
         "model vs peer (seed arch)", "ms", False,
         *_latency(inputs.TYPICAL_LENGTH, "small")),
    Case("infer", f"batched recognition, batch {cases.BATCH} (seed arch)", "lines/s", True,
         cases.htr_infer, cases.peer_infer),
    Case("preprocess", "ink -> features (htr vectorised vs seed per-stroke scipy)", "lines/s",
         True, cases.htr_preprocess, cases.peer_preprocess),
    Case("greedy", f"greedy CTC decode, batch {cases.BATCH}", "lines/s", True,
         cases.htr_greedy, cases.peer_greedy),
    Case("beam", f"prefix beam search, width {cases.BEAM_WIDTH}", "lines/s", True,
         cases.htr_beam, cases.peer_beam),
    Case("offline_line", f"recognise 1 line image {inputs.LINE_HEIGHT}x{inputs.LINE_WIDTH}: "
         "htr offline_crnn small vs a CRNN of seed 004's kind", "ms", False,
         cases.htr_offline_line, cases.peer_offline_line),
    Case("offline_read", f"read 1 grey picture {inputs.LINE_WIDTH} px wide to text, same models "
         "(htr: line_image prep; peer: resize)", "ms", False, cases.htr_offline_read,
         cases.peer_offline_read),
    Case("page_detect", f"detect the lines of 1 page {cases.PAGE_SIDE}x{cases.PAGE_SIDE}: htr "
         "line_detector small vs the same network in PyTorch", "ms", False,
         cases.htr_page_detect, cases.peer_page_detect),
    Case("page_read", f"read 1 page of {inputs.PAGE_LINES} lines end to end (decode, fit, "
         "detector, host decoding, crops, line recogniser, reading order): htr vs the "
         "PyTorch detector + the seed-004-kind CRNN", "ms", False, cases.htr_page_read,
         cases.peer_page_read),
    Case("compiles", f"jit compilations over a bucketed epoch of {cases.EPOCH_LINES} lines",
         "count", False, cases.htr_compiles, None),
]
BY_NAME = {c.name: c for c in CASES}


def run(name: str, impl: str, repeats: int) -> dict[str, Any]:
  case = BY_NAME[name]
  return (case.htr if impl == "htr" else case.peer)(repeats)
