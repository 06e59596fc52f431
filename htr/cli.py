"""The `htr` command: use trained models from the shell.

  htr recognize --workdir=DIR FILE [FILE ...]    ink (InkML or IAM-OnDB XML) -> text
  htr recognize --saved_model=DIR FILE [...]     the same through an exported SavedModel
  htr write "some text" --out=FILE.inkml         text -> synthetic ink of a random writer
  htr classify --workdir=DIR IMAGE [IMAGE ...]   drawn characters -> top-5 with probabilities
  htr classify --line --workdir=DIR IMAGE        a line of separated characters -> text
  htr latex --workdir=DIR FILE [FILE ...]        math ink (InkML) -> LaTeX and its score
  htr serve --models=DIR [--port=8000]           HTTP API + drawing page over exported models
"""

from __future__ import annotations

import argparse
import os
import sys

from htr.errors import InputError

_EXPORTED_BATCH = 16  # Files per SavedModel call.


def _recognize(args) -> int:
  if args.saved_model:
    return _recognize_exported(args)
  from htr.recognize import Recognizer, read_ink
  inks = [read_ink(path) for path in args.files]
  recognizer = Recognizer(args.workdir, beam_width=args.beam_width, lm_path=args.lm,
                          model_axis=args.model_axis)
  for path, result in zip(args.files, recognizer(inks, ids=args.files)):
    print(f"{path}\t{result.text}\t{result.confidence:.3f}")
  return 0


def _recognize_exported(args) -> int:
  """What `htr serve` would answer, without a server: the search built into the graph."""
  from htr.recognize import read_ink
  from htr.serve.models import load_model
  if args.beam_width is not None or args.lm is not None:
    raise InputError("--beam_width and --lm need --workdir: an exported model's search "
                     "is fixed in its graph when it is exported")
  model = load_model(os.path.basename(os.path.normpath(args.saved_model)), args.saved_model)
  examples = [model.prepare_ink(read_ink(path), path) for path in args.files]
  for start in range(0, len(examples), _EXPORTED_BATCH):
    results = model.run(examples[start:start + _EXPORTED_BATCH])
    for path, result in zip(args.files[start:], results):
      if "error" in result:
        raise InputError(result["error"], path=path)
      confidence = result.get("confidence")
      print(f"{path}\t{result['text']}\t" + ("-" if confidence is None else f"{confidence:.3f}"))
  return 0


def _write(args) -> int:
  import numpy as np
  from htr.ink import inkml, synthetic
  rng = np.random.default_rng(args.seed)
  ink = synthetic.write_line(args.text, synthetic.sample_writer(rng), rng)
  inkml.write_inkml(ink, {"truth": args.text}, args.out)
  print(f"{args.out}: {ink.num_strokes} strokes, {ink.num_points} points")
  return 0


def _classify(args) -> int:
  from htr.classify import Classifier, read_image
  images = [read_image(path) for path in args.images]
  classifier = Classifier(args.workdir)
  if not args.line:
    for path, result in zip(args.images, classifier(images, ids=args.images)):
      print(f"{path}: {result.char}")
      for rank, (char, probability) in enumerate(result.top, 1):
        print(f"  {rank}\t{char}\t{probability:.4f}")
    return 0
  for path, image in zip(args.images, images):
    text, results = classifier.read_line(image, sample_id=path)
    print(f"{path}: {text}")
    for result in results:
      top = "  ".join(f"{char} {probability:.3f}" for char, probability in result.top)
      print(f"  {result.char}\t{top}\tbox={result.box}")
  return 0


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="htr", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest="command", required=True)
  recognize = commands.add_parser("recognize", help="ink files -> text and confidence")
  recognize.add_argument("files", nargs="+", help="InkML or IAM-OnDB line XML files")
  source = recognize.add_mutually_exclusive_group(required=True)
  source.add_argument("--workdir", help="a trained workdir (its best checkpoint)")
  source.add_argument("--saved_model", help="an export (WORKDIR/export: its default "
                      "variant) or one SavedModel folder")
  recognize.add_argument("--beam_width", type=int, default=None,
                         help="CTC prefix beam search width (default: the config's)")
  recognize.add_argument("--lm", default=None, help="character n-gram LM file for the beam")
  recognize.add_argument("--model_axis", type=int, default=1,
                         help="devices per line (2: a BiLSTM's directions run on two; "
                              "with --cpu_devices=2 the fastest layout on a 2-core CPU)")
  recognize.set_defaults(run=_recognize)
  write = commands.add_parser("write", help="text -> InkML in a random synthetic writer's hand")
  write.add_argument("text", help="what to write (IAM-OnDB characters)")
  write.add_argument("--out", required=True, help="the InkML file to write")
  write.add_argument("--seed", type=int, default=0, help="picks the writer and the noise")
  write.set_defaults(run=_write)
  classify = commands.add_parser(
      "classify", help="character images -> top-5 classes with probabilities")
  classify.add_argument("images", nargs="+", help="PNG, JPEG, ... files, any size or polarity")
  classify.add_argument("--workdir", required=True, help="a trained workdir (task=classify)")
  classify.add_argument("--line", action="store_true",
                        help="each image is a line of separated characters: print its text "
                             "and every character's top-5")
  classify.set_defaults(run=_classify)
  latex = commands.add_parser("latex", help="math ink files -> LaTeX and score")
  latex.add_argument("files", nargs="+", help="InkML files of handwritten expressions")
  latex.add_argument("--workdir", required=True, help="a trained workdir (task=seq2seq)")
  latex.add_argument("--beam_width", type=int, default=None,
                     help="beam search width (default: the config's; 1: greedy)")
  latex.set_defaults(run=_recognize, saved_model=None, lm=None,  # The same Recognizer.
                     model_axis=1)
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
