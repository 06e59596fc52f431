"""The seq2seq task's host side: vocabulary from metadata, records and CROHME metrics."""


import jax
import numpy as np
import pytest

from htr.data import registry
from htr.text import latex
from htr.errors import InputError
from htr.tasks import get_task, seq2seq


@pytest.fixture
def task(load_config):
  """The tiny math task over a small vocabulary."""
  vocab = latex.Vocabulary.from_labels(["x^{2}+1", "\\frac{a}{b}", "|y|"])
  return get_task(load_config("math_swin", "runlocal,size=tiny"), {"vocab": list(vocab.tokens)})


def test_a_curriculum_stage_takes_the_vocabulary_of_the_stage_it_leads_to(
    load_config, data_dir):
  config = load_config("math_swin", "runlocal,size=tiny")
  config.data.data_dir = data_dir
  config.data.train_split = "train[:1]"
  own = seq2seq.vocabulary_from_training_labels(config)
  config.data.vocab_name = "synthetic_math/tiny"  # Its whole train split.
  later = seq2seq.vocabulary_from_training_labels(config)
  assert set(own.tokens) < set(later.tokens)


def test_the_task_uses_the_vocabulary_it_is_given_and_saves_it(task):
  assert task.metadata()["vocab"] == list(task.vocab.tokens)
  again = get_task(task.config, task.metadata())
  assert again.vocab == task.vocab
  assert task.data_fields() == {"vocab": task.vocab.tokens}


def test_encode_latex_op_through_a_spec_with_the_vocabulary(task):
  spec = "encode_latex(vocab={vocab!r}, key='label')|keep(keys=('tokens',))"
  op = registry.build(spec.format(**task.data_fields()))
  out = op({"label": b"|x|^{2}", "id": "s1"}, np.random.default_rng(0))
  assert task.vocab.decode(out["tokens"]) == "| x | ^ { 2 }"
  assert out["tokens"][0] == latex.BOS and out["tokens"][-1] == latex.EOS
  strict = registry.build(
      "encode_latex(vocab={vocab!r}, key='label', allow_unknown=False)".format(
          **task.data_fields()))
  with pytest.raises(InputError, match="s2.*outside the vocabulary"):
    strict({"label": "\\alpha", "id": "s2"}, np.random.default_rng(0))


def test_records_score_normalised_latex_with_crohme_rates(task):
  labels = ["x^2+1", "\\frac{a}{b}", "|y|", "x + 1", "b"]
  predictions = ["x^{2}+1", "\\frac{a}{a}", "y", "1 + x", "a"]
  outputs = {"tokens": np.zeros((6, 10), np.int32), "token_lengths": np.zeros(6, np.int32),
             "score": np.log(np.full(6, 0.5, np.float32))}
  for i, p in enumerate(predictions):
    ids = task.vocab.encode(p)
    outputs["tokens"][i, :len(ids)] = ids
    outputs["token_lengths"][i] = len(ids)
  batch = {"label": np.array(labels + ["pad"], object),
           "id": np.array([f"e{i}" for i in range(6)], object),
           "mask": np.array([1, 1, 1, 1, 1, 0], np.float32)}
  records = task.records(batch, outputs)
  assert len(records) == 5 and records[0]["reference"] == "x ^ { 2 } + 1"
  assert [r["edits"] for r in records] == [0, 1, 2, 2, 1]
  assert records[0]["confidence"] == pytest.approx(0.5)
  summary = task.summarize(records)
  reference_tokens = 7 + 7 + 3 + 3 + 1  # "x ^ { 2 } + 1", "\\frac { a } { b }", ...
  assert summary["token_cer"] == pytest.approx(6 / reference_tokens)
  assert summary["exprate"] == pytest.approx(1 / 5)
  assert summary["exprate_le1"] == pytest.approx(3 / 5)
  assert summary["exprate_le2"] == pytest.approx(1.0)
  assert task.worst(records, 1)[0]["id"] == "e4"  # 1 edit in 1 token.


def _with_auxiliary_loss(task, loss: str, weight: float):
  """(task with that auxiliary loss and head, config, ids of `x^{2}+1` with <bos> and
  <eos>, its targets [1, 10] and their weight)."""
  config = task.config.copy_and_resolve_references()
  config[f"{loss}_loss_weight"] = weight
  config.model[f"{loss}_symbols"] = True
  aux = get_task(config, task.metadata())
  ids = np.concatenate([[latex.BOS], aux.vocab.encode("x^{2}+1"), [latex.EOS]])
  targets = np.zeros((1, 10), np.int32)
  targets[0, :len(ids) - 1] = ids[1:]
  return aux, config, ids, targets, (targets != latex.PAD).astype(np.float32)


def test_the_counting_loss_counts_drawn_symbols_only(task):
  """`x ^ { 2 } + 1` draws x, 2, + and 1: the braces and the caret are layout."""
  counting, counted, ids, targets, weight = _with_auxiliary_loss(task, "count", 0.5)
  true = np.zeros((1, len(counting.vocab)), np.float32)
  for token in ("x", "2", "+", "1"):
    true[0, counting.vocab.tokens.index(token)] = 1.0
  assert float(counting.count_loss(true, targets, weight)) == 0.0
  # Counting a brace (not drawn) costs nothing; missing the x costs smooth-L1(1) per symbol.
  braces = true.copy()
  braces[0, counting.vocab.tokens.index("{")] = 3.0
  assert float(counting.count_loss(braces, targets, weight)) == 0.0
  no_x = true.copy()
  no_x[0, counting.vocab.tokens.index("x")] = 0.0
  assert float(counting.count_loss(no_x, targets, weight)) == pytest.approx(0.5 / 4)

  batch = counting.dummy_batch(2)
  batch["tokens"][:, :len(ids)] = ids
  variables = counting.init(jax.random.key(0), batch)
  assert set(variables) == {"params"}  # Sown counts are not model state.
  loss, (_, scalars) = counting.loss(variables["params"], {}, batch, jax.random.key(1))
  assert float(loss) == pytest.approx(float(scalars["token_loss"] + 0.5 * scalars["count_loss"]))
  with pytest.raises(ValueError, match="count_symbols = True"):
    no_head = counted.copy_and_resolve_references()
    no_head.model.count_symbols = False
    get_task(no_head, task.metadata()).loss(variables["params"], {}, batch, jax.random.key(1))


def test_the_ctc_loss_spells_the_drawn_symbols_in_label_order(task):
  """`x ^ { 2 } + 1` is spelt x, 2, +, 1 over the cells; fewer cells cannot align."""
  reader, _, ids, targets, weight = _with_auxiliary_loss(task, "ctc", 0.3)

  def spelling(tokens, frames=8):
    logits = np.full((1, frames, len(reader.vocab)), -20.0, np.float32)
    logits[0, :, latex.PAD] = 20.0  # Blank everywhere else.
    for i, token in enumerate(tokens):
      logits[0, 2 * i] = -20.0
      logits[0, 2 * i, reader.vocab.tokens.index(token)] = 20.0
    return logits, np.ones((1, frames), bool)

  loss, unalignable = reader.ctc_loss(*spelling(["x", "2", "+", "1"]), targets, weight)
  assert float(loss) < 1e-3 and float(unalignable) == 0
  with_braces, _ = reader.ctc_loss(*spelling(["x", "{", "2", "}"]), targets, weight)
  assert float(with_braces) > 10
  _, unalignable = reader.ctc_loss(*spelling(["x"], frames=3), targets, weight)
  assert float(unalignable) == 1

  batch = reader.dummy_batch(2)
  batch["tokens"][:, :len(ids)] = ids
  variables = reader.init(jax.random.key(0), batch)
  loss, (_, scalars) = reader.loss(variables["params"], {}, batch, jax.random.key(1))
  assert float(loss) == pytest.approx(float(scalars["token_loss"] + 0.3 * scalars["ctc_loss"]))


def test_the_symbol_map_loss_scores_the_cells_of_the_image(task):
  """Cells past the image (-1) and padding rows are not scored; blank cells (<pad>) are;
  the accuracy counts the cells that show ink."""
  x, two = task.vocab.tokens.index("x"), task.vocab.tokens.index("2")
  target = np.array([[[x, latex.PAD, two, -1]], [[x, x, x, x]]], np.int32)  # [2, 1, 4]
  cells, mask = np.ones((2, 1, 5), bool), np.array([1.0, 0.0], np.float32)
  logits = np.full((2, 1, 5, len(task.vocab)), -20.0, np.float32)
  for column, token in enumerate([x, latex.PAD, two]):
    logits[0, 0, column, token] = 20.0
  loss, accuracy = task.symbol_map_loss(logits, cells, target, mask)
  assert float(loss) < 1e-6 and float(accuracy) == 1.0  # The grid's 5th column: unscored.
  logits[0, 0, 1] = logits[0, 0, 0]  # A blank cell read as x.
  logits[0, 0, 2] = logits[0, 0, 0]  # A 2 read as x.
  loss, accuracy = task.symbol_map_loss(logits, cells, target, mask)
  assert float(loss) == pytest.approx(2 * 40 / 3, rel=1e-3) and float(accuracy) == 0.5
  with pytest.raises(ValueError, match="symbol_stride"):
    task.symbol_map_loss(logits, cells, np.zeros((2, 2, 4), np.int32), mask)

  config = task.config.copy_and_resolve_references()
  config.symbol_map_loss_weight = 0.5
  config.model.map_symbols = True
  mapper = get_task(config, task.metadata())
  batch = mapper.dummy_batch(2)
  variables = mapper.init(jax.random.key(0), batch)
  with pytest.raises(ValueError, match="symbol_map op"):
    mapper.loss(variables["params"], {}, batch, jax.random.key(1))
  height, width = batch["image"].shape[1:3]
  stride = config.data.symbol_stride
  batch["symbol_map"] = np.full((2, height // stride, width // stride), x, np.int32)
  loss, (_, scalars) = mapper.loss(variables["params"], {}, batch, jax.random.key(1))
  assert float(loss) == pytest.approx(
      float(scalars["token_loss"] + 0.5 * scalars["symbol_map_loss"]))
  assert 0.0 <= float(scalars["symbol_map_accuracy"]) <= 1.0
