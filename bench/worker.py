"""One case for one implementation in this (child) process; prints its JSON result.

Usage: python -m bench.worker CASE IMPL THREADS REPEATS. The process is pinned to
THREADS cores before jax or torch are imported, so both get the same CPUs, and
its peak resident memory is reported with the result. htr sees one CPU device per
core (its CPU layout: "data" parallel training, BiLSTM directions over "model" to
recognise a line); torch gets THREADS intra-op threads.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def main(argv: list[str]) -> None:
  case, impl, threads, repeats = argv[1], argv[2], int(argv[3]), int(argv[4])
  os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
  if impl == "peer":
    import torch
    torch.set_num_threads(threads)
  else:
    from htr import sharding
    sharding.set_cpu_devices(threads)
  from bench import registry
  result = registry.run(case, impl, repeats)
  result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv)
