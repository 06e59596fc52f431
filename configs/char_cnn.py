r"""Single handwritten characters (28x28 image -> class): the seed's CNN or a ResNet.

Train on scikit-learn's real digits (offline, about two minutes on 2 CPU cores):
  python -m htr.main --config=configs/char_cnn.py:data=digits --workdir=/tmp/htr/digits
  python -m htr.main --config=configs/char_cnn.py:data=digits --workdir=/tmp/htr/digits \
      --mode=eval --split=test

All 94 classes, synthetic writers (generated on first use; test writers held out):
  python -m htr.main --config=configs/char_cnn.py:data=synthetic94 --workdir=/tmp/htr/c94

EMNIST (TFDS downloads it, or put NIST's gzip.zip in TFDS's manual dir first):
  python -m htr.main --config=configs/char_cnn.py:data=emnist/balanced,size=base \
      --workdir=/tmp/htr/emnist_balanced

The seed's 94 classes: EMNIST byclass (62) mixed with the 32 ASCII symbols drawn by
synthetic writers in the EMNIST convention (`synthetic_chars/symbols`, built offline):
  python -m htr.main --config=configs/char_cnn.py:data=emnist94,size=base \
      --workdir=/tmp/htr/emnist94

Real isolated symbols (CROHME's segmented expressions, ~/crohme as for configs/math_swin.py)
mixed with synthetic glyphs and real digits, validated on writers it never saw:
  python -m htr.main --config=configs/char_cnn.py:data=real94 \
      --config.data.manual_dir=~/crohme --workdir=/tmp/htr/real94

Arguments (after the colon): data=digits|synthetic94|emnist94|real94|crohme94|emnist/<byclass|
bymerge|balanced|letters|digits|mnist>, model=cnn|resnet, size=tiny|small|base, runlocal
(two steps with small batches on tiny data, for laptops and tests).
"""

import ml_collections
from ml_collections import config_dict

from htr import config_lib
from htr.text import charsets

# Widths per size (parameters for 94 classes). `base` is the seed: conv
# 32/64/128/256 (pools after the first three), fully connected 512/256/128, 1.75M;
# its ResNet has the seed's 8 residual blocks, 1.07M. `small` (0.53M CNN, 0.32M
# ResNet) trains in minutes on a CPU; `tiny` is for tests.
SIZES = {
    "cnn": {
        "tiny": dict(conv_features=(8, 8, 16, 16), dense_features=(32,)),
        "small": dict(conv_features=(32, 64, 96, 128), dense_features=(256, 128)),
        "base": dict(conv_features=(32, 64, 128, 256), dense_features=(512, 256, 128)),
    },
    "resnet": {
        "tiny": dict(stem_features=8, stage_features=(8, 16), blocks_per_stage=(1, 1)),
        "small": dict(stem_features=32, stage_features=(32, 64, 128),
                      blocks_per_stage=(1, 1, 1)),
        "base": dict(stem_features=32, stage_features=(32, 64, 128),
                     blocks_per_stage=(2, 3, 3)),
    },
}
MODELS = {"cnn": "cnn", "resnet": "cnn.ResNet"}  # config.model.name: module[.Class].

DATASETS = {
    # TFDS name, classes (htr/text/charsets.py), train / eval / test splits.
    "digits": ("sklearn_digits", "digits", "train", "validation", "test"),
    "synthetic94": ("synthetic_chars/small", "chars94", "train", "validation", "test"),
    # A mixture (`_EMNIST94`): the splits are logical names each component maps.
    "emnist94": ("emnist94", "chars94", "train", "validation", "test"),
    # A mixture (`_real94_mixture`): CROHME's real symbols (writers of the 2013 test
    # files held out), synthetic glyphs and real digits.
    "real94": ("real94", "chars94", "train", "validation", "test"),
    # CROHME's real symbols alone (the 2013 test writers validate and test): what
    # real94 models are reported on, by held-out writer.
    "crohme94": ("crohme_symbols/chars94", "chars94", "train", "validation", "validation"),
}
# Datasets of ink, not images: their symbols are rendered in the EMNIST convention.
_RENDERED = {"crohme94": "render_glyph|char_label(classes='chars94')"}
# EMNIST has no validation split: the last 10% of train is held out for early
# stopping, so the test split is never looked at while training.
_EMNIST_SPLITS = ("train[:90%]", "train[90%:]", "test")
_EMNIST_CLASSES = {"byclass": "emnist_byclass", "bymerge": "emnist_balanced",
                   "balanced": "emnist_balanced", "letters": "emnist_letters",
                   "digits": "digits", "mnist": "digits"}
DATASETS.update({f"emnist/{name}": (f"emnist/{name}", classes, *_EMNIST_SPLITS)
                 for name, classes in _EMNIST_CLASSES.items()})
# EMNIST stores images transposed; letters numbers its classes from 1.
_EMNIST_PP = "decode_image|emnist_transpose"
_EMNIST_RELABEL = {
    "emnist/letters": "|relabel(from_classes='emnist_letters', to_classes='emnist_letters',"
                      " first_label=1)"}


def _emnist94_mixture(symbols: str) -> ml_collections.ConfigDict:
  """EMNIST byclass (labels 0-61 = CHARS94[:62]) + synthetic symbols (labels 62-93).

  Byclass is unbalanced: digits ~5% of examples each, capitals ~1.2%, small letters
  ~0.8%. A 25% share of symbols gives each symbol ~0.8%, as common as a small letter.
  """
  return ml_collections.ConfigDict({
      "emnist": dict(name="emnist/byclass", weight=0.75, pp=_EMNIST_PP,
                     splits=dict(zip(("train", "validation", "test"), _EMNIST_SPLITS))),
      "symbols": dict(name=symbols, weight=0.25, pp="decode_image",
                      splits=dict(train="train", validation="validation", test="test")),
  })


def _real94_mixture() -> ml_collections.ConfigDict:
  """Real isolated symbols from CROHME (crohme_symbols/chars94: digits, letters,
  operators, brackets; the 2014 training writers train, the 2013 test writers validate
  and test), synthetic 94-class glyphs for the classes CROHME lacks or has few of, and
  scikit-learn's real digits. Weights are shares of training examples."""
  held_out = dict(train="train", validation="validation", test="validation")
  return ml_collections.ConfigDict({
      "crohme": dict(name="crohme_symbols/chars94", weight=0.5, splits=held_out,
                     pp="render_glyph|char_label(classes='chars94')"),
      "synthetic": dict(name="synthetic_chars/small", weight=0.4, pp="decode_image",
                        splits=dict(train="train", validation="validation", test="test")),
      "digits": dict(name="sklearn_digits", weight=0.1,
                     pp="decode_image|relabel(from_classes='digits', to_classes='chars94')",
                     splits=dict(train="train", validation="validation", test="test")),
  })


# Mild, label-preserving distortions: more would turn some classes into others
# (rotated 6/9, sheared l/1//, thickened o/0/O), as the seed's augmentation did.
_AUGMENT = ("|random_affine_image(p=0.8, rotation_deg=10.0, scale=0.12, shear=0.25,"
            " translate=2.0)|elastic(p=0.4, alpha=6.0, sigma=3.0)|thickness(p=0.3)"
            "|image_noise(p=0.3, sigma=0.05)")


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, data="digits", model="cnn", size="small", runlocal=False)
  if arg.data not in DATASETS:
    raise ValueError(f"unknown data={arg.data!r}; known: {sorted(DATASETS)}")
  config = config_lib.trainer_defaults(ml_collections.ConfigDict())
  name, classes, train_split, eval_split, test_split = DATASETS[arg.data]
  config.task = "classify"            # htr/tasks/classify.py
  config.classes = classes            # Charset name (htr/text/charsets.py) or the characters.
  config.label_smoothing = 0.1        # Cross-entropy against (1 - a) one-hot + a / classes.
  # Also scored with the choice restricted to these classes, on their own examples:
  # digits as a 10-way problem (EMNIST's digits split; a canvas that asks for a digit).
  has_digits = classes != "digits" and set(charsets.DIGITS) <= set(charsets.named(classes))
  config.subsets = ml_collections.ConfigDict({"digits": "digits"} if has_digits else {})

  config.data = ml_collections.ConfigDict()
  data = config.data
  emnist = name.startswith("emnist")
  decode = (_EMNIST_PP + _EMNIST_RELABEL.get(name, "") if name.startswith("emnist/")
            else "" if name in ("emnist94", "real94")
            else _RENDERED.get(arg.data, "decode_image"))
  # EMNIST records have no id.
  keep = "|keep(keys=('image', 'label'))" if emnist else "|keep(keys=('id', 'image', 'label'))"
  data.name = name                    # TFDS name (datasets/ holds htr's builders).
  # Several datasets mixed into each split: {component: name, weight (share of training
  # examples), pp (its own ops, before pp_train/pp_eval), splits (logical -> its split)}.
  data.mixture = ({"emnist94": _emnist94_mixture("synthetic_chars/symbols"),
                   "real94": _real94_mixture()}.get(name, {}))
  data.data_dir = config_dict.placeholder(str)  # TFDS data dir (None: ~/tensorflow_datasets).
  data.manual_dir = config_dict.placeholder(str)  # Downloaded files (EMNIST's gzip.zip).
  data.train_split = train_split      # Split trained on.
  data.eval_split = eval_split        # Split evaluated during training (early stopping).
  data.test_split = test_split        # Split for final reports (--mode=eval --split=...).
  data.image_shape = (28, 28, 1)      # Model input after preprocessing (EMNIST convention).
  data.pp_train = (decode + _AUGMENT + keep).lstrip("|")  # Train ops + augmentation (host).
  data.pp_eval = (decode + keep).lstrip("|")  # Eval preprocessing: no augmentation.
  data.window_batches = 1             # Fixed-shape images: nothing to sort by length.
  data.skip_bad = False               # Skip (and log) bad samples instead of failing.
  data.num_threads = 2                # Preprocessing threads per process.
  data.prefetch = 8                   # Batches prefetched per process.

  config.model = ml_collections.ConfigDict(dict(name=MODELS[arg.model],
                                                **SIZES[arg.model][arg.size]))
  if arg.model == "cnn":
    config.model.conv_dropout = (0.1, 0.1, 0.2, 0.3)  # Per conv block: grows with depth.
    config.model.dense_dropout = 0.3  # After each hidden fully connected layer.
  else:
    config.model.dropout = 0.2        # Before the classifier.

  config.batch_size = 64
  config.eval_batch_size = 256
  # Digits: ~1,300 training images, 20 steps an epoch (99% validation accuracy after
  # ~250 steps); the others are 40-500x larger.
  config.num_train_steps = 600 if arg.data == "digits" else 10_000 if not emnist else 40_000
  config.eval_every = 200 if arg.data == "digits" else 1000
  config.log_every = 50
  config.checkpoint_every = 500
  config.early_stopping_patience = 0
  config.optimizer.learning_rate = 2e-3
  config.optimizer.warmup_steps = 100 if arg.data == "digits" else 500
  config.optimizer.weight_decay = 1e-4

  if arg.runlocal:
    config_lib.runlocal(config)
    if arg.data == "synthetic94":
      data.name = "synthetic_chars/tiny"
    if arg.data == "emnist94":
      data.mixture.symbols.name = "synthetic_chars/tiny"
    if arg.data == "real94":
      data.mixture.synthetic.name = "synthetic_chars/tiny"
  return config
