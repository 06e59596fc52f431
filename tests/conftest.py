"""Every test sees 8 CPU devices, so sharding code runs for real on one machine."""

import atexit
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


import pytest  # noqa: E402  (after XLA_FLAGS: importing pytest plugins may import jax)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
  """One TFDS data dir per test session: tiny datasets are built once, then reused."""
  return str(tmp_path_factory.mktemp("tfds"))
