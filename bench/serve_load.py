r"""Load test of `htr serve`: N concurrent clients on loopback sending real ink lines.

Starts the server (once with dynamic batching, once without), sends `--requests`
synthetic handwritten lines (htr/ink/synthetic.py, unseen random writers) from
`--clients` concurrent connections, and prints throughput, latency percentiles,
errors and the server's CPU and peak memory:

  python bench/serve_load.py --models=/tmp/htr/export --model=online \
      --clients=50 --requests=2000

Each request is one text line (POST /v1/models/NAME/ink). The clients run in this
process (asyncio + httpx), on the same cores as the server: on a small machine
they take a share of the CPU, which the table reports as `client CPU`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import psutil

from htr.ink import synthetic


def make_inks(count: int, seed: int) -> list[tuple[str, bytes]]:
  """`count` distinct synthetic lines as (text, JSON request body)."""
  rng = np.random.default_rng(seed)
  inks = []
  while len(inks) < count:
    text = synthetic.sample_line(rng, max_words=6)
    ink = synthetic.write_line(text, synthetic.sample_writer(rng), rng)
    strokes = [s.tolist() for s in ink.strokes()]
    inks.append((text, json.dumps({"strokes": strokes}).encode()))
  return inks


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class Server:
  """`python -m htr.serve` in a child process, ready when /readyz says so."""

  def __init__(self, models: str, flags: list[str]):
    self.port = _free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    self.process = subprocess.Popen(
        [sys.executable, "-m", "htr.serve", f"--models={models}", f"--port={self.port}",
         "--rate=0", *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    self.ps = psutil.Process(self.process.pid)
    deadline = time.time() + 300
    while time.time() < deadline:
      if self.process.poll() is not None:
        raise RuntimeError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")
      try:
        if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
          return
      except httpx.HTTPError:
        pass
      time.sleep(0.5)
    raise RuntimeError("server not ready after 300 s")

  def stop(self) -> None:
    self.process.terminate()
    self.process.wait(30)


async def _load(url: str, model: str, inks: list[tuple[str, bytes]], clients: int,
                requests: int, ps: psutil.Process) -> dict:
  latencies, errors, statuses = [], 0, {}
  next_index = 0
  peak_rss = ps.memory_info().rss

  async def client(http: httpx.AsyncClient) -> None:
    nonlocal next_index, errors
    while next_index < requests:
      i = next_index
      next_index += 1
      start = time.perf_counter()
      try:
        response = await http.post(f"/v1/models/{model}/ink", content=inks[i % len(inks)][1],
                                   headers={"content-type": "application/json"})
        code = response.status_code
      except httpx.HTTPError as e:
        code = type(e).__name__
      latencies.append(time.perf_counter() - start)
      statuses[code] = statuses.get(code, 0) + 1
      errors += code != 200

  async def watch_memory() -> None:
    nonlocal peak_rss
    while True:
      peak_rss = max(peak_rss, ps.memory_info().rss)
      await asyncio.sleep(0.2)

  limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
  async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
    watcher = asyncio.create_task(watch_memory())
    cpu0, me0, wall0 = ps.cpu_times(), psutil.Process().cpu_times(), time.perf_counter()
    await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - wall0
    cpu1, me1 = ps.cpu_times(), psutil.Process().cpu_times()
    watcher.cancel()
  ms = np.array(latencies) * 1000
  return {"requests": requests, "errors": errors, "statuses": statuses, "seconds": wall,
          "throughput": requests / wall, "p50": np.percentile(ms, 50),
          "p95": np.percentile(ms, 95), "p99": np.percentile(ms, 99),
          "server_cpu": (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall,
          "client_cpu": (me1.user + me1.system - me0.user - me0.system) / wall,
          "server_rss_mb": peak_rss / 2**20}


def _batch_stats(url: str, model: str) -> str:
  """Mean examples per model call, from the server's own histogram."""
  text = httpx.get(f"{url}/metrics").text
  total = count = 0.0
  for line in text.splitlines():
    if line.startswith(f'htr_batch_size_sum{{model="{model}"}}'):
      total = float(line.split()[-1])
    elif line.startswith(f'htr_batch_size_count{{model="{model}"}}'):
      count = float(line.split()[-1])
  return f"{total / count:.1f}" if count else "-"


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--models", required=True, help="folder of exported models")
  parser.add_argument("--model", required=True, help="the ink-text model to load-test")
  parser.add_argument("--clients", type=int, default=50, help="concurrent connections")
  parser.add_argument("--requests", type=int, default=2000, help="requests per setting")
  parser.add_argument("--inks", type=int, default=200, help="distinct lines to cycle through")
  parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
  parser.add_argument("--modes", default="batching,none", help="batching and/or none")
  parser.add_argument("--max_batch", type=int, default=32, help="with batching")
  parser.add_argument("--max_wait_ms", type=float, default=5.0, help="with batching")
  parser.add_argument("--workers", type=int, default=2,
                      help="parallel model calls without batching")
  parser.add_argument("--seed", type=int, default=0, help="picks the lines and writers")
  args = parser.parse_args()

  inks = make_inks(args.inks, args.seed)
  sizes = [len(body) for _, body in inks]
  print(f"{len(inks)} synthetic lines, {np.mean(sizes) / 1024:.1f} KiB JSON each on average; "
        f"{args.clients} clients, {args.requests} requests per setting; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start")
  settings = {"batching": [f"--max_batch={args.max_batch}", f"--max_wait_ms={args.max_wait_ms}"],
              "none": ["--max_batch=1", f"--workers={args.workers}"]}
  rows = []
  for mode in args.modes.split(","):
    server = Server(args.models, settings[mode])
    try:
      asyncio.run(_load(server.url, args.model, inks, args.clients, args.warmup, server.ps))
      result = _load(server.url, args.model, inks, args.clients, args.requests, server.ps)
      result = asyncio.run(result)
      result["mode"], result["batch"] = mode, _batch_stats(server.url, args.model)
      rows.append(result)
    finally:
      server.stop()
  print("\n| dynamic batching | requests | errors | req/s | p50 ms | p95 ms | p99 ms "
        "| mean batch | server CPU | client CPU | server peak RSS |")
  print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
  for r in rows:
    flags = " ".join(settings[r["mode"]])
    print(f"| {r['mode']} ({flags}) | {r['requests']} | {r['errors']} | {r['throughput']:.1f} "
          f"| {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['batch']} "
          f"| {r['server_cpu']:.0%} | {r['client_cpu']:.0%} | {r['server_rss_mb']:.0f} MiB |")
    if r["errors"]:
      print(f"  statuses: {r['statuses']}")
  print(f"\nload average {os.getloadavg()[0]:.1f} at the end (other jobs share the machine)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
