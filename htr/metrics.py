"""Recognition metrics: character/word error rate and exact match, as clu metrics.

Error rates are corpus-level: total edits over total reference length, not a
mean of per-line rates (which would let short lines dominate). The clu metrics
keep the two sums, so they merge exactly across batches, steps and hosts.

The denominator is floored at 1: when every reference is empty the rate is the
number of inserted units rather than infinite, and an empty evaluation reports 0
rather than NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import clu.metrics as clu_metrics
import editdistance
import flax
import jax.numpy as jnp
import numpy as np


def edit_counts(refs: Sequence[str], hyps: Sequence[str], *, words: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
  """Per-example (Levenshtein edits, reference length), over characters or words.

  Words are whitespace-split tokens, so differences in spacing alone are not
  word errors.
  """
  if len(refs) != len(hyps):
    raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
  if words:
    refs, hyps = [r.split() for r in refs], [h.split() for h in hyps]
  edits = np.array([editdistance.eval(r, h) for r, h in zip(refs, hyps)], np.int64)
  lengths = np.array([len(r) for r in refs], np.int64)
  return edits, lengths


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
  """Character error rate: total character edits / total reference characters."""
  edits, lengths = edit_counts(refs, hyps)
  return float(edits.sum() / max(lengths.sum(), 1))


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
  """Word error rate: total word edits / total reference words."""
  edits, lengths = edit_counts(refs, hyps, words=True)
  return float(edits.sum() / max(lengths.sum(), 1))


def _masked_sum(values, mask) -> jnp.ndarray:
  values = jnp.asarray(values, jnp.int32)
  if mask is not None:
    values = jnp.where(jnp.asarray(mask, bool), values, 0)
  return values.sum()


@flax.struct.dataclass
class ErrorRate(clu_metrics.Metric):
  """Edits over reference length, accumulated as two integer sums.

  `from_counts` works on device (inside jit) when edits are computed there;
  the string constructors of the subclasses run on the host.

  Attributes:
    edits: total Levenshtein edits.
    reference_length: total reference length (characters or words).
  """

  edits: jnp.ndarray
  reference_length: jnp.ndarray

  @classmethod
  def empty(cls) -> ErrorRate:
    return cls(edits=jnp.array(0, jnp.int32), reference_length=jnp.array(0, jnp.int32))

  @classmethod
  def from_counts(cls, edits, reference_lengths, mask=None) -> ErrorRate:
    """From per-example counts; `mask` (per example) drops padding examples."""
    return cls(edits=_masked_sum(edits, mask),
               reference_length=_masked_sum(reference_lengths, mask))

  def merge(self, other: ErrorRate) -> ErrorRate:
    return type(self)(edits=self.edits + other.edits,
                      reference_length=self.reference_length + other.reference_length)

  def compute(self) -> jnp.ndarray:
    return self.edits / jnp.maximum(self.reference_length, 1)


@flax.struct.dataclass
class CharacterErrorRate(ErrorRate):
  """CER as a clu metric."""

  @classmethod
  def from_strings(cls, refs: Sequence[str], hyps: Sequence[str], mask=None
                   ) -> CharacterErrorRate:
    return cls.from_counts(*edit_counts(refs, hyps), mask)

  @classmethod
  def from_model_output(cls, references: Sequence[str], predictions: Sequence[str],
                        mask=None, **_) -> CharacterErrorRate:
    """The `clu.metrics.Collection` hook: texts by keyword, on the host."""
    return cls.from_strings(references, predictions, mask)


@flax.struct.dataclass
class WordErrorRate(ErrorRate):
  """WER as a clu metric."""

  @classmethod
  def from_strings(cls, refs: Sequence[str], hyps: Sequence[str], mask=None
                   ) -> WordErrorRate:
    return cls.from_counts(*edit_counts(refs, hyps, words=True), mask)

  @classmethod
  def from_model_output(cls, references: Sequence[str], predictions: Sequence[str],
                        mask=None, **_) -> WordErrorRate:
    """The `clu.metrics.Collection` hook: texts by keyword, on the host."""
    return cls.from_strings(references, predictions, mask)


@flax.struct.dataclass
class ExactMatch(clu_metrics.Average):
  """Fraction of lines recognised without a single error."""

  @classmethod
  def from_strings(cls, refs: Sequence[str], hyps: Sequence[str], mask=None) -> ExactMatch:
    if len(refs) != len(hyps):
      raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    ones = np.ones(len(refs), np.int32)
    return cls(total=_masked_sum([r == h for r, h in zip(refs, hyps)], mask).astype(jnp.float32),
               count=_masked_sum(ones, mask))

  @classmethod
  def from_edits(cls, edits, max_edits: int = 0, mask=None) -> ExactMatch:
    """From per-example edit counts: the fraction with at most `max_edits` errors
    (CROHME also reports expression rates at <= 1 and <= 2 errors)."""
    edits = np.asarray(edits)
    return cls(total=_masked_sum(edits <= max_edits, mask).astype(jnp.float32),
               count=_masked_sum(np.ones(edits.shape, np.int32), mask))

  @classmethod
  def from_model_output(cls, references: Sequence[str], predictions: Sequence[str],
                        mask=None, **_) -> ExactMatch:
    """The `clu.metrics.Collection` hook: texts by keyword, on the host."""
    return cls.from_strings(references, predictions, mask)

  def compute(self) -> jnp.ndarray:
    return self.total / jnp.maximum(self.count, 1)


@flax.struct.dataclass
class TopKAccuracy(clu_metrics.Average):
  """Fraction of examples whose label is among the k highest-scored classes.

  k=1 is plain accuracy. `from_model_output` ranks on device (inside jit); the
  host builds it from per-example hits (`from_hits`) of already-decoded records.
  A label tied with other classes counts as ranked above them.
  """

  @classmethod
  def from_hits(cls, hits, mask=None) -> TopKAccuracy:
    ones = np.ones(np.shape(hits), np.int32)
    return cls(total=_masked_sum(hits, mask).astype(jnp.float32), count=_masked_sum(ones, mask))

  @classmethod
  def from_model_output(cls, logits, labels, mask=None, k: int = 1, **_) -> TopKAccuracy:
    """The `clu.metrics.Collection` hook: logits [B, C] and integer labels [B]."""
    label_logit = jnp.take_along_axis(logits, labels[:, None].astype(jnp.int32), axis=-1)
    rank = jnp.sum(logits > label_logit, axis=-1)
    return cls.from_hits(rank < k, mask)

  def compute(self) -> jnp.ndarray:
    return self.total / jnp.maximum(self.count, 1)
