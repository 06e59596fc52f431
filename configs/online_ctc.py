r"""Online handwriting (pen strokes -> text): Conv1D + BiLSTM + CTC.

Train on the offline default (synthetic ink, generated on first use):
  python -m htr.main --config=configs/online_ctc.py --workdir=/tmp/htr/online

Train on IAM-OnDB (files downloaded by hand into ~/iam_ondb, see datasets/iam_ondb):
  python -m htr.main --config=configs/online_ctc.py:data=iam_ondb,size=base \
      --config.data.manual_dir=~/iam_ondb --workdir=/tmp/htr/iam

Arguments (after the colon): data=synthetic|iam_ondb, size=tiny|small|base,
model_axis (devices per BiLSTM: 2 runs its two directions on two devices, by
SHARDING_RULES), runlocal (two steps with small batches on tiny data, for laptops and
tests).
"""

import ml_collections

from htr import config_lib
from htr.models import bilstm

# Model sizes. `base` is the architecture of the seed document (3 conv blocks
# 64/128/256, kernels 5/5/3, three BiLSTM layers of 256); `small` halves the
# frame rate twice with strided convs and narrows the LSTMs for CPU training.
SIZES = {
    "tiny": dict(conv_features=(16, 16), conv_kernels=(5, 3), conv_strides=(1, 2),
                 lstm_units=(16,)),
    "small": dict(conv_features=(64, 96, 128), conv_kernels=(5, 5, 3), conv_strides=(1, 2, 2),
                  lstm_units=(160, 160)),
    "base": dict(conv_features=(64, 128, 256), conv_kernels=(5, 5, 3), conv_strides=(1, 1, 1),
                 lstm_units=(256, 256, 256)),
}

# Each BiLSTM's direction axis over "model" (htr/models/bilstm.py). On a 2-core CPU (one
# device per core) a seed-size line takes ~2/3 of the time; batch-32 training is faster
# "data" parallel (README, Speed).
SHARDING_RULES = bilstm.DIRECTION_SHARDING_RULES

DATASETS = {
    # name, train split, eval split, test split
    "synthetic": ("synthetic_ink/small", "train", "validation", "test"),
    "iam_ondb": ("iam_ondb", "trainset", "testset_v", "testset_f"),
}

_LABELS = "|encode_text(alphabet={alphabet!r})|keep(keys=('id', 'inputs', 'labels'))"
_PP_PREDICT = ("decode_ink|remove_duplicates|normalize|resample(spacing={resample_spacing})"
               "|features(names={features})|keep(keys=('id', 'inputs'))")
_PP_TRAIN = ("decode_ink|remove_duplicates|normalize"
             "|random_affine(p=0.9, scale=(0.85, 1.15), aspect=(0.85, 1.15), rotation_deg=3.0,"
             " shear=0.3)|time_stretch(p=0.5, low=0.8, high=1.25)"
             "|resample(spacing={resample_spacing})|jitter(p=0.5, sigma=0.01)"
             "|features(names={features})" + _LABELS)


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, data="synthetic", size="small", model_axis=1,
                             runlocal=False)
  config = config_lib.trainer_defaults(ml_collections.ConfigDict())
  config.task = "ctc"                 # htr/tasks/ctc.py
  config.alphabet = "iam_ondb"        # Alphabet name (htr/text/alphabet.py) or "chars:abc...".

  config.data = config_lib.dataset(*DATASETS[arg.data])
  data = config.data
  data.alphabet = config.get_ref("alphabet")  # Same as config.alphabet (for the op specs).
  data.input_kind = "ink"             # What users give the model (htr/inputs.py).
  data.features = ("dx", "dy", "dt", "pen_up")  # Per-point input features (htr/ink/preprocess).
  data.input_shape = (None, len(data.features))  # One example's inputs; None: padded axis.
  data.resample_spacing = 0.1         # Arc-length spacing in line heights (~1 point per 0.1).
  data.pp_train = _PP_TRAIN           # Train preprocessing + augmentation ({...}: data fields).
  data.pp_predict = _PP_PREDICT       # Inference preprocessing (ink -> inputs).
  data.pp_eval = _PP_PREDICT.rsplit("|", 1)[0] + _LABELS  # Eval: the same plus labels.
  data.buckets = (128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072)  # Padded lengths.
  data.max_label_length = 128         # Padded label length (IAM-OnDB lines: < 100 chars).
  data.window_batches = 16            # Batches per length-sorted window (1: no sorting).
  data.skip_bad = False               # Skip (and log) bad samples instead of failing.
  data.num_threads = 2                # Preprocessing threads per process.
  data.prefetch = 8                   # Batches prefetched per process.

  config.model = ml_collections.ConfigDict(dict(name="lstm_ctc", **SIZES[arg.size]))
  config.model.conv_dropout = 0.1     # Dropout in the conv blocks.
  config.model.lstm_dropout = 0.25    # Dropout after each BiLSTM layer.

  config.decode = config_lib.ctc_decode()  # Greedy, or prefix beam search + LM.

  config.mesh = (("data", -1), ("model", arg.model_axis))  # Directions over "model".
  config.sharding_rules = SHARDING_RULES  # Which parameters split over "model".
  config.batch_size = 32
  config.eval_batch_size = 64
  config.num_train_steps = 1200 if arg.data == "synthetic" else 20_000
  config.eval_every = 400 if arg.data == "synthetic" else 1000
  config.checkpoint_every = 250
  config.early_stopping_patience = 10
  config.optimizer.learning_rate = 2e-3
  config.optimizer.warmup_steps = 200

  if arg.runlocal:
    config_lib.runlocal(config)
    data.window_batches = 2
    if arg.data == "synthetic":
      data.name = "synthetic_ink/tiny"
  return config

