r"""Handwritten math (ink -> rendered image -> LaTeX): Swin encoder + Transformer decoder.

Train on the offline default (synthetic math ink, generated on first use):
  python -m htr.main --config=configs/math_swin.py --workdir=/tmp/htr/math
  python -m htr.main --config=configs/math_swin.py --workdir=/tmp/htr/math \
      --mode=eval --split=test

Evaluate that model on CROHME 2013 (the InkML archives in ~/crohme, see datasets/crohme):
  python -m htr.main --config=configs/math_swin.py:data=crohme --workdir=/tmp/htr/math \
      --config.data.manual_dir=~/crohme --mode=eval --split=validation

Train on MathWriting (mathwriting-2024.tgz or its folder in ~/mathwriting), the seed's
model size, two-way tensor parallelism and bf16 on an accelerator:
  python -m htr.main --config=configs/math_swin.py:data=mathwriting,size=base,model_axis=2 \
      --config.data.manual_dir=~/mathwriting --config.compute_dtype=bfloat16 \
      --workdir=/tmp/htr/mathwriting

Recognise an InkML file with a trained workdir, or export it and serve it (the server
renders ink as training did and answers in LaTeX):
  htr latex --workdir=/tmp/htr/math FILE.inkml
  python -m htr.main --workdir=/tmp/htr/math --mode=export --export_dir=/srv/htr-models/math
  htr serve --models=/srv/htr-models

Arguments (after the colon): data=synthetic|flat|mathwriting|crohme, size=tiny|small|base,
encoder=swin|conv (the seed's Swin, or a convolutional encoder as WAP/CoMER use),
model_axis=N (devices per tensor-parallel group: parameters sharded over the mesh's
"model" axis by SHARDING_RULES), symbol_maps (train each encoder cell to name the symbol
it shows, from the strokes' tokens of synthetic_math or CROHME's trace groups; with
encoder=conv the CPU recipe, see the README), runlocal (two steps with small batches on
tiny data, for laptops and tests), overfit=N (the recipe check: train and evaluate on the first N
training expressions, no augmentation, dropout or label smoothing; a model that can
learn must read them all exactly).
"""

import math

import ml_collections
from ml_collections import config_dict

from htr import config_lib

# Model sizes. `base` is the seed's: a Swin-T encoder (embed 96, depths 2/2/6/2, heads
# 3/6/12/24) and an 8-layer decoder with 8 heads; `small` (8x8 patches, two stages)
# trains on a shared CPU in half an hour; `tiny` is for tests.
SIZES = {
    "tiny": dict(
        encoder=dict(patch_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 2), window=4),
        decoder=dict(num_layers=1, dim=32, num_heads=2, mlp_dim=64), image_height=32),
    "small": dict(
        encoder=dict(patch_size=8, embed_dim=48, depths=(2, 2), num_heads=(2, 4), window=8),
        decoder=dict(num_layers=2, dim=128, num_heads=4, mlp_dim=384), image_height=64),
    "base": dict(
        encoder=dict(patch_size=4, embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                     window=8),
        decoder=dict(num_layers=8, dim=256, num_heads=8, mlp_dim=1024), image_height=128),
}

# The convolutional alternative (encoder=conv, htr/models/conv_encoder.py): WAP/CoMER's
# kind of encoder, at stride 8 (small) where Swin small works at 16.
CONV_ENCODERS = {
    "tiny": dict(features=(8, 16, 16), pools=((2, 2), (2, 2), (2, 2))),
    "small": dict(features=(32, 64, 96, 128, 160),
                  pools=((2, 2), (2, 2), (1, 1), (2, 2), (1, 1))),
    "base": dict(features=(64, 128, 128, 256, 256, 384),
                 pools=((2, 2), (1, 1), (2, 2), (1, 1), (2, 2), (2, 2))),
}

DATASETS = {
    # TFDS name, train split, eval split, test split.
    "synthetic": ("synthetic_math/small", "train", "validation", "test"),
    # A curriculum's first stage: no fractions, roots or brackets (synthetic_math/flat),
    # with the vocabulary of synthetic_math/small so `data=synthetic` chains from it.
    "flat": ("synthetic_math/flat", "train", "validation", "test"),
    "mathwriting": ("mathwriting", "train", "valid", "test"),
    # CROHME 2014 training set; the 2013 test set validates (2014's own test set, if
    # present, is "test").
    "crohme": ("crohme", "train", "validation", "test"),
}

# Megatron-style tensor parallelism over the "model" mesh axis: attention heads and MLP
# hidden units are split, so each device holds 1/N of every large matrix (and of its
# optimizer moments, which match the same paths). With model_axis=1 these are no-ops.
SHARDING_RULES = (
    (r"(qkv|cross_kv_\d+)/kernel$", (None, None, "model", None)),  # [in, 3|2, heads, dh]
    (r"(qkv|cross_kv_\d+)/bias$", (None, "model", None)),
    (r"cross_q/kernel$", (None, "model", None)),                  # [in, heads, dh]
    (r"cross_q/bias$", ("model", None)),
    (r"(attention_out|self_out|cross_out)/kernel$", ("model", None, None)),  # [heads, dh, out]
    (r"mlp_in/kernel$", (None, "model")),                         # [in, hidden]
    (r"mlp_in/bias$", ("model",)),
    (r"mlp_out/kernel$", ("model", None)),                        # [hidden, out]
)
SWIN_SHARDING_RULES = (
    (r"relative_position_bias$", (None, "model")),                # [positions, heads]
)

_RENDER = ("render_ink(height={image_height}, pen_width={pen_width}, max_width={max_width},"
           " stroke_height={stroke_height}{placement})")
_RENDER_PLAIN = _RENDER.replace("{placement}", "")
_PP_PREDICT = "decode_ink|" + _RENDER_PLAIN + "|keep(keys=('id', 'image'))"
_PP_EVAL = "decode_ink|" + _RENDER_PLAIN + "|keep(keys=('id', 'image', 'label'))"
_TOKENS = ("|encode_latex(vocab={vocab!r}, key={label_key!r})"
           "|keep(keys=('id', 'image', 'tokens'))")
_AUGMENT = ("decode_ink|random_affine(p=0.8, scale=(0.9, 1.1), aspect=(0.85, 1.15),"
            " rotation_deg=3.0, shear=0.15)")
_PP_TRAIN = _AUGMENT + "|" + _RENDER_PLAIN.replace("{pen_width}", "{train_pen_width}") + _TOKENS
# With symbol maps: where each stroke's symbol lies on the encoder's grid, a target per cell.
_PP_TRAIN_MAPS = (
    _AUGMENT + "|" + _RENDER.replace("{pen_width}", "{train_pen_width}").replace(
        "{placement}", ", placement_key='ink_placement'")
    + "|symbol_map(vocab={vocab!r}, stride={symbol_stride})"
    + _TOKENS.replace("'tokens')", "'tokens', 'symbol_map')"))
_PP_TEACHER_FORCED = "decode_ink|" + _RENDER_PLAIN + _TOKENS


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, data="synthetic", size="small", encoder="swin",
                             model_axis=1, runlocal=False, overfit=0, symbol_maps=False)
  if arg.encoder not in ("swin", "conv"):
    raise ValueError(f"unknown encoder={arg.encoder!r}; known: swin, conv")
  if arg.data not in DATASETS:
    raise ValueError(f"unknown data={arg.data!r}; known: {sorted(DATASETS)}")
  if arg.symbol_maps and arg.data not in ("synthetic", "flat", "crohme"):
    raise ValueError("symbol_maps needs each stroke's token, which synthetic math and "
                     "CROHME's trace groups give (data=synthetic|flat|crohme)")
  size = SIZES[arg.size]
  config = config_lib.trainer_defaults(ml_collections.ConfigDict())
  config.task = "seq2seq"             # htr/tasks/seq2seq.py
  config.vocab_min_count = 1          # Training-label tokens seen fewer times become <unk>.
  config.label_smoothing = 0.1        # Cross-entropy against (1 - a) one-hot + a / tokens.
  config.count_loss_weight = 0.0      # CAN's symbol-counting loss (model.count_symbols).
  config.ctc_loss_weight = 0.0        # CTC of the drawn symbols over the encoder's cells.
  config.symbol_map_loss_weight = 1.0 if arg.symbol_maps else 0.0  # Each cell's symbol.

  config.data = ml_collections.ConfigDict()
  data = config.data
  name, train_split, eval_split, test_split = DATASETS[arg.data]
  data.name = name                    # TFDS name (datasets/ holds htr's builders).
  data.data_dir = config_dict.placeholder(str)  # TFDS data dir (None: ~/tensorflow_datasets).
  data.manual_dir = config_dict.placeholder(str)  # Downloaded files (MathWriting, CROHME).
  data.train_split = train_split      # Split trained on (and the vocabulary built from).
  # Dataset whose train labels make the vocabulary instead (a curriculum's later stage).
  data.vocab_name = config_dict.placeholder(str)
  if arg.data == "flat":
    data.vocab_name = "synthetic_math/small"
  data.eval_split = eval_split        # Split evaluated during training (early stopping).
  data.test_split = test_split        # Split for final reports (--mode=eval --split=...).
  data.input_kind = "ink"             # What users give the model (htr/inputs.py).
  data.label_key = "normalized_label"  # Record field the decoder learns (normalised LaTeX).
  data.image_height = size["image_height"]  # Ink is rendered at this height (pixels).
  data.pen_width = 2.0 * data.image_height / 64  # Eval/predict pen diameter (pixels).
  data.train_pen_width = (0.6 * data.pen_width, 1.6 * data.pen_width)  # Train: random pen.
  # Pixels of an ink's typical stroke (None: every ink fitted to the height, so a lone
  # symbol is drawn 3-4x larger than the same symbol in a fraction).
  data.stroke_height = config_dict.placeholder(float)
  data.width_buckets = tuple(data.image_height * k for k in (2, 3, 4, 6, 8, 12, 16))  # Padded.
  data.max_width = data.width_buckets[-1]  # Wider inks are shrunk to fit the largest bucket.
  # Padded label length: <bos> label <eos>.
  data.max_tokens = {"synthetic": 64, "flat": 64, "crohme": 128}.get(arg.data, 160)
  data.pp_train = _PP_TRAIN_MAPS if arg.symbol_maps else _PP_TRAIN  # Ops + augmentation.
  data.pp_eval = _PP_EVAL             # Eval ops: render, keep the label to score against.
  data.pp_predict = _PP_PREDICT       # Inference ops (ink -> image), `htr latex`.
  # Eval images with their token targets, no augmentation: what overfit checks train on
  # and htr/token_kinds.py scores teacher-forced.
  data.pp_teacher_forced = _PP_TEACHER_FORCED
  data.window_batches = 16            # Batches per width-sorted window (1: no sorting).
  data.skip_bad = False               # Skip (and log) bad samples instead of failing.
  data.num_threads = 2                # Preprocessing threads per process.
  data.prefetch = 8                   # Batches prefetched per process.

  config.model = ml_collections.ConfigDict()
  config.model.name = "transformer_decoder"  # htr/models/transformer_decoder.Model.
  config.model.encoder = (dict(name="swin.Swin", **size["encoder"]) if arg.encoder == "swin"
                          else dict(name="conv_encoder", **CONV_ENCODERS[arg.size]))
  config.model.encoder["dropout"] = 0.1  # Encoder dropout (Swin: on residual branches).
  if arg.encoder == "swin":  # Patches embedded by 3x3 stride-2 convs, not one projection.
    config.model.encoder["conv_stem"] = False
  data.symbol_stride = _grid_stride(config.model.encoder)  # Pixels per cell (symbol maps).
  config.model.decoder = dict(size["decoder"])  # htr/models/transformer_decoder.Decoder.
  config.model.count_symbols = False  # A counting head on the memory, for count_loss_weight.
  config.model.ctc_symbols = False    # A CTC head on the grid's cells, for ctc_loss_weight.
  config.model.map_symbols = bool(arg.symbol_maps)  # A classifier of each cell's symbol.
  config.model.decoder["max_length"] = data.max_tokens  # Positions the decoder can see.
  config.model.decoder["positions"] = "sinusoidal"  # "sinusoidal" (the seed's) or "learned".
  config.model.decoder["dropout"] = 0.1  # Decoder embedding and residual dropout.

  config.decode = ml_collections.ConfigDict()
  config.decode.beam_width = 1        # 1: greedy; >1: beam search (both inside jit).
  config.decode.length_alpha = 1.0    # Hypotheses ranked by log-prob / length**alpha.

  config.mesh = (("data", -1), ("model", arg.model_axis))  # Tensor parallel over "model".
  config.sharding_rules = SHARDING_RULES + (  # Which parameters split over "model".
      SWIN_SHARDING_RULES if arg.encoder == "swin" else ())
  config.batch_size = 32
  config.eval_batch_size = 64
  synthetic = arg.data in ("synthetic", "flat")
  config.num_train_steps = 3000 if synthetic else 100_000
  config.eval_every = 500 if synthetic else 5000
  config.eval_max_batches = 8 if synthetic else None
  config.log_every = 50
  config.checkpoint_every = 500
  config.early_stopping_patience = 0
  config.optimizer.learning_rate = 1e-3 if arg.size != "base" else 3e-4
  config.optimizer.warmup_steps = 300 if synthetic else 2000
  config.optimizer.weight_decay = 0.05
  config.optimizer.grad_clip_norm = 1.0

  if arg.overfit:
    _overfit(config, arg.overfit)
  if arg.runlocal:
    config_lib.runlocal(config)
    data.window_batches = 2
    if synthetic:
      data.name = "synthetic_math/tiny"
      data.vocab_name = None
  return config


def _grid_stride(encoder: dict) -> int:
  """Pixels per cell of the encoder's output grid, the same down and across."""
  if encoder["name"] == "swin.Swin":
    return encoder["patch_size"] * 2 ** (len(encoder["depths"]) - 1)
  rows, columns = (math.prod(p) for p in zip(*encoder["pools"]))
  if rows != columns:
    raise ValueError(f"pools {encoder['pools']} shrink rows by {rows}, columns by {columns}")
  return rows


def _overfit(config: ml_collections.ConfigDict, n: int) -> None:
  """Memorise the first `n` training expressions: what the model and loss can learn at
  all, apart from how well they generalise."""
  data = config.data
  data.train_split = data.eval_split = data.test_split = f"{data.train_split}[:{n}]"
  data.pp_train = _PP_TEACHER_FORCED
  config.model.encoder["dropout"] = 0.0
  config.model.decoder["dropout"] = 0.0
  config.label_smoothing = 0.0
  config.optimizer.weight_decay = 0.0
  config.optimizer.warmup_steps = 100
  config.num_train_steps = 2000
  config.eval_every = 250
  config.eval_max_batches = None
