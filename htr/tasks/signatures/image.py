"""Line or word images in: prepared on the host by the config's `pp_predict` ops (crop to
the ink, fixed height, ink 1.0 on 0.0), so a client sends any picture of a line and
the graph sees what training saw; widths vary, the server pads them to a few sizes."""

from __future__ import annotations

import ml_collections
import numpy as np

from htr.data import registry
from htr.errors import InputError
from htr.tasks.signatures import SignatureInput


def signature_input(config: ml_collections.ConfigDict) -> SignatureInput:
  data = config.data
  spec = data.pp_predict.format(**data)
  ops = registry.build(spec)
  height = data.input_shape[0]

  def prepare(image, where: str) -> dict[str, np.ndarray]:
    if not isinstance(image, np.ndarray):
      raise InputError("this model reads images of lines, not ink", sample_id=where)
    line = ops({"id": where, "image": image}, np.random.default_rng(0))["inputs"][..., 0]
    return {"image": line, "widths": np.int32(line.shape[1])}

  def warm_up(words: int) -> list[dict[str, np.ndarray]]:
    del words  # Widths, not words, make the shapes: the server pads them to buckets.
    return [{"image": np.zeros((height, 64), np.float32), "widths": np.int32(64)}]

  return SignatureInput(
      kind="image", accepts=("image",),
      inputs={"image": ("float32", ("b", height, "w")), "widths": ("int32", ("b",))},
      preprocess=lambda inputs: {"inputs": inputs["image"][..., None],
                                 "input_lengths": inputs["widths"]},
      batch_shapes={"inputs": f"(b, {height}, w, 1)", "input_lengths": "(b,)"},
      prepare=prepare, warm_up=warm_up,
      settings={"pp_predict": spec, "height": height, "host_preprocess": "pp_predict"},
      description=(
          f"image float32 [batch, {height}, width]: line images prepared by pp_predict "
          "(cropped to the ink, ink 1.0 on 0.0, zero-padded on the right); widths int32 "
          "[batch]: each image's real width."))
