"""The `htr` command: use trained models from the shell.

  htr recognize --workdir=DIR FILE [FILE ...]    any input the model reads -> its result
  htr recognize --saved_model=DIR FILE [...]     the same through an exported SavedModel
  htr classify ... / htr latex ...               the same verb under the names users know
  htr classify --line --workdir=DIR IMAGE        a line of separated characters -> text
  htr write "some text" --out=FILE.inkml         text -> synthetic ink of a random writer
  htr serve --models=DIR [--port=8000]           HTTP API + drawing page over exported models

Files are read by content (htr/inputs.py): InkML or IAM-OnDB line XML is ink, anything
else an image. What the model does with them (text, top-5 classes, LaTeX) is the
checkpoint's task, through its inference hooks; nothing here knows a task.
"""

from __future__ import annotations

import argparse
import os
import sys

from htr.errors import InputError

_BATCH = 16  # Files per model call.


def _predictor(args):
  """A `Predictor` over the workdir's checkpoint, or the SavedModel as a server runs it."""
  if args.saved_model:
    if args.beam_width is not None or args.lm is not None:
      raise InputError("--beam_width and --lm need --workdir: an exported model's search "
                       "is fixed in its graph when it is exported")
    from htr.serve.models import load_model
    return load_model(os.path.basename(os.path.normpath(args.saved_model)), args.saved_model)
  from htr.predict import Predictor
  return Predictor(args.workdir, decode={"beam_width": args.beam_width, "lm_path": args.lm},
                   model_axis=args.model_axis)


def _print(path: str, result: dict) -> None:
  if "top" in result:
    print(f"{path}: {result['text']}")
    for rank, top in enumerate(result["top"], 1):
      print(f"  {rank}\t{top['label']}\t{top['probability']:.4f}")
    return
  confidence = result.get("confidence")
  print(f"{path}\t{result['text']}\t" + ("-" if confidence is None else f"{confidence:.3f}"))


def _recognize(args) -> int:
  from htr import inputs
  values = [inputs.read_file(path) for path in args.files]
  predictor = _predictor(args)
  if args.line:
    return _read_lines(predictor, args.files, values)
  examples = [predictor.prepare(value, path) for value, path in zip(values, args.files)]
  for start in range(0, len(examples), _BATCH):
    results = predictor.run(examples[start:start + _BATCH])
    for path, result in zip(args.files[start:], results):
      if "error" in result:
        raise InputError(result["error"], path=path)
      _print(path, result)
  return 0


def _read_lines(predictor, paths: list[str], values: list) -> int:
  """Each image is a line of separated characters: segmented, each one read."""
  from htr.image import segment
  for path, value in zip(paths, values):
    try:
      characters = segment.segment(value)
    except (InputError, ValueError) as e:
      raise InputError(getattr(e, "reason", str(e)), path=path) from None
    results = predictor.run([predictor.prepare(c.image, path) for c in characters])
    print(f"{path}: {''.join(r['text'] for r in results)}")
    for character, result in zip(characters, results):
      top = "  ".join(f"{t['label']} {t['probability']:.3f}" for t in result.get("top", []))
      print(f"  {result['text']}\t{top}\tbox={character.box}")
  return 0


def _write(args) -> int:
  import numpy as np
  from htr.ink import inkml, synthetic
  rng = np.random.default_rng(args.seed)
  ink = synthetic.write_line(args.text, synthetic.sample_writer(rng), rng)
  inkml.write_inkml(ink, {"truth": args.text}, args.out)
  print(f"{args.out}: {ink.num_strokes} strokes, {ink.num_points} points")
  return 0


def _add_model_arguments(verb: argparse.ArgumentParser) -> None:
  verb.add_argument("files", nargs="+", help="InkML or IAM-OnDB line XML files, or images "
                    "(PNG, JPEG, TIFF, ...: any size, colour or polarity)")
  source = verb.add_mutually_exclusive_group(required=True)
  source.add_argument("--workdir", help="a trained workdir (its best checkpoint)")
  source.add_argument("--saved_model", help="an export (WORKDIR/export: its default "
                      "variant) or one SavedModel folder")
  verb.add_argument("--beam_width", type=int, default=None,
                    help="beam width (default: the config's; CTC: prefix beam search)")
  verb.add_argument("--lm", default=None, help="character n-gram LM file for a CTC beam")
  verb.add_argument("--model_axis", type=int, default=None,
                    help="devices per input (2: a BiLSTM's directions run on two; with "
                         "--cpu_devices=2 the fastest layout on a 2-core CPU)")
  verb.add_argument("--line", action="store_true",
                    help="each image is a line of separated characters: segment it and "
                         "read each character (character models)")


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="htr", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest="command", required=True)
  for name, help_text in (("recognize", "ink or image files -> what the model reads in them"),
                          ("classify", "character images -> top-5 classes (= recognize)"),
                          ("latex", "math ink files -> LaTeX and score (= recognize)")):
    verb = commands.add_parser(name, help=help_text)
    _add_model_arguments(verb)
    verb.set_defaults(run=_recognize)
  write = commands.add_parser("write", help="text -> InkML in a random synthetic writer's hand")
  write.add_argument("text", help="what to write (IAM-OnDB characters)")
  write.add_argument("--out", required=True, help="the InkML file to write")
  write.add_argument("--seed", type=int, default=0, help="picks the writer and the noise")
  write.set_defaults(run=_write)
  from htr.serve import server
  serve = commands.add_parser("serve", help="HTTP API and drawing page over exported models")
  server.add_arguments(serve)
  serve.set_defaults(run=server.run)
  parser.add_argument("--cpu_devices", type=int, default=None,
                      help="CPU devices for JAX (e.g. one per core; default: JAX's, one)")
  args = parser.parse_args(argv)
  if args.cpu_devices is not None:  # Only then import JAX (htr write needs none).
    from htr import sharding
    sharding.set_cpu_devices(args.cpu_devices)
  if args.command != "serve":  # Each command is a new process: reuse its compiles.
    from htr import xla_cache
    xla_cache.enable()
  try:
    return args.run(args)
  except (InputError, OSError) as e:  # OSError: a missing file, a folder, no permission.
    print(f"htr {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
