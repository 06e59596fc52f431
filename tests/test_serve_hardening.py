"""What an attacker on the network can do to `htr serve`, each found by probing it
(issue: server hardening): keyless floods, slow senders, huge headers, a CDN page,
missing browser headers, loose types. Hostile InkML: tests/test_inkml.py; images an
ink model cannot read and unreadable uploads: test_new_family.py, test_serve_models.py. A server without models, over
real sockets where timing or the wire matters."""

import concurrent.futures
import json
import socket
import statistics
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from htr.serve import auth
from htr.serve.app import create_app
from htr.serve.config import ServeConfig

KEY = "secret-key"


def _app(tmp_path, **overrides):
  keys = tmp_path / "keys.txt"
  keys.write_text(f"tester:{auth.hash_key(KEY)}\n")
  (tmp_path / "models").mkdir(exist_ok=True)
  return create_app(ServeConfig(models_dir=str(tmp_path / "models"), keys_file=str(keys),
                                **overrides))


def test_without_a_key_the_body_is_never_read(tmp_path):
  """Malformed JSON without a key was a 422: the body was parsed before the key check."""
  with TestClient(_app(tmp_path)) as client:
    for body in (b"{not json", json.dumps({"strokes": [[[0, 0]] * 100_000]}).encode()):
      response = client.post("/v1/models/m/ink", content=body,
                             headers={"content-type": "application/json"})
      assert response.status_code == 401, response.text
      assert response.json()["error"] == "auth"


def test_an_address_that_keeps_failing_the_key_check_is_slowed(tmp_path):
  with TestClient(_app(tmp_path, failed_auth_rate=0.1, failed_auth_burst=3)) as client:
    codes = [client.get("/v1/models", headers={"X-API-Key": "guess"}).status_code
             for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    limited = client.get("/v1/models", headers={"X-API-Key": "guess"})
    assert int(limited.headers["retry-after"]) >= 1
    assert client.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 200


def test_a_keyless_flood_does_not_slow_the_health_probe(tmp_path, live_server):
  """Four keyless clients posting ~4 MB of JSON each pushed /healthz from 0.3 ms to a
  median of 1.5 s when bodies were parsed before the key check (bounded: 4 x 6 posts)."""
  flood = json.dumps({"strokes": [[[1.25, 2.5, 0.01]] * 20_000] * 10}).encode()
  assert 3_000_000 < len(flood) < 4 << 20
  with live_server(_app(tmp_path, failed_auth_rate=0)) as url:
    def keyless(_):
      with httpx.Client(base_url=url, timeout=30) as c:
        return [c.post("/v1/models/m/ink", content=flood,
                       headers={"content-type": "application/json"}).status_code
                for _ in range(6)]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
      floods = pool.map(keyless, range(4))
      probes = []
      with httpx.Client(base_url=url, timeout=30) as c:
        for _ in range(30):
          start = time.perf_counter()
          assert c.get("/healthz").status_code == 200
          probes.append(time.perf_counter() - start)
      codes = [code for batch in floods for code in batch]
  assert set(codes) == {401}
  assert statistics.median(probes) < 0.1, probes


def test_a_body_that_stops_arriving_is_a_408(tmp_path, live_server):
  with live_server(_app(tmp_path, body_timeout_s=0.5)) as url:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
      # An upload route: its multipart body is read before the route runs.
      sock.sendall(b"POST /v1/models/m/inkml HTTP/1.1\r\nHost: x\r\nX-API-Key: "
                   + KEY.encode() + b"\r\nContent-Type: multipart/form-data; boundary=b"
                   b"\r\nContent-Length: 100\r\n\r\n--b\r\n")
      start = time.perf_counter()
      answer = sock.recv(4096)
      waited = time.perf_counter() - start
  assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
  assert 0.4 < waited < 5


@pytest.mark.parametrize("headers", [{f"x-h{i}": "1" for i in range(100)},
                                     {"x-big": "a" * 20_000}])
def test_too_many_or_too_large_headers_are_a_431(tmp_path, headers):
  with TestClient(_app(tmp_path)) as client:
    response = client.get("/healthz", headers=headers)
    assert response.status_code == 431 and response.json()["error"] == "too_large"


def test_no_cdn_docs_and_browser_headers_everywhere(tmp_path):
  with TestClient(_app(tmp_path)) as client:
    assert client.get("/docs").status_code == 404  # Swagger UI came from a CDN.
    assert client.get("/openapi.json").status_code == 200
    for path in ("/", "/healthz", "/v1/models"):
      response = client.get(path)
      assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
      assert response.headers["x-frame-options"] == "DENY"
      assert response.headers["x-content-type-options"] == "nosniff"
    page = client.get("/").text
    assert "https://" not in page and "http://" not in page


def test_a_wrong_method_is_named_as_such(tmp_path):
  with TestClient(_app(tmp_path)) as client:
    response = client.put("/healthz")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("point", [["1.5", 2.0], [True, 2.0], [1.0, "2"]])
def test_strict_requests_take_numbers_only(point):
  """What the ink routes validate their bodies with (off the event loop)."""
  import pydantic

  from htr.serve import schemas
  body = json.dumps({"strokes": [[point, [3.0, 4.0]]]})
  with pytest.raises(pydantic.ValidationError):
    schemas.InkRequest.model_validate_json(body)
  assert schemas.InkRequest.model_validate_json(
      json.dumps({"strokes": [[[1, 2.5], [3.0, 4.0, 0.1]]]})).strokes[0][0] == [1.0, 2.5]
