"""Math data end to end: synthetic_math/tiny -> render_ink -> width-bucketed batches, and
the symbol maps laid over them."""

import ml_collections
import numpy as np
import pytest

from htr.data import pipeline, registry
from htr.data.bucketing import PadSpec
from htr.errors import InputError
from htr.ink import Ink
from htr.tasks import get_task
from htr.text import latex

WIDTHS = (64, 128, 256, 512)


def test_rendered_batches_have_bucketed_widths(data_dir):
  source = pipeline.load_source("synthetic_math/tiny", "train", data_dir=data_dir)
  data = ml_collections.ConfigDict({
      "pp_train": "decode_ink|render_ink(height=32, pen_width=(1.0, 2.5), max_width=512)",
      "pp_eval": "decode_ink|render_ink(height=32, max_width=512)",
      "window_batches": 4, "skip_bad": False})
  pad = {"image": PadSpec(WIDTHS, 0.0, "image_width", axis=1)}
  for train in (True, False):
    ds = pipeline.make_dataset([pipeline.Component(source)], data, pad=pad, sort_key="image",
                               split="train", batch_size=8, train=train, seed=0)
    for i in range(4):
      batch = ds[i]
      images, widths = batch["image"], batch["image_width"]
      assert images.dtype == np.float32 and images.shape[0] == 8
      assert images.shape[1] == 32 and images.shape[2] in WIDTHS and images.shape[3] == 1
      for image, width, label in zip(images, widths, batch["label"]):
        assert image[:, :width].max() > 0.5 and not image[:, width:].any()
        assert latex.tokenize(label.decode() if isinstance(label, bytes) else label)


def _two_symbols() -> dict:
  """An `x` (two crossing strokes) on the left, a `2` far to its right."""
  x = [np.array([[0.0, 0.0, 0.0], [10.0, 10.0, 0.1]]),
       np.array([[10.0, 0.0, 0.2], [0.0, 10.0, 0.3]])]
  two = [np.array([[40.0, 0.0, 0.4], [50.0, 0.0, 0.5], [40.0, 10.0, 0.6], [50.0, 10.0, 0.7]])]
  return {"id": "e1", "ink": Ink.from_strokes(x + two), "stroke_tokens": b"x x 2"}


def test_symbol_map_names_the_symbol_under_each_cell():
  vocab = latex.Vocabulary.from_labels(["x 2"])
  op = registry.build("render_ink(height=32, pen_width=1.0, padding=0.0, "
                      "placement_key='ink_placement')"
                      f"|symbol_map(vocab={vocab.tokens!r}, stride=8)")
  out = op(_two_symbols(), np.random.default_rng(0))
  width = out["image"].shape[1]
  assert out["symbol_map"].shape == (4, -(-width // 8)) and width == 156
  x, two = vocab.tokens.index("x"), vocab.tokens.index("2")
  # The x spans pixels 0-31 across, the 2 pixels 124-156; the gap between is blank.
  left = out["symbol_map"][:, :4]
  assert (np.diag(left) == x).all() and (np.diag(left[:, ::-1]) == x).all()  # Its strokes.
  assert set(left.ravel()) == {x, latex.PAD}
  assert (out["symbol_map"][[0, 3], -4:] == two).all()  # The 2's top and foot.
  assert (out["symbol_map"][:, 4:15] == latex.PAD).all()
  # A stroke of no known symbol (<unk>, or outside the vocabulary) is not scored.
  unknown = op({**_two_symbols(), "stroke_tokens": b"x x <unk>"}, np.random.default_rng(0))
  assert (unknown["symbol_map"][[0, 3], -4:] == -1).all()
  assert (unknown["symbol_map"][:, :4] == left).all()
  with pytest.raises(InputError, match="e1.*2 stroke tokens for 3 strokes"):
    op({**_two_symbols(), "stroke_tokens": b"x 2"}, np.random.default_rng(0))


def test_training_batches_carry_symbol_maps_on_the_encoders_grid(data_dir, load_config):
  config = load_config("math_swin", "runlocal,size=tiny,symbol_maps")
  config.data.data_dir = data_dir
  task = get_task(config)
  pad, sort_key = task.padding()
  data = config.data
  source = pipeline.load_source(data.name, "train", data_dir=data_dir)
  ds = pipeline.make_dataset([pipeline.Component(source)], data, pad=pad, sort_key=sort_key,
                             split="train", batch_size=4, train=True, seed=0,
                             fields=task.data_fields())
  batch = ds[0]
  stride = data.symbol_stride
  assert batch["symbol_map"].shape == (4, data.image_height // stride,
                                       batch["image"].shape[2] // stride)
  for symbols, width in zip(batch["symbol_map"], batch["image_width"]):
    cells = -(-width // stride)
    assert (symbols[:, cells:] == -1).all() and (symbols[:, :cells] >= 0).all()
    assert (symbols[:, :cells] != latex.PAD).any()
