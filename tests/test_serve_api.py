"""The API's plumbing on a server without models: auth, rate limits, size limits,
validation errors, health and metrics. Recognition itself: test_serve_models.py."""

import asyncio
import concurrent.futures
import threading
import time

import pytest
from fastapi.testclient import TestClient

from htr.errors import InputError
from htr.serve import auth
from htr.serve.app import create_app
from htr.serve.batching import Batcher, Overloaded, batch_sizes, choose_batch_limit
from htr.serve.config import ServeConfig
from htr.serve.limits import BodyLimit


def _run(coroutine):
  """asyncio.run in a thread of its own: Playwright's sync API (test_serve_models.py)
  may hold this thread's event loop for the rest of the session."""
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    return pool.submit(asyncio.run, coroutine).result()


def _client(tmp_path, **overrides) -> TestClient:
  return TestClient(create_app(ServeConfig(models_dir=str(tmp_path), **overrides)))


def _wait_loaded(client: TestClient) -> dict:
  """/readyz once loading has finished, well or not (TensorFlow imports slowly)."""
  deadline = time.time() + 120
  while (body := client.get("/readyz").json())["status"] == "loading":
    assert time.time() < deadline, "still loading after 120 s"
    time.sleep(0.05)
  return body


def _wait_ready(client: TestClient) -> None:
  assert _wait_loaded(client)["status"] == "ready"


def test_health_and_empty_model_list(tmp_path):
  with _client(tmp_path) as client:
    assert client.get("/healthz").json() == {"status": "ok"}
    _wait_ready(client)
    assert client.get("/v1/models").json() == {"models": []}
    response = client.get("/v1/models/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found" and "nope" in response.json()["message"]


def test_a_broken_models_folder_is_not_ready(tmp_path):
  (tmp_path / "broken").mkdir()
  with _client(tmp_path) as client:
    body = _wait_loaded(client)
    assert client.get("/readyz").status_code == 503
    assert body["status"] == "failed" and "broken" in body["detail"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/models").status_code == 503


def test_keys_are_stored_hashed_and_required(tmp_path, monkeypatch):
  keys = tmp_path / "keys.txt"
  keys.write_text(f"# clients\nalice:{auth.hash_key('secret-a')}\n")
  monkeypatch.setenv(auth.ENV_VAR, f"bob:{auth.hash_key('secret-b')}")
  models = tmp_path / "models"
  models.mkdir()
  with TestClient(create_app(ServeConfig(models_dir=str(models), keys_file=str(keys)))) as c:
    _wait_ready(c)
    assert c.get("/v1/models").status_code == 401
    wrong = c.get("/v1/models", headers={"X-API-Key": "secret-c"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "auth"
    assert c.get("/v1/models", headers={"X-API-Key": "secret-a"}).status_code == 200
    assert c.get("/v1/models", headers={"X-API-Key": "secret-b"}).status_code == 200
    assert c.get("/healthz").status_code == 200  # Probes need no key.
  assert "secret-a" not in keys.read_text()


def test_a_keys_file_with_a_plain_key_is_refused(tmp_path):
  keys = tmp_path / "keys.txt"
  keys.write_text("alice:secret-a\n")
  with pytest.raises(ValueError, match="SHA256HEX"):
    auth.load_key_hashes(str(keys), env={})


@pytest.mark.parametrize("content, match", [
    ("# alice:0123  (revoked)\n\n", "holds no key"),
    ("", "holds no key"),
    (b"\xff\xfe", "not a UTF-8 text file"),
])
def test_a_keys_file_without_keys_is_refused_not_an_open_api(tmp_path, content, match):
  keys = tmp_path / "keys.txt"
  keys.write_bytes(content if isinstance(content, bytes) else content.encode())
  with pytest.raises(InputError, match=match):
    auth.load_key_hashes(str(keys), env={})
  with pytest.raises(InputError, match="holds no key"):
    auth.load_key_hashes(None, env={auth.ENV_VAR: " , "})


def test_settings_that_would_hang_or_refuse_everything_are_refused(tmp_path):
  """workers=0 used to leave the server 'loading' forever, with nothing in the log."""
  with pytest.raises(InputError, match=r"max_batch=0 .*, workers=0 \(at least 1\)"):
    ServeConfig(models_dir=str(tmp_path), workers=0, max_batch=0)


def test_rate_limit_per_client(tmp_path):
  with _client(tmp_path, rate=1.0, burst=3) as client:
    _wait_ready(client)
    codes = [client.get("/v1/models").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = client.get("/v1/models")
    assert limited.json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1


def test_token_bucket_refills():
  now = [0.0]
  limiter = auth.RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
  assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.5]
  assert limiter.acquire("b") == 0.0  # Clients do not share buckets.
  now[0] = 0.5
  assert limiter.acquire("a") == 0.0


def test_body_and_ink_limits(tmp_path):
  with _client(tmp_path, max_body_bytes=2000) as client:
    _wait_ready(client)
    big = {"strokes": [[[float(i), 1.0, 0.0] for i in range(400)]]}
    response = client.post("/v1/models/m/ink", json=big)
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    # Chunked bodies (no Content-Length) are counted while they stream in.
    response = client.post("/v1/models/m/ink", content=iter([b"{" + b" " * 1500] * 3),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "too_large"


def test_every_error_has_the_error_body(tmp_path):
  """Starlette's own errors (unknown path, method) used to answer {"detail": ...}."""
  with _client(tmp_path) as client:
    _wait_ready(client)
    for response, status in [(client.get("/nope"), 404), (client.put("/v1/models"), 405)]:
      assert response.status_code == status
      assert set(response.json()) == {"error", "message"}, response.json()


@pytest.mark.parametrize("body, where", [
    ({"strokes": []}, "body.strokes"),
    ({"strokes": [[[1.0]]]}, "body.strokes.0.0"),
    ({"strokes": [[[1.0, 2.0, 3.0, 4.0]]]}, "body.strokes.0.0"),
    ({"strokes": [[["a", 2.0]]]}, "body.strokes.0.0.0"),
    ({"strokes": [[[1.0, 2.0]]], "extra": 1}, "body.extra"),
    ({}, "body.strokes"),
])
def test_invalid_ink_is_a_clear_422(tmp_path, body, where):
  with _client(tmp_path) as client:
    response = client.post("/v1/models/m/ink", json=body)
  assert response.status_code == 422
  payload = response.json()
  assert payload["error"] == "validation" and where in payload["message"]
  assert "Traceback" not in response.text


def test_non_finite_and_non_json_bodies(tmp_path):
  with _client(tmp_path) as client:
    nan = client.post("/v1/models/m/ink", content=b'{"strokes": [[[NaN, 1]]]}',
                      headers={"content-type": "application/json"})
    garbage = client.post("/v1/models/m/ink", content=b"\xff\x00not json",
                          headers={"content-type": "application/json"})
  assert nan.status_code == 422 and garbage.status_code == 422


def test_metrics_count_requests_and_errors(tmp_path):
  with _client(tmp_path) as client:
    _wait_ready(client)
    client.get("/v1/models")
    client.get("/v1/models/nope")
    client.get("/no/such/path")
    for i in range(3):  # Made-up methods share one label value.
      client.request(f"M{i}", "/v1/models")
    text = client.get("/metrics").text
  assert 'htr_requests_total{method="GET",route="/v1/models",status="200"} 1.0' in text
  assert 'method="other",route="/v1/models",status="405"} 3.0' in text
  assert 'method="M0"' not in text
  assert 'htr_errors_total{kind="not_found",route="/v1/models/{name}"} 1.0' in text
  assert 'route="unmatched"' in text
  assert "htr_request_latency_seconds_bucket" in text


def test_openapi_schema_lists_the_endpoints(tmp_path):
  with _client(tmp_path) as client:
    schema = client.get("/openapi.json").json()
  paths = set(schema["paths"])
  assert {"/v1/models", "/v1/models/{name}/ink", "/v1/models/{name}/ink/batch",
          "/v1/models/{name}/inkml", "/v1/models/{name}/image",
          "/v1/models/{name}/image/batch", "/healthz", "/readyz", "/metrics"} <= paths
  assert "APIKeyHeader" in schema["components"]["securitySchemes"]


def test_drawing_page_is_served_without_external_resources(tmp_path):
  with _client(tmp_path) as client:
    page = client.get("/")
    script = client.get("/static/app.js")
  assert page.status_code == 200 and "<canvas" in page.text
  assert script.status_code == 200 and "pointerdown" in script.text
  for text in (page.text, script.text):
    assert "http://" not in text and "https://" not in text


def test_batcher_groups_concurrent_requests():
  sizes = []

  def run(items):
    sizes.append(len(items))
    time.sleep(0.02)
    return [x * 10 for x in items]

  async def scenario():
    batcher = Batcher(_run_with_stages(run), max_batch=8, max_wait=0.01, max_queue=20)
    batcher.start()
    results = await asyncio.gather(*(batcher.submit([i]) for i in range(20)))
    with pytest.raises(Overloaded):
      await asyncio.gather(*(batcher.submit([i]) for i in range(30)))
    await batcher.stop()
    return results

  results = _run(scenario())
  assert [r[0] for r in results] == [i * 10 for i in range(20)]
  assert max(sizes) == 8 and sum(sizes[:3]) == 20  # Not one call per request.


def _run_with_stages(run):
  return lambda items: (run(items), {"model": 0.001})


def test_batcher_groups_concurrent_requests_of_one_bucket_only():
  batches = []

  def run(items):
    batches.append(list(items))
    time.sleep(0.02)
    return items

  async def scenario():
    batcher = Batcher(_run_with_stages(run), max_batch=8, key=lambda item: item % 3)
    batcher.start()
    results = await asyncio.gather(*(batcher.submit([i]) for i in range(30)))
    await batcher.stop()
    return results

  results = _run(scenario())
  assert [r[0] for r in results] == list(range(30))
  assert all(len({item % 3 for item in batch}) == 1 for batch in batches)
  assert all(len(batch) in (1, 2, 4, 8) for batch in batches)  # Compiled sizes, no copies.
  assert max(len(batch) for batch in batches) == 8


def test_batcher_runs_the_fullest_bucket_first_until_an_example_waited_too_long():
  batches = []
  started = threading.Event()
  release = threading.Event()

  def run(items):
    batches.append(list(items))
    started.set()
    release.wait(5)
    return items

  async def scenario(max_delay):
    batcher = Batcher(_run_with_stages(run), max_batch=4, max_delay=max_delay,
                      key=lambda item: item[0])
    batcher.start()
    first = asyncio.ensure_future(batcher.submit([("a", 0)]))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    lone = asyncio.ensure_future(batcher.submit([("b", 1)]))  # Waits longest...
    await asyncio.sleep(0.01)
    crowd = asyncio.ensure_future(batcher.submit([("c", i) for i in range(4)]))
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(first, lone, crowd)
    await batcher.stop()

  _run(scenario(max_delay=10.0))
  assert [b[0][0] for b in batches] == ["a", "c", "b"]  # ...but makes a batch of one.
  batches.clear()
  started.clear()
  release.clear()
  _run(scenario(max_delay=0.0))
  assert [b[0][0] for b in batches] == ["a", "b", "c"]


def test_batcher_reports_each_requests_stages():
  async def scenario():
    batcher = Batcher(_run_with_stages(lambda items: items), max_batch=4)
    batcher.start()
    stages = {}
    await batcher.submit([1, 2, 3], stages)
    await batcher.stop()
    return stages

  stages = _run(scenario())
  assert set(stages) == {"queue", "model"} and stages["model"] == 0.001


def test_batch_limit_is_where_lines_per_second_stop_growing():
  # lines/s: 100, 160, 250, 260, 200: batch 8 is within 5 % of the best (16 is worse).
  seconds = {1: 0.01, 2: 0.0125, 4: 0.016, 8: 8 / 260, 16: 0.08}
  assert choose_batch_limit(seconds) == 4
  assert choose_batch_limit(seconds, gain=0.01) == 8
  assert choose_batch_limit({1: 0.01, 2: 0.02, 4: 0.04}) == 1  # Batching does not pay.
  assert batch_sizes(5) == [1, 2, 4] and batch_sizes(1) == [1]


def test_batcher_hands_errors_to_every_waiting_request():
  def run(items):
    raise RuntimeError("model failed")

  async def scenario():
    batcher = Batcher(_run_with_stages(run), max_batch=4, max_wait=0.01)
    batcher.start()
    outcomes = await asyncio.gather(*(batcher.submit([i]) for i in range(3)),
                                    return_exceptions=True)
    await batcher.stop()
    return outcomes

  assert all(isinstance(o, RuntimeError) for o in _run(scenario()))


class _FakeModel:
  """What the app asks of a served model; it reads an ink's point count as its text."""

  name, kind, accepts, batch_limit = "fake", "ink_text", ["ink"], 4
  graph_seconds = {1: 0.01, 2: 0.015, 4: 0.02}

  def info(self):
    return {"name": self.name, "kind": self.kind, "inputs": self.accepts, "metadata": {}}

  def prepare(self, ink, where):
    return {"points": ink.num_points}

  def batch_key(self, example):
    return example["points"] > 2

  def run_stages(self, examples):
    return ([{"text": str(e["points"]), "confidence": 1.0} for e in examples],
            {"pad": 1e-4, "model": 1e-3, "result": 1e-5})


def test_recognition_requests_report_their_stages_in_metrics(tmp_path, monkeypatch):
  from htr.serve import models
  monkeypatch.setattr(models, "load_models", lambda *args: {"fake": _FakeModel()})
  with _client(tmp_path, max_batch=8) as client:
    _wait_ready(client)
    line = client.post("/v1/models/fake/ink", json={"strokes": [[[0, 0], [1, 2]]]})
    batch = client.post("/v1/models/fake/ink/batch", json={"inks": [
        {"strokes": [[[0, 0], [1, 2], [3, 4]]]}, {"strokes": [[[0, 0], [5, 5]]]}]})
    text = client.get("/metrics").text
  assert line.status_code == 200 and line.json()["text"] == "2"
  assert line.json() == {"model": "fake", "kind": "ink_text", "text": "2", "confidence": 1.0,
                         "char_scores": None, "words": None, "top": None, "page": None}
  assert [r["text"] for r in batch.json()["results"]] == ["3", "2"]
  for route in ("/v1/models/{name}/ink", "/v1/models/{name}/ink/batch"):
    for stage in ("read", "parse", "prepare", "queue", "pad", "model", "result", "respond",
                  "http"):
      assert f'htr_stage_seconds_count{{route="{route}",stage="{stage}"}} 1.0' in text
  assert 'htr_stage_seconds_sum{route="/v1/models/{name}/ink",stage="model"} 0.001' in text
  assert 'htr_batch_limit{model="fake"} 4.0' in text  # The measured limit, under max_batch.
  assert 'htr_graph_lines_per_second{batch_size="4",model="fake"} 200.0' in text


def test_serve_command_refuses_a_missing_models_folder(tmp_path, capsys):
  from htr import cli
  assert cli.main(["serve", f"--models={tmp_path / 'nope'}", "--max_batch=8"]) == 2
  assert "nope" in capsys.readouterr().err


def test_auth_command_prints_a_storable_line(capsys):
  assert auth.main(["auth", "my-key"]) == 0
  line = capsys.readouterr().out.strip()
  assert line == f"client:{auth.hash_key('my-key')}"
  assert auth.KeyStore(auth._parse_entries([line], "stdin")).identify("my-key") == "client"


def test_a_content_length_that_is_not_a_number_is_a_400():
  """It was refused as 'over the limit' (413); it is a malformed request."""
  sent = []

  async def app(scope, receive, send):  # Never reached.
    raise AssertionError("the body limit let a malformed request through")

  async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}

  async def send(message):
    sent.append(message)

  scope = {"type": "http", "method": "POST", "path": "/v1/models/m/ink",
           "headers": [(b"content-length", b"12abc")]}
  _run(BodyLimit(app, max_bytes=1000)(scope, receive, send))
  assert sent[0]["status"] == 400
  assert b'"validation"' in sent[1]["body"] and b"Content-Length" in sent[1]["body"]
