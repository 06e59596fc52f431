r"""Offline handwriting (line or word image -> text): CRNN (2-D convs + BiLSTM) + CTC.

Train on the offline default, synthetic_lines (synthetic ink pictured as scans and photos;
it builds once, in about two minutes):
  python -m htr.main --config=configs/offline_crnn.py --workdir=/tmp/htr/offline

Train on IAM-OnDB's real strokes rendered the same way (files in ~/iam_ondb):
  python -m htr.main --config=configs/offline_crnn.py:data=iam_ondb \
      --config.data.manual_dir=~/iam_ondb --workdir=/tmp/htr/offline_iam

Read images of lines with it:
  htr recognize --workdir=/tmp/htr/offline line.png photo_of_a_word.jpg

Fine-tune on handwritten lines of real pages (ALTO or PAGE-XML in ~/pages, see
datasets/page_lines), starting from a model trained on rendered ink, with IAM-OnDB's
strokes mixed into training so a few pages do not wash out its many writers (how the zoo's
offline-pages-small was made; data=pages trains on the page lines alone):
  python -m htr.main --config=configs/offline_crnn.py:data=pages_iam \
      --config.data.manual_dir=~/pages --config.data.mixture.iam_ondb.manual_dir=~/iam_ondb \
      --config.init_from=zoo:offline-iam-small --config.num_train_steps=800 \
      --config.optimizer.learning_rate=5e-4 --config.optimizer.warmup_steps=50 \
      --workdir=/tmp/htr/offline_pages

Arguments (after the colon): data=synthetic|iam_ondb|pages|pages_iam|kaggle_names, size=tiny|small|base,
model_axis (devices per BiLSTM: 2 runs its two directions on two devices, as for
configs/online_ctc.py), runlocal (two steps with small batches on tiny data, for laptops
and tests).

The task is htr's CTC task, unchanged: this family is this file and htr/models/crnn.py.
Training lines come from ink builders and are rendered, degraded into a scan or a photo
(`degrade_scan`: paper, ruling, ink colour and pressure, uneven light, skew, blur, noise,
JPEG or binarisation) and read back by `line_image`, the op every user image goes
through. data=synthetic evaluates on synthetic_lines' stored pictures of the same kind
(fixed images of writers unseen in training); data=iam_ondb on clean scans rendered from
its ink.
"""

import ml_collections
from ml_collections import config_dict

from htr import config_lib
from htr.models import bilstm

# conv_pools: (rows, columns) per block; 64-pixel lines end 4 rows high, 1/4 the width.
# `small` is PyLaia's shape (few channels while the image is large, more as it shrinks):
# 0.97M parameters, a third of the conv FLOPs of 32/64/96/128 channels at the same width.
SIZES = {
    "tiny": dict(conv_features=(8, 16), conv_pools=((4, 2), (4, 2)), lstm_units=(16,)),
    "small": dict(conv_features=(16, 32, 48, 64, 80), lstm_units=(128, 128),
                  conv_pools=((2, 2), (2, 2), (2, 1), (2, 1), (1, 1))),
    "base": dict(conv_features=(64, 128, 256, 256, 384), lstm_units=(256, 256, 256),
                 conv_pools=((2, 2), (2, 2), (2, 1), (2, 1), (1, 1))),
}

DATASETS = {
    # name, train split, eval split, test split
    "synthetic": ("synthetic_lines/small", "train", "validation", "test"),  # Ink + pictures.
    "iam_ondb": ("iam_ondb", "trainset", "testset_v", "testset_f"),
    "pages": ("page_lines/handwritten", "train", "validation", "test"),  # Real page lines.
    "kaggle_names": ("kaggle_names", "train", "validation", "test"),  # Seed 004's names.
    # A mixture (`_pages_iam_mixture`): real page lines, with IAM-OnDB's rendered
    # strokes in training only; evaluated on the page lines alone.
    "pages_iam": ("pages_iam", "train", "validation", "test"),
}

_LABELS = "|encode_text(alphabet={alphabet!r})|keep(keys=('id', 'inputs', 'labels'))"
_READ = "|line_image(height={height}, max_width={max_width})"
_PP_TRAIN = ("decode_ink|normalize|random_affine(p=0.8, scale=(0.9, 1.1), aspect=(0.85, 1.15), "
             "rotation_deg=1.5, shear=0.35)|render_ink(height={render_height}, "
             "pen_width=(1.2, 4.0), stroke_jitter=0.15)|degrade_scan" + _READ)
# Stored line images have no ink to re-render: the read line is slanted, turned,
# stretched (every letter kept), thickened or thinned and noised instead.
_AUGMENT_STORED = ("|augment_line(p=0.8, max_width={max_width})|thickness(p=0.3, key='inputs')"
                   "|image_noise(p=0.3, sigma=0.05, key='inputs')")
_PP_EVAL = ("decode_ink|render_ink(height={render_height}, pen_width=2.5)"
            "|degrade_scan(p_ruling=0.0, p_binary=0.0, p_jpeg=0.0, max_skew_deg=0.0)"
            + _READ)


def _pages_iam_mixture() -> ml_collections.ConfigDict:
  """Handwritten lines of real pages (a few hundred) and IAM-OnDB's strokes rendered as
  scans (5,364 lines of 200 writers), half and half: fine-tuning on a few pages without
  forgetting the many hands the model learnt from. Each component reads its lines into
  `line_image`'s form; IAM-OnDB's files come from its own `manual_dir`."""
  return ml_collections.ConfigDict({
      "pages": dict(name="page_lines/handwritten", weight=0.5,
                    pp=_READ.lstrip("|") + "|transcription",
                    splits=dict(train="train", validation="validation", test="test")),
      "iam_ondb": dict(name="iam_ondb", weight=0.5, pp=_PP_TRAIN,
                       manual_dir=config_dict.placeholder(str),
                       splits=dict(train="trainset", validation=None, test=None)),
  })


def line_data(arg: ml_collections.ConfigDict, train_labels: str = _LABELS,
              eval_labels: str = _LABELS) -> ml_collections.ConfigDict:
  """`config.data` of every offline line model: where lines come from, how they are
  pictured and read. `*_labels`: the ops after `line_image` that make the labels (CTC
  ids here; the encoder-decoder's tokens in configs/offline_trocr.py)."""
  data = config_lib.dataset(*DATASETS[arg.data])
  data.alphabet = "iam_ondb"          # Alphabet name (htr/text/alphabet.py) or "chars:abc...".
  data.input_kind = "image"           # What users give the model (htr/inputs.py).
  data.height = 64                    # Line height the model reads (pixels).
  data.render_height = 80             # Ink is drawn this high, then cropped to its ink.
  data.max_width = 2048               # Wider lines are shrunk to this width.
  data.input_shape = (data.height, None, 1)  # One example's inputs; None: padded width.
  data.pp_train = _PP_TRAIN + train_labels  # Train: augment the ink, render, degrade, read.
  data.pp_eval = _PP_EVAL + eval_labels  # Eval: a clean scan of the same rendering.
  data.pp_predict = _READ.lstrip("|") + "|keep(keys=('id', 'inputs'))"  # User images.
  data.buckets = (128, 192, 256, 384, 512, 768, 1024, 1536, 2048)  # Padded widths.
  data.max_label_length = 128         # Padded label length.
  data.window_batches = 16            # Batches per width-sorted window (1: no sorting).
  data.skip_bad = False               # Skip (and log) bad samples instead of failing.
  data.num_threads = 2                # Preprocessing threads per process.
  data.prefetch = 8                   # Batches prefetched per process.

  if arg.data == "synthetic":  # Train re-renders the stored ink; eval reads the pictures.
    data.pp_eval = _READ.lstrip("|") + eval_labels
  if arg.data == "pages_iam":  # Each component reads its own lines: labels in common.
    data.mixture = _pages_iam_mixture()
    data.pp_train = _AUGMENT_STORED.lstrip("|") + train_labels
    data.pp_eval = eval_labels.lstrip("|")
    data.skip_bad = True  # As for pages.
  if arg.data in ("pages", "kaggle_names"):  # Stored line images: read, then labelled.
    # Page transcriptions mark superscripts and struck ink (`transcription`).
    read = _READ.lstrip("|") + ("|transcription" if arg.data == "pages" else "")
    data.pp_train = read + _AUGMENT_STORED + train_labels
    data.pp_eval = read + eval_labels
    data.skip_bad = True  # Lines with characters outside the alphabet: logged, skipped.
  if arg.runlocal:
    data.window_batches = 2
    if arg.data == "synthetic":
      data.name = "synthetic_lines/tiny"
  return data


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, data="synthetic", size="small", model_axis=1,
                             runlocal=False)
  if arg.data not in DATASETS:
    raise ValueError(f"unknown data={arg.data!r}; known: {sorted(DATASETS)}")
  config = config_lib.trainer_defaults(ml_collections.ConfigDict())
  config.task = "ctc"                 # htr/tasks/ctc.py: the same task as online ink.
  config.data = line_data(arg)
  config.alphabet = config.data.get_ref("alphabet")  # The characters CTC writes.

  config.model = ml_collections.ConfigDict(dict(name="crnn", **SIZES[arg.size]))
  config.model.conv_dropout = 0.1     # Dropout after each conv block.
  config.model.lstm_dropout = 0.25    # Dropout after each BiLSTM layer.

  config.decode = config_lib.ctc_decode()  # Greedy, or prefix beam search + LM.

  config.mesh = (("data", -1), ("model", arg.model_axis))  # Directions over "model".
  config.sharding_rules = bilstm.DIRECTION_SHARDING_RULES  # Which parameters split there.
  # A line's columns split over "model" too: each device runs the conv stack on its half
  # (htr/sharding.py BatchLayout; README, Speed).
  config.batch_sharding_rules = ((r"^inputs$", ("data", None, "model", None)),)
  config.batch_size = 32
  config.eval_batch_size = 64
  config.num_train_steps = 20_000
  config.eval_every = 1000
  config.checkpoint_every = 250
  config.early_stopping_patience = 10
  config.optimizer.learning_rate = 1e-3
  config.optimizer.warmup_steps = 500

  if arg.runlocal:
    config_lib.runlocal(config)
  return config
