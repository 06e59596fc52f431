r"""Teacher-forced next-token accuracy of a LaTeX seq2seq model, by kind of token.

Whether a math model reads glyphs or only the grammar: a decoder that never looks at
the image still predicts most layout tokens (`{ } ^ _`) and the end of an expression
from the tokens before them, while letters and digits need the image. A model whose
letters sit at chance (1 in ~50) has not started reading, whatever its overall token
accuracy says.

  python -m htr.token_kinds --workdir=/tmp/htr/math --split=validation --limit=256
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from htr.text import latex


def token_kind(token: str) -> str:
  """"layout", "end", "digit", "letter" (Latin), "command" (\alpha, \frac, ...) or
  "sign"."""
  if token in latex.LAYOUT_TOKENS:
    return "layout"
  if token == latex.SPECIALS[latex.EOS]:
    return "end"
  if token.isdigit():
    return "digit"
  if len(token) == 1 and token.isalpha():
    return "letter"
  if token.startswith("\\") and token[1:].isalpha():
    return "command"
  return "sign"


def accuracy_by_kind(predicted: Iterable[np.ndarray], targets: Iterable[np.ndarray],
                     tokens: tuple[str, ...]) -> dict[str, dict[str, float]]:
  """{kind: {"accuracy", "share"}} over the non-padding targets of each batch."""
  hits, counts = collections.Counter(), collections.Counter()
  for pred, target in zip(predicted, targets):
    for p, t in zip(pred[target != latex.PAD], target[target != latex.PAD]):
      kind = token_kind(tokens[t])
      hits[kind] += int(p == t)
      counts[kind] += 1
  total = max(sum(counts.values()), 1)
  return {kind: {"accuracy": hits[kind] / n, "share": n / total}
          for kind, n in sorted(counts.items())}


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--workdir", required=True, help="a math workdir or zoo:NAME")
  parser.add_argument("--split", default="validation")
  parser.add_argument("--limit", type=int, default=256, help="examples to score")
  parser.add_argument("--data_dir", default=None, help="TFDS data dir (default: the config's)")
  args = parser.parse_args(argv)

  from htr import checkpoint
  from htr.data import pipeline
  task, variables, config = checkpoint.restore_for_inference(args.workdir)
  data = config.data
  data.data_dir = args.data_dir or data.data_dir
  if "pp_teacher_forced" not in data:
    raise SystemExit(f"{args.workdir}: its config has no data.pp_teacher_forced (a math "
                     "config of configs/math_swin.py names the ops that give token targets)")
  data.pp_eval = data.pp_teacher_forced
  pad, sort_key = task.padding()
  dataset = pipeline.make_dataset(
      pipeline.load_components(data, f"{args.split}[:{args.limit}]"), data, pad=pad,
      sort_key=sort_key, split=args.split, batch_size=config.eval_batch_size, train=False,
      seed=0, fields=task.data_fields())
  forward = jax.jit(lambda batch: jnp.argmax(task.model.apply(
      variables, **task.model_inputs(batch)), -1))
  predicted, targets = [], []
  for batch in dataset:
    numeric = pipeline.host_batch(batch, pad)
    keep = batch["mask"] > 0
    predicted.append(np.asarray(forward(numeric))[keep])
    targets.append(batch["tokens"][keep, 1:])
  report = accuracy_by_kind(predicted, targets, task.vocab.tokens)
  for kind, row in report.items():
    print(f"{kind:8s} {row['share']:6.1%} of tokens, teacher-forced accuracy "
          f"{row['accuracy']:6.1%}")


if __name__ == "__main__":
  main()
