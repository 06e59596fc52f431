"""The serving command: flags -> ServeConfig -> uvicorn, shared by `htr serve` and
`python -m htr.serve`. Flags mirror ServeConfig's fields, with its docstring as help."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re

from htr.serve.config import ServeConfig


def _field_help() -> dict[str, str]:
  """ServeConfig's `Attributes:` entries by field name."""
  doc = ServeConfig.__doc__.split("Attributes:", 1)[1]
  entries = re.findall(r"^\s{4}(\w+): (.*?)(?=^\s{4}\w+: |\Z)", doc, re.M | re.S)
  return {name: " ".join(text.split()) for name, text in entries}


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """One flag per ServeConfig field, plus host, port and the access log."""
  helps = _field_help()
  parser.add_argument("--models", dest="models_dir", default=None,
                      help=helps["models_dir"] + " Default: every entry of the model zoo "
                      "(htr zoo list), exported once into --zoo_cache.")
  parser.add_argument("--zoo_cache", default=os.path.join("~", ".cache", "htr", "zoo"),
                      help="where zoo entries are exported for serving")
  parser.add_argument("--xla_cache", default="",
                      help="a folder for TensorFlow's persistent XLA cache: every input "
                           "shape of a graph is an XLA compile (seconds each, minutes for a "
                           "warm-up), which a restarted server then loads from here; "
                           "executables are for this machine's CPU, so never share the folder "
                           "between machines (default: off)")
  parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
  parser.add_argument("--port", type=int, default=8000, help="port to listen on")
  parser.add_argument("--access_log", action="store_true", help="log every request")
  parser.add_argument("--max_connections", type=int, default=1000,
                      help="open connections and requests at once; past it a 503 (bounds "
                           "what slow clients can hold)")
  defaults = ServeConfig(models_dir="")
  for field in dataclasses.fields(ServeConfig):
    if field.name == "models_dir":
      continue
    default = getattr(defaults, field.name)
    parser.add_argument(f"--{field.name}", type=type(default) if default is not None else str,
                        default=default, help=f"{helps[field.name]} (default {default})")


def zoo_models(cache: str) -> str:
  """A models folder that serves every shipped zoo entry.

  Each entry is exported (float32 graph of its weights) once into `cache`, under its
  name and the first 12 hex digits of its weights' sha256, so a new version of an entry
  is exported again and an unchanged one never is. With a default line detector and a
  default line reader in the zoo, a page model "page" joins them (`load_page_model`).
  """
  from htr import export, zoo
  from htr.errors import InputError
  from htr.serve.models import PAGE_MANIFEST
  cache = os.path.expanduser(cache)
  serving = os.path.join(cache, "serving")
  os.makedirs(serving, exist_ok=True)
  for entry in zoo.entries():
    target = os.path.join(cache, f"{entry.name}-{entry.manifest['weights']['sha256'][:12]}")
    if not os.path.isfile(os.path.join(target, "metadata.json")):
      logging.info("exporting zoo entry %s to %s", entry.name, target)
      export.export(entry.source, target, ("float32",))
    link = os.path.join(serving, entry.name)
    if os.path.islink(link):
      os.remove(link)
    os.symlink(target, link)
  try:
    parts = {"detector": zoo.default_for("page").name, "reader": zoo.default_for("line").name}
  except InputError:
    return serving
  os.makedirs(os.path.join(serving, "page"), exist_ok=True)
  with open(os.path.join(serving, "page", PAGE_MANIFEST), "w", encoding="utf-8") as f:
    json.dump({part: f"../{name}" for part, name in parts.items()}, f)
  return serving


def run(args: argparse.Namespace) -> int:
  """Serves until interrupted."""
  import uvicorn

  from htr.serve.app import create_app
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if args.xla_cache:  # Read by TensorFlow at its first XLA compile.
    flag = f"--tf_xla_persistent_cache_directory={os.path.expanduser(args.xla_cache)}"
    os.environ["TF_XLA_FLAGS"] = f"{os.environ.get('TF_XLA_FLAGS', '')} {flag}".strip()
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
  if args.models_dir is None:
    args.models_dir = zoo_models(args.zoo_cache)
  config = ServeConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ServeConfig)})
  if not os.path.isdir(config.models_dir):
    raise FileNotFoundError(f"no models folder {config.models_dir}")
  # uvicorn's fast parser (httptools) bounds neither header size nor idle sockets; the
  # app answers oversized headers with 431 and stalled bodies with 408, and a reverse
  # proxy in front bounds what reaches it before that.
  uvicorn.run(create_app(config), host=args.host, port=args.port,
              access_log=args.access_log, log_level="info",
              limit_concurrency=args.max_connections)
  return 0
