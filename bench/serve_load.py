r"""Load test of `htr serve`: N concurrent clients on loopback sending real ink lines.

Starts the server (once with dynamic batching, once without), sends `--requests`
synthetic handwritten lines (htr/ink/synthetic.py, unseen random writers) from
`--clients` concurrent connections, and prints throughput, latency percentiles,
errors, the server's CPU and peak memory, and where a request's time went (the
server's `htr_stage_seconds` histograms):

  python bench/serve_load.py --models=DIR --model=online --clients=50 --requests=1000

Each request is one text line (POST /v1/models/NAME/ink), or `--lines_per_request`
lines (POST .../ink/batch). The clients run in this process, on the same cores as
the server, so they are kept cheap: request bytes are encoded once, and each client
is a keep-alive HTTP/1.1 connection on asyncio streams that reads only the status
line and Content-Length (~0.2 ms of CPU a request; httpx took ~2.4 ms). `client CPU`
reports their share. `--url` load-tests a server that is already running instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
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
    # Its log goes to a file: a pipe nobody reads fills up and blocks the server.
    self.log = tempfile.TemporaryFile()
    self.process = subprocess.Popen(
        [sys.executable, "-m", "htr.serve", f"--models={models}", f"--port={self.port}",
         "--rate=0", *flags], env=env, stdout=subprocess.DEVNULL, stderr=self.log)
    self.ps = psutil.Process(self.process.pid)
    deadline = time.time() + 1800  # A first warm-up compiles for minutes (htr/serve/models.py).
    while time.time() < deadline:
      if self.process.poll() is not None:
        self.log.seek(0)
        raise RuntimeError(f"server exited: {self.log.read().decode()[-2000:]}")
      try:
        if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
          return
      except httpx.HTTPError:
        pass
      time.sleep(0.5)
    raise RuntimeError("server not ready after 1800 s")

  def stop(self) -> None:
    self.process.terminate()
    self.process.wait(30)
    self.log.close()


class RunningServer:
  """A server started elsewhere (`--url`), found by its listening port for CPU and RSS."""

  def __init__(self, url: str):
    self.url = url.rstrip("/")
    self.port = int(self.url.rsplit(":", 1)[1])
    pids = [c.pid for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == self.port and c.status == psutil.CONN_LISTEN]
    if not pids:
      raise RuntimeError(f"nothing listens on port {self.port}")
    self.ps = psutil.Process(pids[0])

  def stop(self) -> None:
    pass


class Connection:
  """One keep-alive HTTP/1.1 connection that posts pre-encoded requests."""

  def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    self.reader, self.writer = reader, writer

  @classmethod
  async def open(cls, port: int) -> Connection:
    return cls(*await asyncio.open_connection("127.0.0.1", port))

  async def send(self, request: bytes) -> int:
    """The status code of the response to `request` (whose body is read and dropped)."""
    self.writer.write(request)
    head = await self.reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
      if line[:15].lower() == b"content-length:":
        length = int(line[15:])
    await self.reader.readexactly(length)
    return int(head[9:12])

  def close(self) -> None:
    self.writer.close()


def encode_request(path: str, body: bytes) -> bytes:
  """A complete HTTP/1.1 POST of a JSON body."""
  return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
          f"content-length: {len(body)}\r\n\r\n").encode() + body


async def _load(port: int, requests_bytes: list[bytes], clients: int, requests: int,
                ps: psutil.Process) -> dict:
  latencies, errors, statuses = [], 0, {}
  next_index = 0
  peak_rss = ps.memory_info().rss

  async def client(connection: Connection) -> None:
    nonlocal next_index, errors
    while next_index < requests:
      i = next_index
      next_index += 1
      start = time.perf_counter()
      try:
        code = await connection.send(requests_bytes[i % len(requests_bytes)])
      except (OSError, asyncio.IncompleteReadError) as e:
        code = type(e).__name__
        connection.close()
        connection = await Connection.open(port)
      latencies.append(time.perf_counter() - start)
      statuses[code] = statuses.get(code, 0) + 1
      errors += code != 200
    connection.close()

  async def watch_memory() -> None:
    nonlocal peak_rss
    while True:
      peak_rss = max(peak_rss, ps.memory_info().rss)
      await asyncio.sleep(0.2)

  connections = [await Connection.open(port) for _ in range(clients)]
  watcher = asyncio.create_task(watch_memory())
  cpu0, me0, wall0 = ps.cpu_times(), psutil.Process().cpu_times(), time.perf_counter()
  await asyncio.gather(*(client(c) for c in connections))
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


def _metric_sums(url: str, name: str) -> dict[str, tuple[float, float]]:
  """{labels: (sum, count)} of a Prometheus histogram in the server's /metrics."""
  sums: dict[str, list[float]] = {}
  for line in httpx.get(f"{url}/metrics").text.splitlines():
    for part, index in (("_sum{", 0), ("_count{", 1)):
      if line.startswith(name + part):
        labels = line[len(name + part):line.rindex("}")]
        sums.setdefault(labels, [0.0, 0.0])[index] = float(line.split()[-1])
  return {labels: (total, count) for labels, (total, count) in sums.items()}


def stage_means(before: dict, after: dict, route: str) -> dict[str, float]:
  """Mean milliseconds of each stage of `route`'s requests between two snapshots of
  htr_stage_seconds (`_metric_sums`)."""
  means = {}
  for labels, (total, count) in after.items():
    total0, count0 = before.get(labels, (0.0, 0.0))
    if f'route="{route}"' in labels and count > count0:
      means[labels.split('stage="')[1].rstrip('"')] = 1000 * (total - total0) / (count - count0)
  return means


def _batch_stats(before: dict, after: dict, model: str) -> str:
  """Mean examples per model call between two snapshots of htr_batch_size."""
  key = f'model="{model}"'
  total, count = (a - b for a, b in zip(after.get(key, (0, 0)), before.get(key, (0, 0))))
  return f"{total / count:.1f}" if count else "-"


def _versions() -> str:
  import platform

  import tensorflow as tf
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout
  return (f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
          f"htr {commit.strip() or '?'}")


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--models", help="folder of exported models (to start a server)")
  parser.add_argument("--model", required=True, help="the ink-text model to load-test")
  parser.add_argument("--clients", default="50",
                      help="concurrent connections; several (1,10,50) share a server")
  parser.add_argument("--requests", type=int, default=1000, help="measured requests per run")
  parser.add_argument("--inks", type=int, default=200, help="distinct lines to cycle through")
  parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
  parser.add_argument("--lines_per_request", type=int, default=1,
                      help="lines per request (>1: POST .../ink/batch)")
  parser.add_argument("--modes", default="batching,none", help="batching and/or none")
  parser.add_argument("--max_batch", type=int, default=32, help="with batching")
  parser.add_argument("--max_wait_ms", type=float, default=0.0, help="with batching")
  parser.add_argument("--server_flags", default="", help="more flags of htr serve")
  parser.add_argument("--seed", type=int, default=0, help="picks the lines and writers")
  parser.add_argument("--url", default=None,
                      help="load-test this running server (http://127.0.0.1:PORT) instead of "
                           "starting one per mode")
  args = parser.parse_args()

  inks = make_inks(args.inks, args.seed)
  n = args.lines_per_request
  if n > 1:
    route = "/v1/models/{name}/ink/batch"
    bodies = [b'{"inks": [' + b", ".join(body for _, body in (inks * n)[i:i + n]) + b"]}"
              for i in range(len(inks))]
  else:
    route = "/v1/models/{name}/ink"
    bodies = [body for _, body in inks]
  path = route.replace("{name}", args.model)
  requests_bytes = [encode_request(path, body) for body in bodies]
  print(f"{len(inks)} synthetic lines, {np.mean([len(b) for _, b in inks]) / 1024:.1f} KiB "
        f"JSON each on average, {n} a request; {args.requests} requests per run; load "
        f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start; {_versions()}")
  extra = args.server_flags.split()
  settings = {"batching": [f"--max_batch={args.max_batch}",
                           f"--max_wait_ms={args.max_wait_ms}", *extra],
              "none": ["--max_batch=1", *extra]}
  rows = []
  if args.url:
    settings = {"running": [args.url]}
  for mode in settings if args.url else args.modes.split(","):
    server = RunningServer(args.url) if args.url else Server(args.models, settings[mode])
    try:
      for clients in map(int, args.clients.split(",")):
        asyncio.run(_load(server.port, requests_bytes, clients, args.warmup, server.ps))
        stages0 = _metric_sums(server.url, "htr_stage_seconds")
        batches0 = _metric_sums(server.url, "htr_batch_size")
        result = asyncio.run(_load(server.port, requests_bytes, clients, args.requests,
                                   server.ps))
        stages1 = _metric_sums(server.url, "htr_stage_seconds")
        result.update(mode=mode, clients=clients, load=os.getloadavg()[0],
                      batch=_batch_stats(batches0, _metric_sums(server.url, "htr_batch_size"),
                                         args.model),
                      stages=stage_means(stages0, stages1, route))
        rows.append(result)
    finally:
      server.stop()
  print("\n| clients | dynamic batching | requests | errors | lines/s | p50 ms | p95 ms "
        "| p99 ms | mean batch | server CPU | client CPU | server peak RSS | load avg |")
  print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
  for r in rows:
    flags = " ".join(settings[r["mode"]])
    print(f"| {r['clients']} | {r['mode']} (`{flags}`) | {r['requests']} | {r['errors']} "
          f"| {r['throughput'] * n:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} "
          f"| {r['batch']} | {r['server_cpu']:.0%} | {r['client_cpu']:.0%} "
          f"| {r['server_rss_mb']:.0f} MiB | {r['load']:.1f} |")
    if r["errors"]:
      print(f"  statuses: {r['statuses']}")
  print("\nMean ms a request spends in each stage (htr_stage_seconds):\n")
  stages = [s for s in ("read", "parse", "prepare", "queue", "pad", "model", "result",
                        "respond", "http") if any(s in r["stages"] for r in rows)]
  print("| clients | dynamic batching | " + " | ".join(stages) + " |")
  print("| --- | --- | " + " | ".join("---" for _ in stages) + " |")
  for r in rows:
    print(f"| {r['clients']} | {r['mode']} | "
          + " | ".join(f"{r['stages'].get(s, 0):.2f}" for s in stages) + " |")
  print(f"\nload average {os.getloadavg()[0]:.1f} at the end (other jobs share the machine)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
