"""The persistent compilation cache: on by default, JAX's environment variable wins."""

import os
import subprocess
import sys
import textwrap

from htr import xla_cache


def test_environment_variable_wins_and_empty_turns_it_off(monkeypatch):
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/somewhere/else")
  assert xla_cache.enable("/ignored") == "/somewhere/else"
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")
  assert xla_cache.enable("/ignored") is None


def test_compiled_programs_land_in_the_cache(tmp_path):
  """In a child process: JAX reads its cache settings once per process."""
  script = textwrap.dedent(f"""
      import jax
      from htr import xla_cache
      print(xla_cache.enable({str(tmp_path / "cache")!r}))
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
      print(jax.jit(lambda x: x * 2 + 1)(3))
  """)
  env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        env=env, check=True, timeout=120)
  assert done.stdout.split() == [str(tmp_path / "cache"), "7"]
  assert os.listdir(tmp_path / "cache")
