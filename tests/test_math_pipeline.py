"""Math data end to end: synthetic_math/tiny -> render_ink -> width-bucketed batches."""

import ml_collections
import numpy as np

from htr.data import pipeline
from htr.text import latex
from htr.data.bucketing import PadSpec

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
