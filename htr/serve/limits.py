"""ASGI middleware that sees every request: the body-size limit and request metrics.

Plain ASGI (not Starlette's BaseHTTPMiddleware) keeps the per-request overhead
to a function call, which matters at thousands of small requests per second.
"""

from __future__ import annotations

import json
import time

from starlette.exceptions import HTTPException

from htr.serve.telemetry import Telemetry

_KINDS = {401: "auth", 403: "auth", 404: "not_found", 405: "not_found", 413: "too_large",
          422: "invalid", 429: "rate_limited", 503: "unavailable"}
# Metric labels take the method only from this set: a client can send any token.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _TooLarge(HTTPException):
  """Raised from `receive`: an HTTPException, so body parsers let it through as is."""


class BodyLimit:
  """413 for bodies over `max_bytes`: by Content-Length up front, else while streaming."""

  def __init__(self, app, max_bytes: int):
    self.app, self.max_bytes = app, max_bytes

  def _message(self) -> str:
    return f"request body over the limit of {self.max_bytes} bytes"

  async def _refuse(self, send, status: int = 413, kind: str = "too_large",
                    message: str | None = None) -> None:
    body = json.dumps({"error": kind, "message": message or self._message()}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

  async def __call__(self, scope, receive, send):
    if scope["type"] != "http":
      return await self.app(scope, receive, send)
    length = dict(scope["headers"]).get(b"content-length")
    if length is not None and not length.isdigit():
      return await self._refuse(send, 400, "validation", "Content-Length is not a number")
    if length is not None and int(length) > self.max_bytes:
      return await self._refuse(send)
    received = 0
    started = False

    async def limited_receive():
      nonlocal received
      message = await receive()
      if message["type"] == "http.request":
        received += len(message.get("body", b""))
        if received > self.max_bytes:
          raise _TooLarge(413, self._message())
      return message

    async def tracking_send(message):
      nonlocal started
      started = started or message["type"] == "http.response.start"
      await send(message)

    try:
      await self.app(scope, limited_receive, tracking_send)
    except _TooLarge:
      if not started:
        await self._refuse(send)


class RequestMetrics:
  """Counts requests and errors and times them, by route template (not raw path)."""

  def __init__(self, app, telemetry: Telemetry):
    self.app, self.telemetry = app, telemetry

  async def __call__(self, scope, receive, send):
    if scope["type"] != "http":
      return await self.app(scope, receive, send)
    start = time.perf_counter()
    status = 500

    async def tracking_send(message):
      nonlocal status
      if message["type"] == "http.response.start":
        status = message["status"]
      await send(message)

    try:
      await self.app(scope, receive, tracking_send)
    finally:
      route = scope.get("route")
      # Unmatched paths share one label, so scanners cannot blow up the label set.
      name = getattr(route, "path", None) or "unmatched"
      t = self.telemetry
      t.latency.labels(name).observe(time.perf_counter() - start)
      method = scope["method"] if scope["method"] in _METHODS else "other"
      t.requests.labels(name, method, str(status)).inc()
      if status >= 400:
        t.errors.labels(name, _KINDS.get(status, "internal" if status >= 500 else "client")
                        ).inc()
