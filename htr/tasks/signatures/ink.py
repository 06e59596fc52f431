"""Raw pen points in; the config's `pp_predict` chain runs inside the graph.

`htr/ink/preprocess_jax.py` is the jnp port of the host ops (held equal by
tests/test_preprocess_jax.py), so a client sends what a pen gives and the SavedModel
does the rest, and the server batches inks of any length.
"""

from __future__ import annotations

import jax
import ml_collections
import numpy as np

from htr.errors import InputError
from htr.ink.ink import Ink, validate
from htr.tasks.signatures import SignatureInput


def ink_points(ink: Ink) -> np.ndarray:
  """float32 `[N, 4]`: x, y, t and stroke index, the signature's rows."""
  return np.concatenate([ink.points, ink.stroke_ids[:, None].astype(np.float32)], 1)


def _example(points: np.ndarray) -> dict[str, np.ndarray]:
  return {"points": points, "lengths": np.int32(len(points))}


def _too_long(resampled: int, max_points: int) -> str:
  return (f"the ink is too long for this model: {resampled - max_points} of its resampled "
          f"points do not fit the export's {max_points}-point buffer; send it in parts")


def preparer(spacing: float, max_points: int):
  """`prepare(ink, where)`: a validated ink -> one example of the signature's inputs
  (and `frames`, its resampled length).

  An ink whose resampled points would not fit the graph's buffer is refused here, on
  the host, in milliseconds, not after a batch has carried it through the model.
  """
  from htr.ink import preprocess

  def prepare(ink, where: str) -> dict[str, np.ndarray]:
    if not isinstance(ink, Ink):
      raise InputError("this model reads ink (pen strokes), not images", sample_id=where)
    validate(ink, sample_id=where)
    resampled = preprocess.resample(
        preprocess.normalize(preprocess.remove_duplicates(ink)), spacing).num_points
    if resampled > max_points:
      raise InputError(_too_long(resampled, max_points), sample_id=where)
    # Not a signature input: the frames the graph will see, which a server batches by.
    return {**_example(ink_points(ink)), "frames": np.int32(resampled)}

  return prepare


def warm_up(words: int) -> list[dict[str, np.ndarray]]:
  """A three-point ink, then synthetic lines of 1 to `words` words: the frame-axis
  lengths (htr.export.length_buckets) that typical lines bring."""
  from htr.ink import synthetic
  examples = [_example(np.array([[0, 0, 0, 0], [1, 1, 0.01, 0], [2, 0, 0.02, 0]],
                                np.float32))]
  rng = np.random.default_rng(0)
  for n in range(1, words + 1):
    text = synthetic.sample_line(rng, min_words=n, max_words=n)
    examples.append(_example(ink_points(
        synthetic.write_line(text, synthetic.sample_writer(rng), rng))))
  return examples


def signature_input(config: ml_collections.ConfigDict) -> SignatureInput:
  from htr.ink import preprocess_jax
  data = config.data
  spec = data.pp_predict.format(**data)
  max_points = max(data.buckets)  # The resampling buffer: the longest training bucket.
  batched = jax.vmap(preprocess_jax.build(spec, max_points))

  def preprocess(inputs):
    features, lengths, cut = batched(inputs["points"], inputs["lengths"])
    return {"inputs": features, "input_lengths": lengths, "points_cut": cut}

  def check(outputs) -> str | None:
    cut = int(outputs["points_cut"])
    return _too_long(max_points + cut, max_points) if cut else None

  return SignatureInput(
      kind="ink", accepts=("ink",),
      inputs={"points": ("float32", ("b", "n", 4)), "lengths": ("int32", ("b",))},
      preprocess=preprocess,
      batch_shapes={"inputs": f"(b, t, {len(data.features)})", "input_lengths": "(b,)"},
      prepare=preparer(data.resample_spacing, max_points), warm_up=warm_up,
      trim={"inputs": "input_lengths"},
      outputs={"points_cut": "points_cut"},
      check=check,
      settings={"pp_predict": spec, "features": list(data.features),
                "resample_spacing": data.resample_spacing, "max_points": max_points},
      description=(
          "points float32 [batch, num_points, 4]: x, y (any units, y down), t (seconds, "
          "relative) and stroke index (a new stroke wherever it changes); lengths int32 "
          "[batch]: real points per ink (>= 1), the rest is padding. Also returns "
          f"points_cut int32 [batch]: resampled points past the {max_points}-point "
          "buffer, not read (0 for all but absurdly long inks; htr serve refuses an ink "
          "with any)."))
