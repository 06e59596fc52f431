"""The HTTP API over exported models: FastAPI routes, limits, auth, metrics, errors.

`create_app(ServeConfig(...))` builds the app; models load in the background after
start-up, so `/healthz` (liveness) answers at once and `/readyz` turns 200 when
every model is loaded and warmed up. Bad input of any kind is a 4xx with an
`ErrorBody`; an unexpected failure is a 500 that names a log id, never a trace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.resources
import logging
import time
import uuid
from typing import Any

import numpy as np
import pydantic
from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from htr.errors import InputError, InputTooLarge
from htr.ink.ink import Ink
from htr.serve import auth, schemas
from htr.serve.batching import Batcher, Overloaded
from htr.serve.config import ServeConfig
from htr.serve.limits import AccessGate, BodyLimit, RequestMetrics, SecurityHeaders
from htr.serve.telemetry import Telemetry

log = logging.getLogger("htr.serve")


_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="An API key, when the server has keys configured.")
_ERRORS = {400: ("validation", "bad request"), 401: ("auth", "missing or unknown API key"),
           404: ("not_found", "not found"),
           405: ("method_not_allowed", "method not allowed"),
           413: ("too_large", "request too large"), 429: ("rate_limited", "too many requests"),
           503: ("unavailable", "not ready")}
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorBody, "description": text}
    for code, text in [(401, "missing or unknown API key"), (404, "unknown model"),
                       (413, "body, ink or batch over the limits"),
                       (422, "invalid request or unusable input"),
                       (429, "rate limit exceeded"), (503, "not ready or overloaded")]}


def _json_body(model: type[pydantic.BaseModel]) -> dict[str, Any]:
  """The OpenAPI request body of a route that validates its JSON itself (off the loop)."""
  return {"requestBody": {"required": True, "content": {"application/json": {
      "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _error(status: int, kind: str, message: str, detail=None, headers=None) -> JSONResponse:
  body = schemas.ErrorBody(error=kind, message=message, detail=detail)
  return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


class _State:
  """What the routes share: the config, the models and their batchers once loaded."""

  def __init__(self, config: ServeConfig):
    self.config = config
    self.telemetry = Telemetry()
    self.keys = auth.KeyStore(auth.load_key_hashes(config.keys_file))
    self.limiter = auth.RateLimiter(config.rate, config.burst)
    self.auth_failures = auth.RateLimiter(config.failed_auth_rate, config.failed_auth_burst)
    self.models: dict[str, Any] = {}
    self.batchers: dict[str, Batcher] = {}
    # Uploads are decoded and preprocessed here, a few at a time: a 4096x4096 RGBA
    # image takes ~0.6 GB on its way to 28x28, so their number bounds the memory.
    self.prepare_pool = concurrent.futures.ThreadPoolExecutor(
        config.prepare_workers, thread_name_prefix="htr-prepare")
    self.ready = False
    self.load_error: str | None = None

  def batcher_for(self, model) -> Batcher:
    """Batches of one length bucket, up to the size the model's measured lines/s stops
    growing at (and `--max_batch`)."""
    c, t = self.config, self.telemetry
    t.batch_limit.labels(model.name).set(min(c.max_batch, model.batch_limit))
    for size, seconds in getattr(model, "graph_seconds", {}).items():
      t.graph_lines_per_second.labels(model.name, str(size)).set(size / seconds)

    def on_batch(size: int, seconds: float, waits: list[float]) -> None:
      t.batch_size.labels(model.name).observe(size)
      t.model_latency.labels(model.name).observe(seconds)
      for wait in waits:
        t.queue_wait.labels(model.name).observe(wait)

    return Batcher(model.run_stages, max_batch=min(c.max_batch, model.batch_limit),
                   max_wait=c.max_wait_ms / 1000, max_delay=c.max_delay_ms / 1000,
                   max_queue=c.max_queue, workers=c.workers,
                   key=model.batch_key, on_batch=on_batch)

  async def load(self) -> None:
    from htr.serve.models import load_models
    loop = asyncio.get_running_loop()
    try:
      c = self.config
      models = await loop.run_in_executor(None, load_models, c.models_dir, c.variant,
                                          c.max_batch, c.warm_up_words,
                                          c.intra_op_threads, c.inter_op_threads,
                                          c.workers)
      for name, model in models.items():
        self.batchers[name] = self.batcher_for(model)
        self.batchers[name].start()
    except Exception as e:  # noqa: BLE001  (reported by /readyz and the log)
      log.exception("loading models from %s failed", self.config.models_dir)
      first_line = (str(e).strip().splitlines() or [""])[0][:300]
      self.load_error = f"loading models failed: {type(e).__name__}: {first_line}"
      return
    self.models = models
    self.ready = True
    log.info("serving %d models: %s", len(models), ", ".join(models))


def create_app(config: ServeConfig) -> FastAPI:
  """The API and the drawing page over the models in `config.models_dir`."""
  state = _State(config)

  @contextlib.asynccontextmanager
  async def lifespan(app: FastAPI):
    loading = asyncio.create_task(state.load())
    yield
    loading.cancel()
    for batcher in state.batchers.values():
      await batcher.stop()
    state.prepare_pool.shutdown(wait=False, cancel_futures=True)

  # /docs would load Swagger UI from a CDN: off; the schema itself is /openapi.json.
  app = FastAPI(title="htr", version="0.1.0", lifespan=lifespan, docs_url=None,
                redoc_url=None, description="Handwriting recognition over exported htr "
                "models. The drawing page is at `/`.")
  app.state.htr = state

  def openapi() -> dict[str, Any]:
    """FastAPI's schema plus the JSON bodies that routes validate themselves."""
    if app.openapi_schema is None:
      components = FastAPI.openapi(app).setdefault("components", {}).setdefault("schemas", {})
      for model in (schemas.InkRequest, schemas.InkBatchRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return app.openapi_schema

  app.openapi = openapi
  # Outermost last: metrics see everything; headers, keys and limits come before bodies.
  app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes,
                     timeout=config.body_timeout_s)
  app.add_middleware(AccessGate, keys=state.keys, limiter=state.limiter,
                     failures=state.auth_failures, max_headers=config.max_headers,
                     max_header_bytes=config.max_header_bytes)
  app.add_middleware(SecurityHeaders)
  app.add_middleware(RequestMetrics, telemetry=state.telemetry)

  # -- errors: clear 4xx, no traces -------------------------------------------------
  @app.exception_handler(RequestValidationError)
  async def _invalid(request: Request, e: RequestValidationError):
    detail = [{"loc": ".".join(map(str, err["loc"])), "msg": err["msg"]}
              for err in e.errors()[:20]]  # Never echo the input back: it may be huge.
    where = "; ".join(f"{d['loc']}: {d['msg']}" for d in detail[:3])
    return _error(422, "validation", f"invalid request: {where}", detail)

  @app.exception_handler(InputError)
  async def _bad_input(request: Request, e: InputError):
    return _error(422, "input", str(e))

  @app.exception_handler(InputTooLarge)
  async def _too_large_input(request: Request, e: InputTooLarge):
    return _error(413, "too_large", str(e))

  @app.exception_handler(StarletteHTTPException)  # Also Starlette's own: 404, 405, 400.
  async def _http(request: Request, e: StarletteHTTPException):
    kind, default = _ERRORS.get(e.status_code, ("error", "error"))
    return _error(e.status_code, kind, str(e.detail or default), headers=e.headers)

  @app.exception_handler(Overloaded)
  async def _overloaded(request: Request, e: Overloaded):
    return _error(503, "unavailable", f"overloaded: {e}; retry shortly",
                  headers={"Retry-After": "1"})

  @app.exception_handler(Exception)
  async def _internal(request: Request, e: Exception):
    error_id = uuid.uuid4().hex[:12]
    log.exception("internal error %s on %s %s", error_id, request.method, request.url.path)
    return _error(500, "internal", f"internal error (log id {error_id})")

  # -- auth and rate limits ---------------------------------------------------------
  async def client(request: Request, key: str | None = Depends(_KEY_HEADER)) -> str:
    """The caller's identity, which `AccessGate` checked (key and rate limits) before
    the body was read; the header dependency documents the key in the OpenAPI schema."""
    return request.scope["state"]["client"]

  def require_ready() -> None:
    if not state.ready:
      raise HTTPException(503, state.load_error or "models are still loading",
                          headers={"Retry-After": "2"})

  def model_named(name: str):
    require_ready()
    if name not in state.models:
      raise HTTPException(404, f"no model {name!r}; known: {sorted(state.models)}")
    return state.models[name]

  def check_size(num_points: int, num_strokes: int, where: str) -> None:
    if num_points > config.max_points:
      raise InputTooLarge(f"{num_points} points, more than the limit {config.max_points}",
                          sample_id=where)
    if num_strokes > config.max_strokes:
      raise InputTooLarge(f"{num_strokes} strokes, more than the limit "
                          f"{config.max_strokes}", sample_id=where)

  def to_ink(request: schemas.InkRequest, where: str) -> Ink:
    check_size(sum(len(s) for s in request.strokes), len(request.strokes), where)
    widths = {len(p) for s in request.strokes for p in s}
    if len(widths) > 1:
      raise InputError("points must all be [x, y] or all be [x, y, t]", sample_id=where)
    strokes = [np.asarray(s, np.float64) for s in request.strokes if s]
    if widths == {3}:  # Rebased in float64, as InkML's T: clients may send epoch seconds.
      t0 = strokes[0][0, 2]
      for stroke in strokes:
        stroke[:, 2] -= t0
    return Ink.from_strokes(strokes)

  @contextlib.contextmanager
  def stage(request: Request, name: str):
    """Adds the block's seconds to the request's stage `name` (telemetry.STAGES), which
    `RequestMetrics` observes once the response is sent."""
    start = time.perf_counter()
    try:
      yield
    finally:
      stages = request.scope["state"].setdefault("stages", {})
      stages[name] = stages.get(name, 0.0) + time.perf_counter() - start

  async def recognise(request: Request, model, examples: list,
                      names: list[str]) -> list[schemas.Recognition]:
    """Runs `examples` (made by `prepare_examples`) through the model's batcher."""
    stages = request.scope["state"].setdefault("stages", {})
    outputs = await state.batchers[model.name].submit(examples, stages)
    for output, where in zip(outputs, names, strict=True):
      if "error" in output:
        raise InputError(output["error"], sample_id=where)
    return [schemas.Recognition(model=model.name, kind=model.kind, **o) for o in outputs]

  def respond(request: Request, body: pydantic.BaseModel) -> Response:
    """`body` as JSON, serialised by pydantic directly: the route's `response_model`
    documents it, and FastAPI would validate and encode it once more."""
    with stage(request, "respond"):
      return Response(body.model_dump_json(), media_type="application/json")

  async def parsed(request: Request, model: type[pydantic.BaseModel]) -> pydantic.BaseModel:
    """The JSON body validated as `model`, in the prepare pool: a 4 MB ink is a second of
    parsing and validation, which on the event loop every other request would wait for."""
    with stage(request, "read"):
      data = await request.body()

    def validate():
      try:
        return model.model_validate_json(data)
      except pydantic.ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in e.errors(include_url=False)]) from None

    with stage(request, "parse"):
      return await asyncio.get_running_loop().run_in_executor(state.prepare_pool, validate)

  async def prepare_examples(request: Request, prepare, model, inputs: list,
                             names: list[str]) -> list:
    """`prepare(model, input, name)` of each input, in the prepare pool: parsing and
    preprocessing uploads takes milliseconds of CPU, and on the event loop every other
    request would wait for it."""
    with stage(request, "prepare"):
      return await asyncio.get_running_loop().run_in_executor(
          state.prepare_pool,
          lambda: [prepare(model, x, where) for x, where in zip(inputs, names, strict=True)])

  def ink_example(model, ink: schemas.InkRequest, where: str):
    return model.prepare(to_ink(ink, where), where)

  def inkml_example(model, data: bytes, where: str):
    from htr.ink import inkml
    ink = inkml.read_inkml(data, name=where, max_points=config.max_points,
                           max_bytes=config.max_body_bytes).ink
    check_size(ink.num_points, ink.num_strokes, where)
    return model.prepare(ink, where)

  def image_example(model, data: bytes, where: str):
    from htr import inputs
    if "image" not in model.accepts:  # Refused before decoding costs time and memory.
      raise InputError(f"model {model.name!r} reads {' or '.join(model.accepts)}, not "
                       "images", sample_id=where)
    return model.prepare(inputs.decode_image(data, where, max_pixels=config.max_image_pixels),
                         where)

  # -- routes -----------------------------------------------------------------------
  responses = _ERROR_RESPONSES

  @app.get("/healthz", response_model=schemas.Status, tags=["health"],
           response_model_exclude_none=True)
  async def healthz():
    """Liveness: the process serves HTTP."""
    return schemas.Status(status="ok")

  @app.get("/readyz", response_model=schemas.Status, tags=["health"],
           response_model_exclude_none=True, responses={503: {"model": schemas.Status}})
  async def readyz():
    """Readiness: every model is loaded and warmed up."""
    if state.ready:
      return schemas.Status(status="ready", detail=f"{len(state.models)} models")
    return JSONResponse(schemas.Status(status="loading" if not state.load_error else "failed",
                                       detail=state.load_error).model_dump(exclude_none=True),
                        status_code=503)

  @app.get("/metrics", tags=["health"], response_class=Response)
  async def metrics():
    """Prometheus metrics (text exposition format)."""
    return Response(state.telemetry.exposition(), media_type="text/plain; version=0.0.4")

  @app.get("/v1/models", response_model=schemas.ModelList, tags=["models"],
           responses=responses)
  async def list_models(_: str = Depends(client)):
    """Every served model with its exported metadata."""
    require_ready()
    return schemas.ModelList(models=[m.info() for m in state.models.values()])

  @app.get("/v1/models/{name}", response_model=schemas.ModelInfo, tags=["models"],
           responses=responses)
  async def get_model(name: str, _: str = Depends(client)):
    """One model's metadata."""
    return model_named(name).info()

  @app.post("/v1/models/{name}/ink", openapi_extra=_json_body(schemas.InkRequest),
            response_model=schemas.Recognition, tags=["recognise"],
            responses=responses)
  async def recognise_ink(name: str, request: Request, _: str = Depends(client)):
    """One ink as JSON strokes -> text (or LaTeX, or top classes)."""
    body = await parsed(request, schemas.InkRequest)
    model = model_named(name)
    examples = await prepare_examples(request, ink_example, model, [body], ["ink"])
    return respond(request, (await recognise(request, model, examples, ["ink"]))[0])

  @app.post("/v1/models/{name}/ink/batch", openapi_extra=_json_body(schemas.InkBatchRequest),
            response_model=schemas.BatchResponse,
            tags=["recognise"], responses=responses)
  async def recognise_inks(name: str, request: Request, _: str = Depends(client)):
    """Several inks in one request; results in the same order."""
    body = await parsed(request, schemas.InkBatchRequest)
    model = model_named(name)
    if len(body.inks) > config.max_batch_items:
      raise HTTPException(413, f"{len(body.inks)} inks, more than the limit "
                          f"{config.max_batch_items}")
    names = [f"inks[{i}]" for i in range(len(body.inks))]
    examples = await prepare_examples(request, ink_example, model, body.inks, names)
    return respond(request, schemas.BatchResponse(
        results=await recognise(request, model, examples, names)))

  @app.post("/v1/models/{name}/inkml", response_model=schemas.Recognition,
            tags=["recognise"], responses=responses)
  async def recognise_inkml(name: str, request: Request, file: UploadFile = File(...),
                            _: str = Depends(client)):
    """An InkML file upload -> text (or LaTeX, or top classes)."""
    model = model_named(name)
    where = file.filename or "upload"
    examples = await prepare_examples(request, inkml_example, model, [await file.read()],
                                      [where])
    return respond(request, (await recognise(request, model, examples, [where]))[0])

  @app.post("/v1/models/{name}/image", response_model=schemas.Recognition,
            tags=["recognise"], responses=responses)
  async def recognise_image(name: str, request: Request, file: UploadFile = File(...),
                            _: str = Depends(client)):
    """A PNG or JPEG upload -> top classes (or LaTeX, or text; page models: the page)."""
    model = model_named(name)
    where = file.filename or "upload"
    examples = await prepare_examples(request, image_example, model, [await file.read()],
                                      [where])
    return respond(request, (await recognise(request, model, examples, [where]))[0])

  @app.post("/v1/models/{name}/image/batch", response_model=schemas.BatchResponse,
            tags=["recognise"], responses=responses)
  async def recognise_images(name: str, request: Request,
                             files: list[UploadFile] = File(...), _: str = Depends(client)):
    """Several PNG or JPEG uploads (repeated `files` fields); results in order."""
    model = model_named(name)
    if len(files) > config.max_batch_items:
      raise HTTPException(413, f"{len(files)} images, more than the limit "
                          f"{config.max_batch_items}")
    names = [upload.filename or f"files[{i}]" for i, upload in enumerate(files)]
    examples = await prepare_examples(request, image_example, model,
                                      [await upload.read() for upload in files], names)
    return respond(request, schemas.BatchResponse(
        results=await recognise(request, model, examples, names)))

  # -- the drawing page -------------------------------------------------------------
  static = importlib.resources.files("htr.serve") / "static"
  app.mount("/static", StaticFiles(directory=str(static)), name="static")

  @app.get("/", include_in_schema=False)
  async def index():
    return RedirectResponse("/static/index.html")

  return app
