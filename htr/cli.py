"""The `htr` command: use trained models from the shell.

  htr recognize --workdir=DIR FILE [FILE ...]    any input the model reads -> its result
  htr recognize --saved_model=DIR FILE [...]     the same through an exported SavedModel
  htr recognize --lines=PAGE.xml IMAGE           a page's given lines (PAGE-XML, ALTO or
        [--format=json|page|alto] [--out=FILE]   page JSON) read -> the page, in a format
  htr recognize --detector=DETECTOR IMAGE        a whole page: lines found by a detector
        [--format=...] [--out=FILE]              (workdir, export or zoo entry), put in
                                                 reading order and read -> the page
  htr classify ... / htr latex ...               the same verb under the names users know
  htr classify --line --workdir=DIR IMAGE        a line of separated characters -> text
  htr write "some text" --out=FILE.inkml         text -> synthetic ink of a random writer
  htr recognize [--model=NAME] FILE [...]        the same with a zoo entry (default: the
                                                 zoo's model for the files' kind)
  htr evaluate_pages --detector=D --workdir=R     a page dataset read end to end: page CER,
        [--data=page_layout/handwritten]         lines found, seconds per page (p50, p95)
  htr zoo list | add WORKDIR NAME | eval NAME    the model zoo (htr/zoo/)
  htr serve --models=DIR [--port=8000]           HTTP API + drawing page over exported models

Files are read by content (htr/inputs.py): InkML or IAM-OnDB line XML is ink, anything
else an image. What the model does with them (text, top-5 classes, LaTeX) is the
checkpoint's task, through its inference hooks; nothing here knows a task.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from htr.errors import InputError

_BATCH = 16  # Files per model call.


def _model_source(args, kind: str) -> str:
  """The model the arguments name: a SavedModel, a workdir, or a zoo entry (`--model`,
  else the zoo's default for the files' `kind`)."""
  if args.saved_model or args.workdir:
    return args.saved_model or args.workdir
  from htr import zoo
  return (zoo.entry(args.model) if args.model else zoo.default_for(kind)).source


def _predictor(args, kind: str):
  """A `Predictor` over a workdir's checkpoint or a zoo entry, or the SavedModel as a
  server runs it (`_model_source`)."""
  source = _model_source(args, kind)
  if args.saved_model:
    if args.beam_width is not None or args.lm is not None:
      raise InputError("--beam_width and --lm need --workdir: an exported model's search "
                       "is fixed in its graph when it is exported")
    from htr.serve.models import load_model
    return load_model(os.path.basename(os.path.normpath(source)), source)
  from htr.predict import Predictor
  return Predictor(source, decode={"beam_width": args.beam_width, "lm_path": args.lm},
                   model_axis=args.model_axis)


def _print(path: str, result: dict, as_json: bool = False) -> None:
  if as_json:  # One object per input: every field the model returns (words, top, ...).
    print(json.dumps({"file": path, **result}, ensure_ascii=False))
    return
  if "top" in result:
    print(f"{path}: {result['text']}")
    for rank, top in enumerate(result["top"], 1):
      print(f"  {rank}\t{top['label']}\t{top['probability']:.4f}")
    return
  confidence = result.get("confidence")
  print(f"{path}\t{result['text']}\t" + ("-" if confidence is None else f"{confidence:.3f}"))


def _recognize(args) -> int:
  from htr import inputs
  if args.lines or args.detector or args.page:
    return _read_page(args)
  if args.format or args.out or args.skip_bad_lines:
    raise InputError("--format, --out and --skip_bad_lines write a page: give its lines "
                     "with --lines=FILE, or --page or a --detector to find them")
  values = [inputs.read_file(path) for path in args.files]
  predictor = _predictor(args, inputs.kind_of(values[0]))
  if args.line:
    return _read_lines(predictor, args.files, values)
  examples = [predictor.prepare(value, path) for value, path in zip(values, args.files)]
  for path, result in zip(args.files, _run_in_batches(predictor, examples)):
    if "error" in result:
      raise InputError(result["error"], path=path)
    _print(path, result, args.json)
  return 0


def _run_in_batches(predictor, examples: list) -> list[dict]:
  """`predictor.run` over `examples`, _BATCH at a time (memory stays bounded)."""
  return [result for start in range(0, len(examples), _BATCH)
          for result in predictor.run(examples[start:start + _BATCH])]


def _zoo_detector() -> str:
  """The folder of the zoo's default line detector (what --page finds lines with)."""
  from htr import zoo
  try:
    return zoo.default_for("page").path
  except InputError:
    raise InputError("no zoo entry finds a page's lines: pass --detector (a detect "
                     "workdir, its export or a zoo entry)") from None


def _detector(source: str, model_axis: int | None = None):
  """--detector: a detect workdir, an export (or one SavedModel) or a zoo entry -> the
  model, loaded once, refused unless it finds lines; `model_axis` devices share a page."""
  if os.path.isdir(source) and any(os.path.isfile(os.path.join(source, f))
                                   for f in ("saved_model.pb", "metadata.json")):
    from htr.serve.models import load_model
    model = load_model(os.path.basename(os.path.normpath(source)), source)
  else:
    from htr import zoo
    from htr.predict import Predictor
    workdir = os.path.isdir(source) and not os.path.isfile(os.path.join(source, zoo.MANIFEST))
    model = Predictor(source if workdir else zoo.entry(source).source, model_axis=model_axis)
  if model.returns != "lines":
    raise InputError(f"not a line detector: its model returns {model.returns}, not lines "
                     "(train one with configs/page_detect.py)", path=source)
  return model


def _read_page(args) -> int:
  """--lines or --detector: a page image's given or detected lines read, the page
  written in --format."""
  import dataclasses

  from htr import inputs
  from htr.image import page_pipeline, page_reading, page_writers
  if len(args.files) != 1 or args.line or args.json:
    flag = "--lines" if args.lines else "--detector" if args.detector else "--page"
    raise InputError(f"{flag} reads one page image "
                     f"(and writes --format, not --json or --line); got {len(args.files)} "
                     "file(s)")
  image_path = args.files[0]
  image = inputs.read_image(image_path)
  if args.lines:  # Both files are checked before a model is loaded.
    page = dataclasses.replace(page_reading.read_segmentation(args.lines), image=image_path)
    page_reading.check_size(image, page, lines_name=args.lines, image_name=image_path)
  else:
    detector = _detector(args.detector or _zoo_detector(), args.model_axis)
  predictor = _predictor(args, "line")
  if "image" not in predictor.accepts or predictor.returns != "text":
    raise InputError(f"the model reads {' or '.join(predictor.accepts)} into "
                     f"{predictor.returns}: a page needs a line recogniser (image -> text)",
                     path=args.workdir or args.saved_model or args.model or image_path)
  recognise = page_pipeline.recogniser(predictor.prepare, predictor.run)
  strict = not args.skip_bad_lines
  if args.lines:
    reading = page_reading.read_page_lines(image, page, recognise, batch_size=_BATCH,
                                           strict=strict, where=args.lines)
  else:
    def detect(pixels):
      (found,) = detector.run([detector.prepare(pixels, image_path)])
      return found["lines"]
    reading = page_pipeline.read_page(image, detect, recognise, name=image_path,
                                      batch_size=_BATCH, strict=strict)
  for line_id, reason in reading.failed:
    print(f"htr recognize: {args.lines or image_path}: line {line_id} written without "
          f"text: {reason}", file=sys.stderr)
  data = page_writers.serialise(reading.page, args.format or "json")
  if args.out:
    with open(args.out, "wb") as f:
      f.write(data)
  else:
    sys.stdout.write(data.decode("utf-8") + ("" if data.endswith(b"\n") else "\n"))
  return 0


def _evaluate_pages(args) -> int:
  """A detector and a line reader over a page dataset's split -> page CER and time."""
  from htr import inputs
  from htr.data import pipeline
  from htr.image import page_eval, page_model, page_pipeline, page_reading, page_records
  detector_source = args.detector or _zoo_detector()
  detector = _detector(detector_source, args.model_axis)
  predictor = _predictor(args, "line")
  recognise = page_pipeline.recogniser(predictor.prepare, predictor.run)

  def read(image, name: str) -> page_reading.PageReading:
    (found,) = detector.run([detector.prepare(image, name)])
    if not found["lines"]:  # Nothing found: every truth line is missed, not an error.
      height, width = image.shape[:2]
      return page_reading.PageReading(page_model.Page(name, width, height, (), ""))
    return page_pipeline.read_detected(image, found["lines"], recognise, name=name,
                                       batch_size=_BATCH, strict=False)

  source = pipeline.load_source(args.data, args.split, data_dir=args.data_dir,
                                manual_dir=args.manual_dir)
  def pages():
    for i in range(min(len(source), args.limit or len(source))):
      record = source[i]
      truth = page_records.record_to_page(record)
      yield truth.image, inputs.decode_image(record["image_bytes"], truth.image,
                                             formats=None), truth
  types = args.line_types.split(",") if args.line_types else None
  report = page_eval.evaluate(pages(), read, line_types=types)
  report.update(data=args.data, split=args.split, line_types=types,
                detector=detector_source, reader=_model_source(args, "line"),
                decode={"beam_width": args.beam_width, "lm": args.lm})
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump(report, f, indent=1, ensure_ascii=False)
  print(f"{args.data}/{args.split}: " + ", ".join(
      f"{k} {v:.4g}" for k, v in report["metrics"].items()))
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


def _zoo(args) -> int:
  from htr import zoo
  if args.zoo_command == "list":
    for entry in zoo.entries():
      m = entry.manifest
      metrics = "; ".join(f"{split}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()
                                                     if k != "num_examples")
                          for split, values in m.get("metrics", {}).items())
      print(f"{entry.name}\t{m['task']}\treads {'/'.join(m['accepts'])}\t"
            f"{m['weights']['num_parameters'] / 1e6:.2f}M {m['weights']['format']} "
            f"{m['weights']['bytes'] / 2**20:.1f} MiB\t{metrics}")
    return 0
  if args.zoo_command == "add":
    from htr import publish
    entry = publish.add(args.workdir, args.name, splits=args.split, weights=args.weights,
                        folder=args.folder, description=args.description,
                        licence=args.licence, train_command=args.train_command,
                        cpu_hours=args.cpu_hours, default_for=args.default_for,
                        data_dir=args.data_dir, manual_dir=args.manual_dir,
                        eval_batch_size=args.eval_batch_size)
    print(f"{entry.path}: {entry.manifest['metrics']}")
    return 0
  from htr import evaluate, publish
  found = zoo.entry(args.name)
  config = publish.eval_config(zoo.load(found.source)[0], data_dir=args.data_dir,
                               manual_dir=args.manual_dir,
                               eval_batch_size=args.eval_batch_size)
  report = evaluate.evaluate(config, found.source, split=args.split, out_dir=args.out_dir)
  print(f"{found.name} {config.data.name}/{args.split}: {report['metrics']}")
  return 0


def _add_zoo_arguments(zoo_parser: argparse.ArgumentParser) -> None:
  verbs = zoo_parser.add_subparsers(dest="zoo_command", required=True)
  verbs.add_parser("list", help="the shipped entries and their metrics")
  add = verbs.add_parser("add", help="a run's best checkpoint -> a zoo entry")
  add.add_argument("workdir", help="the finished run")
  add.add_argument("name", help="the entry's name (htr/zoo/entries/NAME)")
  add.add_argument("--split", action="append", default=[],
                   help="a split to measure the entry on (repeat for several)")
  add.add_argument("--weights", default="int8", choices=("float32", "bfloat16", "int8"))
  add.add_argument("--folder", default=None, help="write it here instead of the zoo")
  add.add_argument("--description", default="", help="one line on what it is for")
  add.add_argument("--licence", default="", help="the terms of its weights")
  add.add_argument("--train_command", default="", help="the command the run was")
  add.add_argument("--cpu_hours", type=float, default=0.0, help="the run's compute")
  add.add_argument("--default_for", action="append", default=[],
                   help="input kinds it is the zoo's default model for (ink; image: a "
                        "character; line: a line image; page: a line detector)")
  evaluate = verbs.add_parser("eval", help="measure an entry on a split")
  evaluate.add_argument("name", help="the entry (or a folder of one)")
  evaluate.add_argument("--split", required=True, help="the split")
  evaluate.add_argument("--out_dir", default=None, help="where the report goes")
  for verb in (add, evaluate):
    verb.add_argument("--data_dir", default=None, help="TFDS data dir of the eval data")
    verb.add_argument("--manual_dir", default=None, help="downloaded files, if needed")
    verb.add_argument("--eval_batch_size", type=int, default=None,
                      help="default: the entry's config")


def _add_decode_arguments(verb: argparse.ArgumentParser) -> None:
  verb.add_argument("--beam_width", type=int, default=None,
                    help="beam width (default: the config's; CTC: prefix beam search)")
  verb.add_argument("--lm", default=None, help="character n-gram LM file for a CTC beam "
                    "(with --beam_width > 1)")


def _add_model_arguments(verb: argparse.ArgumentParser) -> None:
  verb.add_argument("files", nargs="+", help="InkML or IAM-OnDB line XML files, or images "
                    "(PNG, JPEG, TIFF, ...: any size, colour or polarity)")
  source = verb.add_mutually_exclusive_group()
  source.add_argument("--workdir", help="a trained workdir (its best checkpoint)")
  source.add_argument("--saved_model", help="an export (WORKDIR/export: its default "
                      "variant) or one SavedModel folder")
  source.add_argument("--model", help="a zoo entry (htr zoo list); with none of these, "
                      "the zoo's default for the files' kind")
  _add_decode_arguments(verb)
  verb.add_argument("--json", action="store_true",
                    help="print one JSON object per file (with each word's confidence)")
  verb.add_argument("--model_axis", type=int, default=None,
                    help="devices per input (2: a BiLSTM's directions run on two; with "
                         "--cpu_devices=2 the fastest layout on a 2-core CPU)")
  verb.add_argument("--line", action="store_true",
                    help="each image is a line of separated characters: segment it and "
                         "read each character (character models)")


def _add_page_arguments(verb: argparse.ArgumentParser) -> None:
  page = verb.add_argument_group("pages", "read a page image: its lines given (--lines) or "
                                 "found (--detector), read by the line model")
  lines = page.add_mutually_exclusive_group()
  lines.add_argument("--lines", default=None, help="the page's lines: PAGE-XML, ALTO or htr "
                     "page JSON of the one image given (its size); their texts are replaced")
  lines.add_argument("--detector", default=None, help="finds the lines: a line detector's "
                     "workdir (configs/page_detect.py), its export or a zoo entry; they "
                     "are put in reading order (XY-cut) and read")
  lines.add_argument("--page", action="store_true", help="the image is a whole page: its "
                     "lines found by the zoo's default line detector (as --detector)")
  page.add_argument("--format", default=None, choices=("json", "page", "alto"),
                    help="what to write: page JSON (default), PAGE-XML 2013 or ALTO v4")
  page.add_argument("--out", default=None, help="the file to write (default: stdout)")
  page.add_argument("--skip_bad_lines", action="store_true",
                    help="lines that cannot be cut or read are written without text (and "
                         "listed on stderr) instead of stopping")


def _add_page_evaluation_arguments(verb: argparse.ArgumentParser) -> None:
  verb.add_argument("--detector", default=None, help="a line detector's workdir, export "
                    "or zoo entry (default: the zoo's default line detector)")
  reader = verb.add_mutually_exclusive_group()
  reader.add_argument("--workdir", help="the line reader's workdir")
  reader.add_argument("--saved_model", help="the line reader's export")
  reader.add_argument("--model", help="the line reader's zoo entry")
  verb.add_argument("--data", default="page_layout/handwritten",
                    help="a page dataset (TFDS name; htr's page_layout records)")
  verb.add_argument("--split", default="test", help="the split (e.g. test, validation)")
  verb.add_argument("--data_dir", default=None, help="TFDS data dir")
  verb.add_argument("--manual_dir", default=None, help="the pages' files, to build it")
  verb.add_argument("--line_types", default=None, help="score only these line types "
                    "(comma-separated, e.g. handwritten); default: every line with text")
  _add_decode_arguments(verb)
  verb.add_argument("--limit", type=int, default=None, help="the first N pages only")
  verb.add_argument("--out", default=None, help="the JSON report (every page's texts)")


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="htr", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest="command", required=True)
  for name, help_text in (("recognize", "ink or image files -> what the model reads in them"),
                          ("classify", "character images -> top-5 classes (= recognize)"),
                          ("latex", "math ink files -> LaTeX and score (= recognize)")):
    verb = commands.add_parser(name, help=help_text)
    _add_model_arguments(verb)
    verb.set_defaults(run=_recognize, lines=None, detector=None, page=False, format=None,
                      out=None, skip_bad_lines=False)
    if name == "recognize":
      _add_page_arguments(verb)
  pages = commands.add_parser("evaluate_pages", help="a detector and a line reader over a "
                               "page dataset: page CER, lines found, seconds per page")
  _add_page_evaluation_arguments(pages)
  pages.set_defaults(run=_evaluate_pages, model_axis=None)
  write = commands.add_parser("write", help="text -> InkML in a random synthetic writer's hand")
  write.add_argument("text", help="what to write (IAM-OnDB characters)")
  write.add_argument("--out", required=True, help="the InkML file to write")
  write.add_argument("--seed", type=int, default=0, help="picks the writer and the noise")
  write.set_defaults(run=_write)
  zoo = commands.add_parser("zoo", help="pretrained models: list, add, eval")
  _add_zoo_arguments(zoo)
  zoo.set_defaults(run=_zoo)
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
