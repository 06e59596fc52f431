"""Prometheus metrics of the server, in a registry of their own.

One registry per app (not the process-global default) so several apps in one
process, as in the tests, each count only their own traffic.

Attributes:
  LATENCY_BUCKETS: histogram bounds in seconds, dense around the 100 ms goal.
"""

from __future__ import annotations

import prometheus_client as prom

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
# Stages of a request take from tens of microseconds (formatting) to a second (queueing).
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,
                 0.128, 0.256, 0.512, 1.0, 2.5)
# Where a request's time goes, in order; "http" is the rest of its wall time (the
# server's HTTP parsing, routing, middleware and response writing).
STAGES = ("read", "parse", "prepare", "queue", "pad", "model", "result", "respond", "http")
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Telemetry:
  """The server's metrics.

  Attributes:
    registry: what `/metrics` exposes.
    requests: requests by route template, method and status code.
    errors: 4xx/5xx responses by route and error kind (validation, auth, rate, ...).
    latency: request wall time by route.
    batch_size: examples per model call (after dynamic batching), by model.
    model_latency: seconds per model call, by model.
    queue_wait: seconds an example waited in the batching queue, by model.
    stages: seconds of each stage of a request (`STAGES`), by route: "read" the body,
      "parse" its JSON into validated fields, "prepare" inputs for the model (host
      preprocessing), "queue" waiting to be batched, "pad" the batch's arrays, "model"
      the SavedModel call, "result" formatting its outputs, "respond" the response
      body, "http" the rest. The batch stages are those of the request's batch (of its
      slowest batch, for a batch request).
    batch_limit: the batch size a model's batches stop at (measured at warm-up).
    graph_lines_per_second: a model's SavedModel alone, lines/s by batch size
      (measured at warm-up on a typical example).
  """

  def __init__(self):
    self.registry = prom.CollectorRegistry()
    r = self.registry
    self.requests = prom.Counter("htr_requests", "HTTP requests.",
                                 ["route", "method", "status"], registry=r)
    self.errors = prom.Counter("htr_errors", "HTTP error responses by kind.",
                               ["route", "kind"], registry=r)
    self.latency = prom.Histogram("htr_request_latency_seconds", "HTTP request latency.",
                                  ["route"], buckets=LATENCY_BUCKETS, registry=r)
    self.batch_size = prom.Histogram("htr_batch_size", "Examples per model call.",
                                     ["model"], buckets=_BATCH_BUCKETS, registry=r)
    self.model_latency = prom.Histogram("htr_model_latency_seconds",
                                        "Seconds per model call.", ["model"],
                                        buckets=LATENCY_BUCKETS, registry=r)
    self.queue_wait = prom.Histogram("htr_queue_wait_seconds",
                                     "Seconds an example waited to be batched.", ["model"],
                                     buckets=LATENCY_BUCKETS, registry=r)
    self.stages = prom.Histogram("htr_stage_seconds", "Seconds of each stage of a request.",
                                 ["route", "stage"], buckets=STAGE_BUCKETS, registry=r)
    self.batch_limit = prom.Gauge("htr_batch_limit", "Most examples per model call "
                                  "(measured at warm-up).", ["model"], registry=r)
    self.graph_lines_per_second = prom.Gauge(
        "htr_graph_lines_per_second", "The SavedModel alone: examples/s by batch size "
        "(measured at warm-up).", ["model", "batch_size"], registry=r)

  def exposition(self) -> bytes:
    return prom.generate_latest(self.registry)
