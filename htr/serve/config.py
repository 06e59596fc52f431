"""What a server can be told: one frozen dataclass, light to import (the CLI reads it)."""

from __future__ import annotations

import dataclasses
import os

from htr.errors import InputError


def _cores() -> int:
  """CPUs this process may run on (its affinity, not the machine's count)."""
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@dataclasses.dataclass(frozen=True)
class ServeConfig:
  """Everything `htr serve` can be told.

  Attributes:
    models_dir: a folder with one exported SavedModel per subfolder.
    keys_file: API key hashes (see htr/serve/auth.py); with none (and no HTR_API_KEYS)
      the API is open.
    rate: requests per second allowed per key (per address when open); 0: unlimited.
    burst: requests a client may make at once before the rate applies.
    failed_auth_rate: failed key checks per second allowed per address; past the burst
      the address gets 429s (0: unlimited).
    failed_auth_burst: failed key checks an address may make at once.
    max_headers: most request headers (431 past it).
    max_header_bytes: most bytes of request headers, names and values (431 past it).
    body_timeout_s: seconds a request body may pause before a 408.
    max_body_bytes: larger request bodies are refused (413) before being read whole.
    max_points: most pen points in one ink.
    max_strokes: most strokes in one ink.
    max_batch_items: most inks or images in one batch request.
    max_image_pixels: most pixels of an uploaded image (decompression bombs).
    max_batch: most examples per model call (1: no dynamic batching); each model's
      batches also stop at the size past which its measured lines/s stops growing.
    max_wait_ms: how long the first example of a batch waits for company (0: a free
      worker runs what is queued at once; under load batches fill while others run).
    max_delay_ms: a free worker runs the length bucket that makes the largest batch;
      an example passed over this long has its bucket run next.
    max_queue: examples allowed to wait per model before requests get 503.
    workers: model calls run in parallel per model (default: one per CPU core).
    intra_op_threads: threads one TensorFlow op may use (0: TensorFlow's default, all
      cores). The XLA executables of a graph run on this pool, so with 1 the workers'
      calls take turns on one core.
    inter_op_threads: TensorFlow ops run at once (0: TensorFlow's default).
    prepare_workers: uploads decoded and preprocessed at once (bounds their memory).
    warm_up_words: before /readyz, each model runs every batch size up to max_batch
      (for ink models: with synthetic lines of 1 to this many words), so that the
      XLA compiles of those shapes do not land on requests; 0: one example only.
    variant: which exported variant of each model to serve (float32, bfloat16, int8);
      None: each export's default.
  """

  models_dir: str
  keys_file: str | None = None
  rate: float = 50.0
  burst: int = 100
  failed_auth_rate: float = 1.0
  failed_auth_burst: int = 10
  max_headers: int = 64
  max_header_bytes: int = 16 << 10
  body_timeout_s: float = 10.0
  max_body_bytes: int = 4 << 20
  max_points: int = 20_000
  max_strokes: int = 2_000
  max_batch_items: int = 64
  max_image_pixels: int = 4096 * 4096
  max_batch: int = 32
  max_wait_ms: float = 0.0
  max_delay_ms: float = 500.0
  max_queue: int = 2048
  workers: int = dataclasses.field(default_factory=_cores)
  intra_op_threads: int = 0
  inter_op_threads: int = 0
  prepare_workers: int = 2
  warm_up_words: int = 12
  variant: str | None = None

  def __post_init__(self):
    """Refuses settings that would leave the server stuck in loading or unusable."""
    at_least = {"burst": 1, "max_body_bytes": 1, "max_points": 1, "max_strokes": 1,
                "max_batch_items": 1, "max_image_pixels": 1, "max_batch": 1,
                "max_queue": 1, "workers": 1, "prepare_workers": 1, "rate": 0, "max_wait_ms": 0,
                "max_delay_ms": 0,
                "warm_up_words": 0, "intra_op_threads": 0, "inter_op_threads": 0,
                "failed_auth_rate": 0, "failed_auth_burst": 1,
                "max_headers": 1, "max_header_bytes": 1, "body_timeout_s": 0.001}
    bad = [f"{name}={getattr(self, name)} (at least {low})"
           for name, low in at_least.items() if not getattr(self, name) >= low]
    if bad:
      raise InputError(f"invalid server settings: {', '.join(bad)}")
