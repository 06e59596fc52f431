"""Two JAX processes on this machine (gloo): per-process shards, global arrays, gathers."""

import os
import re
import socket
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_train_and_evaluate_in_lockstep(tmp_path):
  # An empty data dir: process 0 builds the dataset while process 1 waits for it.
  data_dir = tmp_path / "tfds"
  env = {**os.environ, "PORT": str(_free_port()), "DEVICES_PER_PROCESS": "2",
         "XLA_FLAGS": "", "PATH": os.path.dirname(sys.executable) + os.pathsep
         + os.environ["PATH"]}
  result = subprocess.run(
      ["bash", os.path.join(ROOT, "launch", "multiprocess_cpu.sh"), "2",
       os.path.join(ROOT, "configs", "online_ctc.py") + ":runlocal,size=tiny",
       str(tmp_path / "run"), f"--config.data.data_dir={data_dir}"],
      env=env, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert len(re.findall(r"mesh \{'data': 4, 'model': 1\}", result.stderr)) == 2
  evals = re.findall(r"eval at step 2: (.*)", result.stderr)
  assert len(evals) == 2 and evals[0] == evals[1], evals
  assert "num_examples=8" in evals[0]  # One global batch of 8 = 4 rows per process.
