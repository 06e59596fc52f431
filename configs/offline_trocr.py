r"""Offline handwriting (line or word image -> text), TrOCR-style: a Swin encoder and a
Transformer decoder writing characters.

The same lines as configs/offline_crnn.py (its `line_data`: synthetic scans and photos,
IAM-OnDB rendered, real page lines, seed 004's names), read by the math family's
encoder-decoder over the alphabet's characters (htr/tasks/image_to_text.py):
  python -m htr.main --config=configs/offline_trocr.py --workdir=/tmp/htr/trocr
  python -m htr.main --config=configs/offline_trocr.py:data=iam_ondb \
      --config.data.manual_dir=~/iam_ondb --workdir=/tmp/htr/trocr_iam
  htr recognize --workdir=/tmp/htr/trocr line.png
  python -m htr.main --workdir=/tmp/htr/trocr --mode=export  # Image in, text out.

Fine-tune on real page lines as the CRNN does (`data=pages`, `init_from`).

Arguments (after the colon): data=synthetic|iam_ondb|pages|kaggle_names,
size=tiny|small|base, runlocal (two steps with small batches on tiny data).
"""

import ml_collections

from htr import config_lib

_CRNN = config_lib.sibling(__file__, "offline_crnn")

# The line is cut into patch_size x patch_size patches (64 / 8 = 8 rows for `small`);
# Swin windows of `window` patches; each stage after the first halves rows and columns.
# `base` is TrOCR-base-like in depth (Swin-T stages, 6 decoder layers).
SIZES = {
    "tiny": dict(
        encoder=dict(patch_size=8, embed_dim=16, depths=(2, 2), num_heads=(2, 2), window=4),
        decoder=dict(num_layers=1, dim=32, num_heads=2, mlp_dim=64)),
    "small": dict(
        encoder=dict(patch_size=8, embed_dim=64, depths=(2, 2, 2), num_heads=(2, 4, 8),
                     window=8),
        decoder=dict(num_layers=3, dim=192, num_heads=4, mlp_dim=768)),
    "base": dict(
        encoder=dict(patch_size=4, embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                     window=8),
        decoder=dict(num_layers=6, dim=256, num_heads=8, mlp_dim=1024)),
}

# After `line_image`: <bos> characters <eos> to learn; eval keeps the text to score
# (encoding it too, so lines with characters outside the alphabet are skipped exactly as
# the CRNN skips them, and both models are scored on the same lines).
_TRAIN_LABELS = "|encode_chars(vocab={vocab!r})|keep(keys=('id', 'inputs', 'tokens'))"
_EVAL_LABELS = "|encode_chars(vocab={vocab!r})|keep(keys=('id', 'inputs', 'text'))"


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, data="synthetic", size="small", runlocal=False)
  if arg.data not in _CRNN.DATASETS:
    raise ValueError(f"unknown data={arg.data!r}; known: {sorted(_CRNN.DATASETS)}")
  size = SIZES[arg.size]
  config = config_lib.trainer_defaults(ml_collections.ConfigDict())
  config.task = "image_to_text"       # htr/tasks/image_to_text.py
  config.label_smoothing = 0.1        # Cross-entropy against (1 - a) one-hot + a / tokens.

  config.data = _CRNN.line_data(arg, _TRAIN_LABELS, _EVAL_LABELS)
  data = config.data
  config.alphabet = data.get_ref("alphabet")  # The characters the decoder writes.
  data.image_height = data.get_ref("height")  # The seq2seq task's names for the line shape.
  data.width_buckets = data.get_ref("buckets")
  data.max_tokens = data.max_label_length + 2  # <bos> label <eos>.

  config.model = ml_collections.ConfigDict()
  config.model.name = "transformer_decoder"  # htr/models/transformer_decoder.Model.
  config.model.encoder = dict(name="swin.Swin", dropout=0.1, **size["encoder"])
  config.model.decoder = dict(size["decoder"], max_length=data.max_tokens,
                              positions="sinusoidal", dropout=0.1)

  config.decode = ml_collections.ConfigDict()
  config.decode.beam_width = 1        # 1: greedy; >1: beam search (both inside jit).
  config.decode.length_alpha = 1.0    # Hypotheses ranked by log-prob / length**alpha.

  config.batch_size = 32
  config.eval_batch_size = 64
  config.num_train_steps = 20_000
  config.eval_every = 1000
  config.eval_max_batches = None
  config.checkpoint_every = 250
  config.early_stopping_patience = 10
  config.optimizer.learning_rate = 5e-4 if arg.size != "base" else 3e-4
  config.optimizer.warmup_steps = 1000
  config.optimizer.weight_decay = 0.05
  config.optimizer.grad_clip_norm = 1.0

  if arg.runlocal:
    config_lib.runlocal(config)
  return config
