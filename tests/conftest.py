"""Every test sees 8 CPU devices, so sharding code runs for real on one machine."""

import atexit
import contextlib
import os
import shutil
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One XLA compilation cache for the session (child processes inherit it): tests compile
# the same tiny models over and over. Never the user's cache: tests must not write there.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="htr-xla-cache-")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


import numpy as np  # noqa: E402
import pytest  # noqa: E402  (after XLA_FLAGS: importing pytest plugins may import jax)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
  """One TFDS data dir per test session: tiny datasets are built once, then reused."""
  return str(tmp_path_factory.mktemp("tfds"))


CONFIGS_DIR = os.path.join(os.path.dirname(__file__), "..", "configs")


def _config_module(name: str):
  """configs/NAME.py (or a path) as a module, as `--config=configs/NAME.py` loads it."""
  import importlib.util
  path = name if name.endswith(".py") else os.path.join(CONFIGS_DIR, f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"configs.{os.path.basename(path)[:-3]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="session")
def config_module():
  """`config_module("char_cnn")` -> configs/char_cnn.py (its tables, its get_config)."""
  return _config_module


@pytest.fixture(scope="session")
def load_config():
  """`load_config("online_ctc", "runlocal,size=tiny")` -> that experiment's config, as
  `--config=configs/online_ctc.py:runlocal,size=tiny` gives it."""
  return lambda name, arg=None: _config_module(name).get_config(arg)


def _build_dataset(builder, data_dir, *, manual_dir=None, config=None):
  """Builds a TFDS builder (a class, or a registered name such as "synthetic_ink/tiny")
  into array_record under `data_dir`, as `python -m htr_datasets` does.

  Returns:
    (the builder, {split: its data source}).
  """
  import tensorflow_datasets as tfds

  import htr_datasets  # noqa: F401  (registers the builders)
  kwargs = dict(data_dir=str(data_dir), file_format="array_record")
  if config is not None:
    kwargs["config"] = config
  builder = tfds.builder(builder, **kwargs) if isinstance(builder, str) else builder(**kwargs)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=None if manual_dir is None else str(manual_dir)))
  return builder, {split: builder.as_data_source(split=split) for split in builder.info.splits}


@pytest.fixture(scope="session")
def build_dataset():
  """`build_dataset(Builder or "name/config", data_dir, manual_dir=...)` ->
  (builder, {split: data source}): the builder tests' one way to build."""
  return _build_dataset


@contextlib.contextmanager
def _live_server(app):
  """Runs an ASGI app under uvicorn on a free loopback port in a thread; yields its URL."""
  import threading
  import time

  import uvicorn
  server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
  thread = threading.Thread(target=server.run, daemon=True)
  thread.start()
  for _ in range(600):
    if server.started:
      break
    time.sleep(0.05)
  try:
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
  finally:
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="session")
def live_server():
  """`with live_server(app) as url:` the app served over real sockets on loopback."""
  return _live_server


@contextlib.contextmanager
def _serving_client(exports: dict[str, str], models_dir, **settings):
  """A TestClient of `htr serve` over `exports` (name -> export dir, linked into
  `models_dir`), once its models have loaded."""
  import time

  from fastapi.testclient import TestClient

  from htr.serve.app import create_app
  from htr.serve.config import ServeConfig
  os.makedirs(models_dir, exist_ok=True)
  for name, path in exports.items():
    os.symlink(path, os.path.join(models_dir, name))
  settings = {"rate": 0, "max_batch": 2, "warm_up_words": 0, **settings}
  with TestClient(create_app(ServeConfig(models_dir=str(models_dir), **settings))) as client:
    deadline = time.time() + 300
    while client.get("/readyz").status_code != 200:
      assert time.time() < deadline, client.get("/readyz").json()
      time.sleep(0.1)
    yield client


@pytest.fixture
def serving_client(tmp_path):
  """`with serving_client({"name": export_dir}) as client:` the server, models loaded."""
  return lambda exports, **settings: _serving_client(exports, tmp_path / "models", **settings)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
  """Debian's chromium, headless, driven by Playwright: the drawing page's tests."""
  if not os.path.exists(CHROMIUM):
    pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
  from playwright.sync_api import sync_playwright
  with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def line_image_files(tmp_path):
  """`line_image_files(n)` -> paths of n synthetic line pictures (1, 2, ... words; PNG and
  JPEG in turn), drawn by the synthetic writer and degraded into scans and photos."""
  def write(n: int = 3) -> list[str]:
    from PIL import Image

    from htr.image import lines
    from htr.ink import render, synthetic
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
      ink = synthetic.write_line(synthetic.sample_line(rng, max_words=1 + i),
                                 synthetic.sample_writer(rng), rng)
      rendered = render.render(ink, height=64, pen_width=2.5).astype(np.float32) / 255
      path = str(tmp_path / f"line{i}.{'jpg' if i % 2 else 'png'}")
      Image.fromarray(lines.degrade(rendered, rng)).save(path)
      paths.append(path)
    return paths
  return write


@pytest.fixture(scope="session")
def line_detector(tmp_path_factory, data_dir, load_config) -> tuple[dict, str]:
  """A tiny line detector (page_detect runlocal, 8 devices) trained on the page_layout
  fixture's pages until it finds their lines: (eval metrics, workdir). 150 steps at
  learning rate 1e-2 (measured: mAP@0.5 0.98, F1 0.88; 1.5 CPU minutes)."""
  from htr import train
  config = load_config("page_detect", "runlocal,size=tiny")
  config.data.data_dir = data_dir
  config.num_train_steps = config.eval_every = config.checkpoint_every = 150
  config.log_every = 50
  config.optimizer.learning_rate = 1e-2
  config.optimizer.warmup_steps = 10
  workdir = str(tmp_path_factory.mktemp("line_detector"))
  return train.train_and_evaluate(config, workdir), workdir


@pytest.fixture(scope="session")
def line_reader(tmp_path_factory, data_dir, load_config) -> str:
  """A tiny CRNN line reader (offline_crnn runlocal: two steps): it reads something, if
  not well. Its workdir."""
  from htr import train
  config = load_config("offline_crnn", "runlocal,size=tiny")
  config.data.data_dir = data_dir
  workdir = str(tmp_path_factory.mktemp("line_reader"))
  train.train_and_evaluate(config, workdir)
  return workdir


def _export(workdir: str, out: str) -> str:
  from htr import export
  export.export(workdir, out, weight_formats=("float32",))
  return out


@pytest.fixture(scope="session")
def detector_export(line_detector, tmp_path_factory) -> str:
  """`line_detector` exported (float32): the export folder."""
  return _export(line_detector[1], str(tmp_path_factory.mktemp("exports") / "detector"))


@pytest.fixture(scope="session")
def reader_export(line_reader, tmp_path_factory) -> str:
  """`line_reader` exported (float32): the export folder."""
  return _export(line_reader, str(tmp_path_factory.mktemp("exports") / "reader"))
