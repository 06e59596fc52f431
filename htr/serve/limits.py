"""ASGI middleware that sees every request before a route does: headers, keys and rate
limits, the body's size and pace, and request metrics.

Plain ASGI (not Starlette's BaseHTTPMiddleware) keeps the per-request overhead
to a function call, which matters at thousands of small requests per second. What can
be refused from the headers alone is refused here, before any body is read or parsed,
so a client without a key costs the server next to nothing.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.exceptions import HTTPException

from htr.serve import auth
from htr.serve.telemetry import Telemetry

_KINDS = {401: "auth", 403: "auth", 404: "not_found", 405: "method_not_allowed",
          408: "timeout", 413: "too_large", 422: "invalid", 429: "rate_limited",
          431: "too_large", 503: "unavailable"}
# Every response carries these: the drawing page keeps a key in the browser's storage,
# so no other site may frame it, inject script into it or make it guess content types.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; "
     b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
# Metric labels take the method only from this set: a client can send any token.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


async def refuse(send, status: int, kind: str, message: str,
                 headers: list[tuple[bytes, bytes]] = ()) -> None:
  """Answers with the API's error body without calling the app."""
  body = json.dumps({"error": kind, "message": message}).encode()
  await send({"type": "http.response.start", "status": status,
              "headers": [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode()), *headers]})
  await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
  """Adds `SECURITY_HEADERS` to every response."""

  def __init__(self, app):
    self.app = app

  async def __call__(self, scope, receive, send):
    if scope["type"] != "http":
      return await self.app(scope, receive, send)

    async def with_headers(message):
      if message["type"] == "http.response.start":
        message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
      await send(message)

    await self.app(scope, receive, with_headers)


class AccessGate:
  """Header limits, the API key and the rate limits, from the headers alone.

  `/v1/` requests without a known key are a 401 before their body is read; an address
  that keeps failing the key check is limited to `failures` (a 429 with Retry-After).
  Every request's headers are bounded in number and size (431). The caller's identity
  (its key's name or its address) is left in `scope["state"]["client"]` for routes.
  """

  def __init__(self, app, keys: auth.KeyStore, limiter: auth.RateLimiter,
               failures: auth.RateLimiter, max_headers: int, max_header_bytes: int):
    self.app, self.keys, self.limiter, self.failures = app, keys, limiter, failures
    self.max_headers, self.max_header_bytes = max_headers, max_header_bytes

  async def __call__(self, scope, receive, send):
    if scope["type"] != "http":
      return await self.app(scope, receive, send)
    headers = scope["headers"]
    if (len(headers) > self.max_headers
        or sum(len(k) + len(v) for k, v in headers) > self.max_header_bytes):
      return await refuse(send, 431, "too_large", f"request headers over the limits "
                          f"({self.max_headers} headers, {self.max_header_bytes} bytes)")
    if not scope["path"].startswith("/v1/"):
      return await self.app(scope, receive, send)
    address = f"addr:{scope['client'][0] if scope.get('client') else 'unknown'}"
    who = address
    if self.keys.required:
      key = dict(headers).get(b"x-api-key")
      name = self.keys.identify(key.decode("latin-1") if key is not None else None)
      if name is None:
        if (wait := self.failures.acquire(address)) > 0:
          return await refuse(send, 429, "rate_limited", "too many failed key checks",
                              [(b"retry-after", str(max(1, round(wait + 0.5))).encode())])
        return await refuse(send, 401, "auth", "missing or unknown API key (header X-API-Key)",
                            [(b"www-authenticate", b"X-API-Key")])
      who = f"key:{name}"
    if (wait := self.limiter.acquire(who)) > 0:
      return await refuse(send, 429, "rate_limited", f"rate limit of {self.limiter.rate:g} "
                          "requests/s exceeded",
                          [(b"retry-after", str(max(1, round(wait + 0.5))).encode())])
    scope.setdefault("state", {})["client"] = who
    await self.app(scope, receive, send)


class _TooLarge(HTTPException):
  """Raised from `receive`: an HTTPException, so body parsers let it through as is."""


class _TooSlow(HTTPException):
  """Raised from `receive` when a body stops arriving."""


class BodyLimit:
  """413 for bodies over `max_bytes`: by Content-Length up front, else while streaming;
  408 for a body whose next part does not arrive within `timeout` seconds (a client
  that announces a body and goes quiet would otherwise hold its request open)."""

  def __init__(self, app, max_bytes: int, timeout: float = 10.0):
    self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

  def _message(self) -> str:
    return f"request body over the limit of {self.max_bytes} bytes"

  async def __call__(self, scope, receive, send):
    if scope["type"] != "http":
      return await self.app(scope, receive, send)
    length = dict(scope["headers"]).get(b"content-length")
    if length is not None and not length.isdigit():
      return await refuse(send, 400, "validation", "Content-Length is not a number")
    if length is not None and int(length) > self.max_bytes:
      return await refuse(send, 413, "too_large", self._message())
    received = 0
    started = body_done = False

    async def limited_receive():
      nonlocal received, body_done
      if body_done:  # Waiting for a disconnect, not for a body: no deadline.
        return await receive()
      try:
        message = await asyncio.wait_for(receive(), self.timeout)
      except asyncio.TimeoutError:
        raise _TooSlow(408, f"no request body for {self.timeout:g} s") from None
      if message["type"] == "http.request":
        body_done = not message.get("more_body", False)
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
        await refuse(send, 413, "too_large", self._message())
    except _TooSlow as e:
      if not started:
        await refuse(send, 408, "timeout", e.detail, [(b"connection", b"close")])


class RequestMetrics:
  """Counts requests and errors and times them, by route template (not raw path); the
  stages routes time into `scope["state"]["stages"]` go to the stage histogram, with
  the rest of the request's wall time as "http"."""

  def __init__(self, app, telemetry: Telemetry):
    self.app, self.telemetry = app, telemetry

  async def __call__(self, scope, receive, send):
    if scope["type"] != "http":
      return await self.app(scope, receive, send)
    start = time.perf_counter()
    status = 500
    stages: dict[str, float] = {}
    scope.setdefault("state", {})["stages"] = stages

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
      seconds = time.perf_counter() - start
      t.latency.labels(name).observe(seconds)
      if stages:
        for stage, spent in stages.items():
          t.stages.labels(name, stage).observe(spent)
        t.stages.labels(name, "http").observe(max(0.0, seconds - sum(stages.values())))
      method = scope["method"] if scope["method"] in _METHODS else "other"
      t.requests.labels(name, method, str(status)).inc()
      if status >= 400:
        t.errors.labels(name, _KINDS.get(status, "internal" if status >= 500 else "client")
                        ).inc()
