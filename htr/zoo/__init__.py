"""The model zoo: small pretrained models that ship with htr, to use, serve and fine-tune.

An entry is a folder `htr/zoo/entries/NAME/` with two files:
  manifest.json   what the model is and how it was made: task, config and vocabulary (the
                  task is rebuilt from them), metrics with the exact evaluation command,
                  training data, commands, steps and compute over its whole chain of runs,
                  code version, weight format, sha256, licence
  weights.npz     the parameters (and BatchNorm statistics), kernels compressed as
                  `manifest["weights"]["format"]` says (htr/weights.py); nothing else of
                  the train state

A source `zoo:NAME` names a shipped entry and `zoo:/path/to/folder` any entry folder;
everything that restores a checkpoint takes one (`checkpoint.restore_for_inference`): the
`htr` command (`--model=NAME`), `--mode=eval` and `--mode=export` (`--workdir=zoo:NAME`),
and fine-tuning (`--config.init_from=zoo:NAME`), which is how a training longer than one
machine's life becomes a chain of runs, each starting from the entry the last one left.
`htr zoo add WORKDIR NAME` turns a run's best checkpoint into an entry, re-measuring its
metrics with the compressed weights.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import os
import subprocess
from typing import Any

import ml_collections
import ml_dtypes
import numpy as np

from htr import weights as weights_lib
from htr.errors import InputError

ENTRIES = os.path.join(os.path.dirname(__file__), "entries")
PREFIX = "zoo:"
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
MAX_ENTRY_BYTES = 10 * 2**20  # Each entry; all of them: MAX_TOTAL_BYTES.
MAX_TOTAL_BYTES = 40 * 2**20


@dataclasses.dataclass(frozen=True)
class Entry:
  """One zoo entry: its folder and its manifest."""

  name: str
  path: str
  manifest: dict[str, Any]

  @property
  def source(self) -> str:
    return PREFIX + self.path

  @property
  def accepts(self) -> list[str]:
    return self.manifest["accepts"]


def is_source(source: Any) -> bool:
  return isinstance(source, str) and source.startswith(PREFIX)


def entry(source: str) -> Entry:
  """The entry a `zoo:NAME` or `zoo:/folder` source names."""
  name = source[len(PREFIX):] if is_source(source) else source
  path = name if os.sep in name else os.path.join(ENTRIES, name)
  manifest_path = os.path.join(path, MANIFEST)
  if not os.path.isfile(manifest_path):
    known = ", ".join(e.name for e in entries()) or "none"
    raise InputError(f"no zoo entry {name!r} (shipped entries: {known})", path=path)
  with open(manifest_path, encoding="utf-8") as f:
    manifest = json.load(f)
  return Entry(name=manifest["name"], path=path, manifest=manifest)


def entries() -> list[Entry]:
  """The shipped entries, by name."""
  if not os.path.isdir(ENTRIES):
    return []
  return [entry(os.path.join(ENTRIES, name)) for name in sorted(os.listdir(ENTRIES))
          if os.path.isfile(os.path.join(ENTRIES, name, MANIFEST))]


def default_for(kind: str) -> Entry:
  """The shipped entry that reads `kind` best ("ink"; "image": a character; "line": an
  image of a line of text; "page": finds a page's lines): the one its manifest names the
  default for that kind."""
  for candidate in entries():
    if kind in candidate.manifest.get("default_for", []):
      return candidate
  raise InputError(f"no zoo entry reads {kind}: pass --workdir, --saved_model or --model")


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def load(source: str) -> tuple[ml_collections.ConfigDict, dict[str, Any], dict[str, Any]]:
  """(config, task metadata, float32 variables as numpy) of an entry; the weights must
  match the manifest's sha256."""
  found = entry(source)
  manifest, path = found.manifest, os.path.join(found.path, WEIGHTS)
  if sha256(path) != manifest["weights"]["sha256"]:
    raise InputError("weights do not match the manifest's sha256 (a damaged or replaced "
                     "file)", path=path)
  with np.load(path) as stored:
    arrays = {k: stored[k] for k in stored.files}
  for key in manifest["weights"].get("bfloat16_keys", []):
    arrays[key] = arrays[key].view(ml_dtypes.bfloat16)
  return (ml_collections.ConfigDict(manifest["config"]), manifest["task_metadata"],
          weights_lib.decompress(arrays))


def _encode(variables: dict[str, Any], weights: str) -> tuple[bytes, list[str]]:
  """The weights file's bytes, and the keys stored as uint16 views of bfloat16 (npz has
  no bfloat16)."""
  stored = weights_lib.compress(variables, weights)
  bf16 = sorted(k for k, v in stored.items() if v.dtype == ml_dtypes.bfloat16)
  buffer = io.BytesIO()
  np.savez(buffer, **{k: v.view(np.uint16) if k in bf16 else v for k, v in stored.items()})
  return buffer.getvalue(), bf16


def code_version() -> str:
  """The htr checkout's commit (with "-dirty" for uncommitted changes), if it is one."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  try:
    commit = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
                            capture_output=True, text=True, timeout=10, check=True)
    return commit.stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return "unknown"


def write_entry(folder: str, *, name: str, variables: dict[str, Any],
                config: ml_collections.ConfigDict, task_metadata: dict[str, Any],
                accepts: list[str], weights: str, about: dict[str, Any]) -> Entry:
  """Writes an entry's weights and manifest (metrics are added by `add`)."""
  data, bf16 = _encode(variables, weights)
  if len(data) > MAX_ENTRY_BYTES:
    raise InputError(f"{len(data)} bytes of {weights} weights, over the zoo's "
                     f"{MAX_ENTRY_BYTES}-byte limit per entry: use int8", path=folder)
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, WEIGHTS), "wb") as f:
    f.write(data)
  import jax
  manifest = {
      "name": name, "task": config.task, "accepts": accepts,
      **about,
      "weights": {"file": WEIGHTS, "format": weights, "bytes": len(data),
                  "sha256": sha256(os.path.join(folder, WEIGHTS)), "bfloat16_keys": bf16,
                  "num_parameters": int(sum(np.size(x) for x in
                                            jax.tree.leaves(variables["params"])))},
      "code_version": code_version(),
      "created": datetime.date.today().isoformat(),
      "config": config.to_dict(),
      "task_metadata": task_metadata,
  }
  write_manifest(folder, manifest)
  return entry(folder)


def write_manifest(folder: str, manifest: dict[str, Any]) -> None:
  with open(os.path.join(folder, MANIFEST), "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False)
    f.write("\n")
