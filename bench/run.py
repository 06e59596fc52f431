"""Runs the benchmark cases, htr and peer alternately in child processes; table + JSON.

  python -m bench [--cases=train,latency_T800] [--repeats=5] [--threads=2]
                  [--output=bench/results.json]

Ratios are htr's speed-up over the peer (> 1: htr is faster), from medians
measured in the same run, with the same inputs and CPUs. The load average is
recorded before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
from typing import Any

from bench import registry

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _child(case: str, impl: str, threads: int, repeats: int) -> dict[str, Any]:
  proc = subprocess.run([sys.executable, "-m", "bench.worker", case, impl, str(threads),
                         str(repeats)], capture_output=True, text=True, cwd=ROOT, check=False)
  if proc.returncode != 0:
    return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _versions() -> dict[str, str]:
  from importlib import metadata
  out = {"python": platform.python_version()}
  for name in ("jax", "jaxlib", "flax", "torch", "numpy", "scipy"):
    try:
      out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      out[name] = "-"
  return out


def _ratio(case: registry.Case, htr: dict, peer: dict | None) -> float | None:
  if not peer or "value" not in peer or "value" not in htr:
    return None
  if case.higher_is_better:
    return htr["value"] / peer["value"]
  return peer["value"] / htr["value"]


def _fmt(x: float | None, digits: int = 1) -> str:
  if x is None:
    return "-"
  return f"{x:,.{digits}f}" if abs(x) < 1e5 else f"{x:,.0f}"


def table(rows: list[dict[str, Any]], load: tuple[str, str], threads: int) -> str:
  """A Markdown table of the results."""
  lines = [f"threads {threads}; load average before: {load[0]}; after: {load[1]}", "",
           "| case | unit | htr | peer | htr speed-up | htr compile s | htr warm-up s "
           "| peak RSS MB htr / peer |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
  for row in rows:
    htr, peer = row["htr"], row.get("peer") or {}
    rss = f"{_fmt(htr.get('peak_rss_mb'), 0)} / {_fmt(peer.get('peak_rss_mb'), 0)}"
    ratio = _fmt(row["ratio"], 2) + "x" if row["ratio"] is not None else "-"
    value = htr.get("value", htr.get("error"))
    if row["name"] == "compiles" and "value" in htr:
      value = f"{htr['value']} ({htr['buckets_used']} buckets, {htr['steps']} steps)"
    elif isinstance(value, float):
      value = _fmt(value)
    lines.append(f"| {row['name']}: {row['what']} | {row['unit']} | {value} | "
                 f"{_fmt(peer.get('value')) if 'value' in peer else peer.get('error', '-')} | "
                 f"{ratio} | {_fmt(htr.get('compile_s'), 2)} | {_fmt(htr.get('warmup_s'), 2)} "
                 f"| {rss} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--cases", default=",".join(c.name for c in registry.CASES))
  parser.add_argument("--repeats", type=int, default=5,
                      help="timed repeats per case, at least (bench.cases.timed)")
  parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  parser.add_argument("--output", default=str(ROOT / "bench" / "results.json"))
  args = parser.parse_args(argv)
  load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
  rows = []
  for name in args.cases.split(","):
    case = registry.BY_NAME[name]
    repeats = min(args.repeats, case.max_repeats or args.repeats)
    htr = _child(name, "htr", args.threads, repeats)
    peer = _child(name, "peer", args.threads, repeats) if case.peer else None
    rows.append({"name": name, "what": case.what, "unit": case.unit,
                 "higher_is_better": case.higher_is_better, "htr": htr, "peer": peer,
                 "ratio": _ratio(case, htr, peer)})
    print(f"{name}: htr {htr.get('value', htr.get('error'))} peer "
          f"{(peer or {}).get('value', (peer or {}).get('error'))} {case.unit}", flush=True)
    # Written after every case: a long run that is interrupted keeps what it measured.
    text = _write(args, rows, load_before)
  print(text)
  print(f"wrote {args.output}")


def _write(args: argparse.Namespace, rows: list[dict[str, Any]], load_before: str) -> str:
  load = (load_before, " ".join(f"{x:.2f}" for x in os.getloadavg()))
  text = table(rows, load, args.threads)
  report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "threads": args.threads, "repeats": args.repeats, "load_average": load,
            "versions": _versions(), "cases": rows, "table": text}
  pathlib.Path(args.output).write_text(json.dumps(report, indent=1))
  return text
