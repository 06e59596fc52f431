"""The seq2seq task's host side: vocabulary from metadata, records and CROHME metrics."""


import numpy as np
import pytest

from htr.data import registry
from htr.text import latex
from htr.errors import InputError
from htr.tasks import get_task


@pytest.fixture
def task(load_config):
  """The tiny math task over a small vocabulary."""
  vocab = latex.Vocabulary.from_labels(["x^{2}+1", "\\frac{a}{b}", "|y|"])
  return get_task(load_config("math_swin", "runlocal,size=tiny"), {"vocab": list(vocab.tokens)})


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
