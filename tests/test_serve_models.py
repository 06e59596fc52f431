"""The API over a real exported model, in a real browser, and fuzzed from its schema.

A character model is trained on scikit-learn's real handwritten digits (a small
CNN, 150 steps, ~97 % validation accuracy) and exported with htr.export, once per
test session (a file lock shares it between xdist workers). Then:
- the HTTP API recognises drawn digits sent as PNG, as ink and in batches;
- Debian's chromium, driven by Playwright, draws digits on the drawing page with
  pointer events and waits for the page to show the right top-1 class;
- Schemathesis generates requests from the OpenAPI schema: no 5xx.
"""

import fcntl
import io
import os
import time
import zlib

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image, ImageDraw

# Digits as pen strokes in a 300x300 box: (x, y) points, y down.
_T = np.linspace(0, 2 * np.pi, 40)
DIGITS = {
    "0": [np.c_[150 + 55 * np.sin(_T), 150 - 95 * np.cos(_T)]],
    "1": [np.c_[np.full(20, 150.0), np.linspace(55, 245, 20)]],
    "7": [np.r_[np.c_[np.linspace(90, 210, 10), np.full(10, 60.0)],
                np.c_[np.linspace(210, 140, 15), np.linspace(60, 245, 15)]]],
}


def _train_and_export(root: str, data_dir: str, config) -> str:
  from htr import export, train
  # Wider than `tiny`, no augmentation or dropout: recognises drawn digits after
  # 150 steps (measured: 97 % validation accuracy).
  config.model.conv_features = (16, 16, 32, 32)
  config.model.dense_features = (64,)
  config.model.conv_dropout = (0.0, 0.0, 0.0, 0.0)
  config.model.dense_dropout = 0.0
  config.data.pp_train = config.data.pp_eval
  config.data.data_dir = data_dir
  config.label_smoothing = 0.0
  config.optimizer.learning_rate = 3e-3
  config.optimizer.warmup_steps = 20
  config.num_train_steps = config.eval_every = config.checkpoint_every = 150
  workdir = os.path.join(root, "workdir")
  train.train_and_evaluate(config, workdir)
  models = os.path.join(root, "models")
  export.export(workdir, os.path.join(models, "digits"), weight_formats=("float32",))
  return models


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, data_dir, load_config) -> str:
  """An exported digits model, trained once per session across xdist workers."""
  base = tmp_path_factory.getbasetemp()
  # Under xdist every worker has its own basetemp inside the session's one.
  root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "serve_digits"
  root.mkdir(exist_ok=True)
  with open(root / "lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    done = root / "models" / "digits" / "metadata.json"
    if not done.exists():
      _train_and_export(str(root), data_dir, load_config("char_cnn", "data=digits,size=tiny"))
    return str(root / "models")


@pytest.fixture(scope="session")
def server(models_dir, live_server):
  """`htr serve` on a free loopback port (uvicorn in a thread), ready to answer."""
  from htr.serve.app import create_app
  from htr.serve.config import ServeConfig
  with live_server(create_app(ServeConfig(models_dir=models_dir, rate=0))) as url:
    for _ in range(600):
      if httpx.get(f"{url}/readyz").status_code == 200:
        break
      time.sleep(0.1)
    yield url


@pytest.fixture(scope="session")
def http(server):
  """A client of the server; first calls of a new batch size compile (seconds, busy CPU)."""
  with httpx.Client(base_url=server, timeout=120) as client:
    yield client


def _png(strokes, size=300, width=19) -> bytes:
  image = Image.new("RGB", (size, size), "white")
  draw = ImageDraw.Draw(image)
  for stroke in strokes:
    draw.line([tuple(p) for p in stroke], fill="black", width=width, joint="curve")
  out = io.BytesIO()
  image.save(out, "PNG")
  return out.getvalue()


def _ink(strokes) -> dict:
  return {"strokes": [np.c_[s, np.arange(len(s)) / 100].tolist() for s in strokes]}


def test_models_are_listed_with_their_metadata(http):
  (model,) = http.get("/v1/models").json()["models"]
  assert model["name"] == "digits" and model["kind"] == "image_class"
  assert model["inputs"] == ["image", "ink"]
  assert model["metadata"]["settings"]["classes"] == "0123456789"


@pytest.mark.parametrize("digit", sorted(DIGITS))
def test_recognises_drawn_digits_as_png_and_as_ink(http, digit):
  files = {"file": (f"{digit}.png", _png(DIGITS[digit]), "image/png")}
  result = http.post("/v1/models/digits/image", files=files).json()
  assert result["top"][0]["label"] == digit, result
  assert len(result["top"]) == 5 and result["text"] == digit
  result = http.post("/v1/models/digits/ink", json=_ink(DIGITS[digit])).json()
  assert result["text"] == digit, result


def test_a_phone_camera_jpeg_is_read(http):
  """Phones write multi-picture JPEGs, which Pillow opens as format MPO."""
  image = Image.open(io.BytesIO(_png(DIGITS["7"]))).convert("RGB")
  out = io.BytesIO()
  image.save(out, "MPO", save_all=True, append_images=[image])
  response = http.post("/v1/models/digits/image",
                       files={"file": ("photo.jpg", out.getvalue(), "image/jpeg")})
  assert response.status_code == 200 and response.json()["text"] == "7", response.text


def test_batches_answer_in_order(http):
  order = ["1", "0", "7", "1"]
  inks = http.post("/v1/models/digits/ink/batch",
                    json={"inks": [_ink(DIGITS[d]) for d in order]}).json()
  assert [r["text"] for r in inks["results"]] == order
  files = [("files", (f"{d}.png", _png(DIGITS[d]), "image/png")) for d in order]
  images = http.post("/v1/models/digits/image/batch", files=files).json()
  assert [r["text"] for r in images["results"]] == order


def test_concurrent_requests_share_model_calls(http):
  body = _ink(DIGITS["1"])

  def post(_):
    return http.post("/v1/models/digits/ink", json=body).json()["text"]

  from concurrent.futures import ThreadPoolExecutor
  with ThreadPoolExecutor(16) as pool:
    assert set(pool.map(post, range(48))) == {"1"}
  metrics = http.get("/metrics").text
  count = float(next(line.split()[-1] for line in metrics.splitlines()
                     if line.startswith('htr_batch_size_count{model="digits"}')))
  total = float(next(line.split()[-1] for line in metrics.splitlines()
                     if line.startswith('htr_batch_size_sum{model="digits"}')))
  assert total / count > 1.0  # Some calls carried several requests.


@pytest.mark.parametrize("upload, message", [
    (b"not an image", "not a readable PNG or JPEG"),
    (None, "the canvas is empty"),
])
def test_bad_images_are_clear_422s(http, upload, message):
  if upload is None:
    upload = _png([])
  response = http.post("/v1/models/digits/image",
                        files={"file": ("x.png", upload, "image/png")})
  assert response.status_code == 422 and message in response.json()["message"]
  assert "0x" not in response.json()["message"]  # Pillow's errors name a BytesIO's address.


def _png_claiming(width: int, height: int) -> bytes:
  """A small PNG whose header claims `width` x `height` pixels."""
  png = bytearray(_png([], size=8))
  header = png[16:29]  # IHDR's data, after the signature, its length and its type.
  header[0:8] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
  png[16:29] = header
  png[29:33] = zlib.crc32(b"IHDR" + bytes(header)).to_bytes(4, "big")
  return bytes(png)


# Over the server's limit; and over twice Pillow's own, where Pillow refuses to open it.
@pytest.mark.parametrize("width, height", [(5000, 5000), (20_000, 20_000)])
def test_images_with_too_many_pixels_are_413s(http, width, height):
  response = http.post("/v1/models/digits/image",
                        files={"file": ("huge.png", _png_claiming(width, height), "image/png")})
  assert response.status_code == 413, response.text
  assert "huge.png" in response.json()["message"]


def test_inkml_upload(http, tmp_path):

  from htr.ink import inkml
  from htr.ink.ink import Ink
  path = tmp_path / "seven.inkml"
  inkml.write_inkml(Ink.from_strokes(DIGITS["7"]), {"truth": "7"}, str(path))
  response = http.post("/v1/models/digits/inkml",
                        files={"file": ("seven.inkml", path.read_bytes(), "application/xml")})
  assert response.json()["text"] == "7"
  broken = http.post("/v1/models/digits/inkml",
                      files={"file": ("bad.inkml", b"<ink><trace>1 2,", "application/xml")})
  assert broken.status_code == 422 and "bad.inkml" in broken.json()["message"]


@pytest.mark.parametrize("strokes, points, limit", [(2001, 2, "2001 strokes, more than"),
                                                     (1, 20_001, "more than 20000 points")])
def test_inkml_uploads_have_the_json_inks_limits(http, tmp_path, strokes, points, limit):
  """The stroke limit used to apply to JSON inks only, and the point limit was a 422."""
  from htr.ink import inkml
  from htr.ink.ink import Ink
  n = strokes * points
  ink = Ink(np.c_[np.arange(n), np.zeros(n), np.arange(n) / 100], np.full(strokes, points))
  path = tmp_path / "big.inkml"
  inkml.write_inkml(ink, {}, str(path))
  response = http.post("/v1/models/digits/inkml",
                       files={"file": ("big.inkml", path.read_bytes(), "application/xml")})
  assert response.status_code == 413, response.text
  assert "big.inkml" in response.json()["message"] and limit in response.json()["message"]


# -- the drawing page in a real browser ----------------------------------------------
def _draw(page, strokes) -> None:
  """Drags the mouse along `strokes` (300x300 box units) over the canvas' middle."""
  box = page.locator("#pad").bounding_box()
  scale = box["height"] / 300
  left = box["x"] + box["width"] / 2 - 150 * scale
  for stroke in strokes:
    x, y = stroke[0]
    page.mouse.move(left + x * scale, box["y"] + y * scale)
    page.mouse.down()
    for x, y in stroke[1:]:
      page.mouse.move(left + x * scale, box["y"] + y * scale, steps=2)
    page.mouse.up()


def _wait_for(page, expression: str, arg=None, timeout: float = 20.0) -> None:
  """Polls `expression` in the page until it is truthy. Playwright's wait_for_function
  compiles its predicate with eval, which the page's Content-Security-Policy forbids (as
  it should); page.evaluate goes through the debugger protocol, which CSP does not see."""
  deadline = time.time() + timeout
  while not page.evaluate(expression, arg):
    assert time.time() < deadline, f"still false after {timeout} s: {expression}"
    time.sleep(0.05)


def _top1(page, digit: str) -> None:
  _wait_for(page, "d => { const li = document.querySelector('#top li');"
            " return li !== null && li.dataset.label === d; }", digit)


def test_drawing_page_recognises_what_is_written(server, browser):
  page = browser.new_page()
  posts, violations = [], []
  page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
  page.on("console", lambda m: violations.append(m.text)
          if "Content Security Policy" in m.text else None)
  page.goto(server)
  page.wait_for_selector("body[data-ready='1']")
  assert page.locator("#model").input_value() == "digits"
  assert page.locator("#kind").inner_text() == "image_class"

  _draw(page, DIGITS["1"])
  _top1(page, "1")
  assert page.locator("#text").inner_text() == "1"
  assert page.locator("#top li").count() == 5
  assert posts and all(p.url.endswith("/v1/models/digits/image") for p in posts)

  held = []  # Requests for the 7 are held until after Clear: their answers are stale.
  page.route("**/image", lambda route: held.append(route))
  _draw(page, DIGITS["7"])
  _wait_for(page, "inFlight")
  page.click("#clear")
  assert held
  for route in held:
    route.continue_()
  page.unroute("**/image")
  _wait_for(page, "!inFlight && !dirty")
  assert page.locator("#text").inner_text() == ""
  assert page.locator("#top li").count() == 0
  _draw(page, DIGITS["0"])
  _top1(page, "0")
  _draw(page, [DIGITS["1"][0] + [120, 0]])  # A second character beside it ...
  _wait_for(page, "document.querySelector('#text').textContent !== '0'"
            " || document.body.dataset.results > 4")
  page.click("#undo")  # ... undone: the 0 alone again.
  _top1(page, "0")
  assert not violations  # The page works within its own Content-Security-Policy.
  page.close()


def test_drawing_page_reads_an_opened_image(server, browser, tmp_path):
  """An image file opened on the page goes to an image model as it is, and is shown."""
  path = tmp_path / "seven.png"
  path.write_bytes(_png(DIGITS["7"]))
  page = browser.new_page()
  page.goto(server)
  page.wait_for_selector("body[data-ready='1']")
  page.set_input_files("#upload", str(path))
  _top1(page, "7")
  assert "seven.png" in page.locator("#status").inner_text()
  # The pad shows the image: dark pixels where the 7 was drawn.
  dark = page.evaluate("() => { const d = document.getElementById('pad').getContext('2d')"
                       ".getImageData(0, 0, 900, 300).data; let n = 0;"
                       " for (let i = 0; i < d.length; i += 4) if (d[i] < 100) n++; return n; }")
  assert dark > 500
  page.close()


def test_drawing_page_sends_timed_strokes_to_ink_models(server, browser):
  """The page's pointer handling: strokes of [x, y, t] with t rising, as the page
  would send them to an ink model (read from the page's state)."""
  page = browser.new_page()
  page.goto(server)
  page.wait_for_selector("body[data-ready='1']")
  _draw(page, DIGITS["7"] + DIGITS["1"])
  strokes = page.evaluate("strokes")
  assert len(strokes) == 2 and all(len(p) == 3 for s in strokes for p in s)
  times = [p[2] for s in strokes for p in s]
  assert times[0] == 0 and times == sorted(times) and times[-1] > 0
  page.close()


# -- Schemathesis: requests generated from the OpenAPI schema -------------------------
def test_no_server_errors_from_schema_generated_requests(server):
  """Every operation of /openapi.json, 20 generated requests each (valid and not)."""
  schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
  operations = [result.ok() for result in schema.get_all_operations()]
  assert len(operations) >= 10
  for operation in operations:

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def no_server_error(case):
      response = case.call(base_url=server, timeout=120)
      assert response.status_code < 500, (operation.label, response.status_code,
                                          response.text[:500])

    no_server_error()


def test_warm_up_runs_every_batch_bucket_with_lines_of_growing_length(monkeypatch,
                                                                      load_config):
  from htr.serve.models import ServedModel
  from htr.tasks import get_task
  serving = get_task(load_config("online_ctc", "runlocal,size=tiny")).serving()
  model = ServedModel(name="m", path="-", metadata={}, serving=serving)
  assert model.kind == "ink_text"
  calls = []
  monkeypatch.setattr(model, "run", lambda examples: calls.append(examples))
  model.warm_up(max_batch=5, words=3, measure=False)
  sizes = sorted({len(c) for c in calls})
  assert sizes == [1, 2, 4, 8]  # What `run` pads batches of 1..5 examples to.
  lengths = [len(c[0]["points"]) for c in calls if len(c) == 1]
  assert len(lengths) == 4 and lengths[0] == 3  # The 3-point ink, then 1..3 words.
  assert lengths[1] < lengths[3]
  for c in calls:
    assert all(e is c[0] for e in c)

  # Measured: lines/s 100, 160, 240 at batches 1, 2, 4 -> batches of up to 4, and only
  # the sizes a Batcher forms (powers of two, no padding) are compiled.
  calls.clear()
  monkeypatch.setattr(model, "batch_seconds",
                      lambda example, sizes, parallel: {1: 0.01, 2: 0.0125, 4: 4 / 240})
  model.warm_up(max_batch=5, words=3)
  assert model.batch_limit == 4 and sorted({len(c) for c in calls}) == [1, 2, 4]


def test_examples_of_one_frame_bucket_share_a_batch_key(load_config):
  """Inks are batched by the frames the graph will see (after resampling), not by their
  raw point counts: a fast and a slow writer's line of the same text share a bucket."""
  from htr.ink import synthetic
  from htr.ink.ink import Ink
  from htr.serve.models import ServedModel
  from htr.tasks import get_task
  serving = get_task(load_config("online_ctc", "runlocal,size=tiny")).serving()
  model = ServedModel(name="m", path="-", metadata={}, serving=serving)
  rng = np.random.default_rng(0)
  ink = synthetic.write_line("bucket", synthetic.sample_writer(rng), rng)
  denser = Ink(np.repeat(ink.points, 2, axis=0), ink.stroke_lengths * 2)
  longer = synthetic.write_line("bucket " * 6, synthetic.sample_writer(rng), rng)
  sparse, dense, long = (model.prepare(i, "ink") for i in (ink, denser, longer))
  assert len(dense["points"]) == 2 * len(sparse["points"])
  assert model.batch_key(sparse) == model.batch_key(dense) != model.batch_key(long)


def test_an_ink_too_long_for_the_graph_is_refused_before_the_model(load_config):
  """Refused on the host while preparing (milliseconds), not after a batch carried it
  through the model to come back with points_cut."""
  from htr.errors import InputError
  from htr.ink import synthetic
  from htr.tasks import get_task
  config = load_config("online_ctc", "runlocal,size=tiny")
  serving = get_task(config).serving()
  rng = np.random.default_rng(1)
  long = synthetic.write_line(" ".join(["handwriting"] * 45), synthetic.sample_writer(rng), rng)
  with pytest.raises(InputError, match=f"do not fit the export's {max(config.data.buckets)}"):
    serving.prepare(long, "long.inkml")
  short = synthetic.write_line("ink", synthetic.sample_writer(rng), rng)
  assert serving.prepare(short, "short")["points"].shape == (short.num_points, 4)
