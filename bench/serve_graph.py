r"""The exported graph alone: lines/s against batch size, no server around it.

Loads an export as `htr serve` does (htr/serve/models.py), prepares synthetic lines
(bench/serve_load.py's), takes the line of median length and times the SavedModel on
batches of 1, 2, 4, ... copies of it, the fastest of `--rounds` calls per size taken in
turns (`ServedModel.batch_seconds`, what the server's warm-up measures to pick its
batch limit):

  python bench/serve_graph.py --model=DIR/online --max_batch=64 --parallel=2
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_load import make_inks  # noqa: E402  (this folder is not a package path)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", required=True, help="an export folder (or a SavedModel)")
  parser.add_argument("--variant", default=None, help="float32, bfloat16, int8")
  parser.add_argument("--max_batch", type=int, default=64, help="largest batch timed")
  parser.add_argument("--intra_op_threads", type=int, default=0, help="0: TF's default")
  parser.add_argument("--inter_op_threads", type=int, default=0, help="0: TF's default")
  parser.add_argument("--rounds", type=int, default=20, help="timed calls per size")
  parser.add_argument("--parallel", type=int, default=1,
                      help="calls at once, as htr serve's --workers make them")
  parser.add_argument("--inks", type=int, default=100, help="synthetic lines to pick from")
  args = parser.parse_args()

  import json

  from htr.ink.ink import Ink
  from htr.serve.batching import batch_sizes, choose_batch_limit
  from htr.serve.models import load_model, set_threads
  set_threads(args.intra_op_threads, args.inter_op_threads)
  model = load_model("model", args.model, args.variant)
  examples = []
  for _, body in make_inks(args.inks, 0):
    strokes = [np.asarray(s, np.float64) for s in json.loads(body)["strokes"]]
    examples.append(model.prepare(Ink.from_strokes(strokes), "line"))
  example = sorted(examples, key=lambda e: int(e["frames"]))[len(examples) // 2]
  seconds = model.batch_seconds(example, batch_sizes(args.max_batch), rounds=args.rounds,
                                parallel=args.parallel)
  print(f"{model.path}: a line of {len(example['points'])} points, {int(example['frames'])} "
        f"frames; {args.parallel} calls at once, intra-op threads "
        f"{args.intra_op_threads or 'default'}, load average "
        f"{os.getloadavg()[0]:.1f}\n")
  print("| batch | ms a batch | ms a line | lines/s |")
  print("| ---: | ---: | ---: | ---: |")
  for size, s in seconds.items():
    print(f"| {size} | {1000 * s:.1f} | {1000 * s / size:.2f} | {size / s:.1f} |")
  print(f"\nbatch limit (smallest size within 5 % of the best lines/s): "
        f"{choose_batch_limit(seconds)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
