"""The `htr` command: use trained models from the shell.

  htr recognize --workdir=DIR FILE [FILE ...]    ink (InkML or IAM-OnDB XML) -> text
  htr write "some text" --out=FILE.inkml         text -> synthetic ink of a random writer
"""

from __future__ import annotations

import argparse
import sys

from htr.errors import InputError


def _recognize(args) -> int:
  from htr.recognize import Recognizer, read_ink
  inks = [read_ink(path) for path in args.files]
  recognizer = Recognizer(args.workdir, beam_width=args.beam_width, lm_path=args.lm)
  for path, result in zip(args.files, recognizer(inks, ids=args.files)):
    print(f"{path}\t{result.text}\t{result.confidence:.3f}")
  return 0


def _write(args) -> int:
  import numpy as np
  from htr.ink import inkml, synthetic
  rng = np.random.default_rng(args.seed)
  ink = synthetic.write_line(args.text, synthetic.sample_writer(rng), rng)
  inkml.write_inkml(ink, {"truth": args.text}, args.out)
  print(f"{args.out}: {ink.num_strokes} strokes, {ink.num_points} points")
  return 0


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="htr", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest="command", required=True)
  recognize = commands.add_parser("recognize", help="ink files -> text and confidence")
  recognize.add_argument("files", nargs="+", help="InkML or IAM-OnDB line XML files")
  recognize.add_argument("--workdir", required=True, help="a trained workdir")
  recognize.add_argument("--beam_width", type=int, default=None,
                         help="CTC prefix beam search width (default: the config's)")
  recognize.add_argument("--lm", default=None, help="character n-gram LM file for the beam")
  recognize.set_defaults(run=_recognize)
  write = commands.add_parser("write", help="text -> InkML in a random synthetic writer's hand")
  write.add_argument("text", help="what to write (IAM-OnDB characters)")
  write.add_argument("--out", required=True, help="the InkML file to write")
  write.add_argument("--seed", type=int, default=0, help="picks the writer and the noise")
  write.set_defaults(run=_write)
  args = parser.parse_args(argv)
  try:
    return args.run(args)
  except (InputError, FileNotFoundError) as e:
    print(f"htr {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
