"""Runs an exported SavedModel with plain TensorFlow, as a server would: no htr import.

  python tests/saved_model_runner.py MODEL_DIR INPUTS.npz OUTPUTS.npz

Each array of INPUTS.npz named `BATCH__NAME` is input NAME of one call of the
default signature; every output of call BATCH is saved as `BATCH__OUTPUT`, and
the model's metadata asset as `metadata.json` text. Exits with an error if
anything imported htr (the parity tests rely on that).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(model_dir: str, inputs_path: str, outputs_path: str) -> None:
  model = tf.saved_model.load(model_dir)
  serve = model.signatures["serving_default"]
  calls: dict[str, dict[str, np.ndarray]] = {}
  with np.load(inputs_path) as inputs:
    for key in inputs.files:
      call, name = key.split("__", 1)
      calls.setdefault(call, {})[name] = inputs[key]
  out = {}
  for call, arrays in calls.items():
    for name, value in serve(**{k: tf.constant(v) for k, v in arrays.items()}).items():
      value = value.numpy()
      if value.dtype == object:  # tf.string -> unicode.
        value = np.vectorize(lambda b: b.decode("utf-8"), otypes=[str])(value)
      out[f"{call}__{name}"] = value
  with open(os.path.join(model_dir, "assets", "metadata.json")) as f:
    out["metadata.json"] = np.array(json.dumps(json.load(f)))
  if any(m == "htr" or m.startswith("htr.") for m in sys.modules):
    sys.exit("the SavedModel runner imported htr")
  np.savez(outputs_path, **out)


if __name__ == "__main__":
  main(*sys.argv[1:])
