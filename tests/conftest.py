"""Every test sees 8 CPU devices, so sharding code runs for real on one machine."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest  # noqa: E402  (after XLA_FLAGS: importing pytest plugins may import jax)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
  """One TFDS data dir per test session: tiny datasets are built once, then reused."""
  return str(tmp_path_factory.mktemp("tfds"))
