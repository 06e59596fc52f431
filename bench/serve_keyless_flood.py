"""A keyless flood against /healthz: what unauthenticated clients cost `htr serve`.

  python bench/serve_keyless_flood.py [--clients=4] [--posts=6]

Starts the server (keys required, no models) on loopback and times /healthz, first idle,
then while each client posts a 3.6 MiB JSON ink `--posts` times without a key. The key
is checked from the headers before any body is read (htr/serve/limits.py AccessGate),
so the probe should not notice the flood; before that check moved, in 781889f, every
body was parsed on the event loop first (run this file there with PYTHONPATH pointing
at that checkout to compare).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import tempfile
import threading
import time

import httpx
import uvicorn

from htr.serve import auth
from htr.serve.app import create_app
from htr.serve.config import ServeConfig

_PROBES = 30


def _serve(folder: str) -> tuple[uvicorn.Server, str]:
  os.makedirs(os.path.join(folder, "models"))
  keys = os.path.join(folder, "keys")
  with open(keys, "w") as f:
    f.write(f"bench:{auth.hash_key('a key nobody sends')}\n")
  # Failed key checks unlimited, so every post reaches the server (older htr lacks it).
  extra = ({"failed_auth_rate": 0} if "failed_auth_rate" in ServeConfig.__dataclass_fields__
           else {})
  app = create_app(ServeConfig(models_dir=os.path.join(folder, "models"), keys_file=keys,
                               **extra))
  server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
  threading.Thread(target=server.run, daemon=True).start()
  while not server.started:
    time.sleep(0.05)
  return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def _probe(url: str) -> list[float]:
  """Seconds of each of `_PROBES` /healthz requests."""
  seconds = []
  with httpx.Client(base_url=url) as client:
    for _ in range(_PROBES):
      start = time.perf_counter()
      client.get("/healthz").raise_for_status()
      seconds.append(time.perf_counter() - start)
  return seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--clients", type=int, default=4, help="keyless clients at once")
  parser.add_argument("--posts", type=int, default=6, help="posts per client")
  args = parser.parse_args()
  flood = json.dumps({"strokes": [[[1.25, 2.5, 0.01]] * 20_000] * 10}).encode()
  with tempfile.TemporaryDirectory() as folder:
    server, url = _serve(folder)
    idle = _probe(url)

    def keyless(_) -> list[int]:
      with httpx.Client(base_url=url, timeout=60) as client:
        return [client.post("/v1/models/m/ink", content=flood,
                            headers={"content-type": "application/json"}).status_code
                for _ in range(args.posts)]

    with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
      answers = pool.map(keyless, range(args.clients))
      flooded = _probe(url)
      codes = sorted({code for batch in answers for code in batch})
    server.should_exit = True
  print(f"/healthz p50 idle {1000 * statistics.median(idle):.1f} ms; under a keyless flood "
        f"({args.clients} clients x {args.posts} posts of {len(flood) / 2**20:.1f} MiB) "
        f"p50 {1000 * statistics.median(flooded):.1f} ms, max {1000 * max(flooded):.0f} ms; "
        f"the flood was answered {codes}")


if __name__ == "__main__":
  main()
