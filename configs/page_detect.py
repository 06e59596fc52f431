r"""Text-line detection on page images (page -> line polygons and boxes): a small fully
convolutional network predicting shrunk line regions at stride 4 (htr/tasks/detect.py).

Synthetic letters, notes, forms and two-column pages (the default; no download, built on
first use in about two minutes, see datasets/synthetic_pages):
  python -m htr.main --config=configs/page_detect.py --workdir=/tmp/htr/detect_synthetic

Real pages (ALTO or PAGE-XML with their images in ~/pages, see datasets/page_layout):
  python -m htr.main --config=configs/page_detect.py:data=layout \
      --config.data.manual_dir=~/pages --workdir=/tmp/htr/detect_layout

IAM-OnDB forms drawn as pages (~/iam_ondb as for configs/online_ctc.py:data=iam_ondb):
  python -m htr.main --config=configs/page_detect.py:data=iam_pages \
      --config.data.manual_dir=~/iam_ondb --workdir=/tmp/htr/detect_iam
  python -m htr.main --config=configs/page_detect.py:data=iam_pages \
      --config.data.manual_dir=~/iam_ondb --workdir=/tmp/htr/detect_iam \
      --mode=eval --split=testset_v

Arguments (after the colon): data=synthetic|layout|iam_pages, size=tiny|small|base,
model_axis (devices that share one page, by rows: `htr --cpu_devices=2 recognize --page
--model_axis=2` on two cores), runlocal (two steps with small batches on the pages of
`page_layout_fixture`, built offline from the page_layout test fixture: laptops and the
tests), local_data=fixture|synthetic (what runlocal trains on: that fixture, or
`synthetic_pages/tiny`'s 20 small pages, built in a few seconds).
"""

import ml_collections

from htr import config_lib

# Widths per size. Parameters: tiny 29k, small 0.56M, base 3.6M; one 512x512 page on one
# CPU core (jitted predict, 2026-12 machine): 15, 56 and 149 ms.
SIZES = {
    "tiny": dict(stem_features=8, stage_features=(8, 16, 16, 32),
                 blocks_per_stage=(1, 1, 1, 1), fpn_features=16),
    "small": dict(stem_features=16, stage_features=(32, 64, 96, 128),
                  blocks_per_stage=(1, 1, 1, 1), fpn_features=64),
    "base": dict(stem_features=32, stage_features=(48, 96, 160, 256),
                 blocks_per_stage=(2, 2, 2, 2), fpn_features=96),
}

DATASETS = {
    # TFDS name, train / eval / test splits (as the builders write them), working image side.
    # Scanned pages (~1400x2200 px, lines 70-100 px high) need 1024 for lines of 8-12 cells
    # at stride 4 (at 512 they are 4-6: too coarse to grow back within IoU 0.5 reliably);
    # IAM-OnDB pages (~1300x900, 7-8 lines) have lines of ~40 px at 512. Synthetic pages
    # (~950x1300) at 1024 have handwritten lines of 25-45 px and printed ones of ~15 px.
    "synthetic": ("synthetic_pages", "train", "validation", "test", 1024),
    "layout": ("page_layout/all", "train", "validation", "test", 1024),
    "iam_pages": ("iam_ondb_pages", "trainset", "testset_v", "testset_v", 512),
}

_AUGMENT = ("|page_augment(p=0.8, scale=0.2, rotation_deg=2.0, perspective=0.03,"
            " contrast=0.3, brightness=0.15, blur_p=0.3, jpeg_p=0.3, noise=0.03)")
_KEEP = "|keep(keys=('id', 'image', 'scale', 'original_size'{extra}))"
_TARGET_KEYS = ", 'region', 'edges', 'boxes', 'num_boxes'"


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, data="synthetic", size="small", model_axis=1,
                             runlocal=False, local_data="fixture")
  if arg.data not in DATASETS:
    raise ValueError(f"unknown data={arg.data!r}; known: {sorted(DATASETS)}")
  if arg.size not in SIZES:
    raise ValueError(f"unknown size={arg.size!r}; known: {sorted(SIZES)}")
  config = config_lib.trainer_defaults(ml_collections.ConfigDict())
  config.task = "detect"              # htr/tasks/detect.py

  name, train_split, eval_split, test_split, page_size = DATASETS[arg.data]
  config.data = config_lib.dataset(name, train_split, eval_split, test_split)
  data = config.data
  data.input_kind = "image"           # What `htr` reads for this task: a page image.
  data.page_size = page_size          # Working image side: the page's longer side, padded.
  data.stride = 32                    # The model's total stride: page_size is a multiple.
  data.max_lines = 256                # Boxes per page kept for evaluation.
  data.shrink = 0.5                   # Fraction of a line's height its target core keeps.
  fit = "decode_page|fit_page(size={page_size}, stride={stride})"
  targets = "|line_targets(stride=4, shrink={shrink}, max_lines={max_lines})"
  data.pp_train = fit + _AUGMENT + targets + _KEEP.format(extra=_TARGET_KEYS)
  data.pp_eval = fit + targets + _KEEP.format(extra=_TARGET_KEYS)
  data.pp_predict = fit + _KEEP.format(extra="")  # A user's page image -> model input.
  data.window_batches = 1             # Fixed-shape pages: nothing to sort by length.
  data.skip_bad = False               # Skip (and log) bad samples instead of failing.
  data.num_threads = 2                # Preprocessing threads per process.
  data.prefetch = 4                   # Batches prefetched per process.

  config.model = ml_collections.ConfigDict(dict(name="line_detector", **SIZES[arg.size]))

  config.detect = ml_collections.ConfigDict()
  config.detect.threshold = 0.5       # Region probability above which a cell is text.
  config.detect.shrink = data.get_ref("shrink")  # Decoder's grow-back ratio: the targets'.
  config.detect.min_area = 3          # Components of fewer cells (stride 4) are dropped.
  config.detect.link_gap = 1.0        # Pieces of a line this many core heights apart join.
  config.detect.dice_weight = 1.0     # Loss: BCE + this * dice on the region map...
  config.detect.edge_weight = 0.2     # ...+ this * L1 of core cells' edge distances (cells).

  config.mesh = (("data", -1), ("model", arg.model_axis))
  # A page's rows split over "model": each device runs the network on its band (XLA
  # exchanges the rows at the seams); one 1,024-pixel page on two devices in about half
  # the time of one (htr/sharding.py BatchLayout; README, Speed).
  config.batch_sharding_rules = ((r"^image$", ("data", "model", None, None)),)
  config.batch_size = 16
  config.eval_batch_size = 16
  config.num_train_steps = 20_000
  config.eval_every = 1000
  config.log_every = 50
  config.checkpoint_every = 500
  config.optimizer.learning_rate = 2e-3
  config.optimizer.warmup_steps = 500
  config.optimizer.weight_decay = 1e-4

  if arg.runlocal:
    config_lib.runlocal(config)
    if arg.local_data == "synthetic":
      data.name = "synthetic_pages/tiny"  # 20 small pages, built offline in seconds.
    elif arg.local_data == "fixture":
      data.name = "page_layout_fixture"  # Built offline from the page_layout test fixture.
      data.train_split = data.eval_split = data.test_split = "train"
    else:
      raise ValueError(f"unknown local_data={arg.local_data!r}; known: fixture, synthetic")
    data.page_size = 256
    data.max_lines = 64 if arg.local_data == "synthetic" else 32  # Two columns: ~50 lines.
    data.num_threads = 1
  return config
