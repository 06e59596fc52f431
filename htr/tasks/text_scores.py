"""Scores of text read from ink or images, whatever model read it: per-sample records,
the summary (CER, WER, exact match, seed 004's character accuracy and normalised edit
distance) and the worst samples; and whole pages read line by line (`page_cer`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import editdistance
import numpy as np

from htr import metrics

if TYPE_CHECKING:
  from htr.image.page_model import Page


def record(sample_id: str, reference: str, prediction: str, confidence: float | None
           ) -> dict[str, Any]:
  """One sample's eval record (the eval JSON lists them)."""
  edits = editdistance.eval(reference, prediction)
  return {"id": sample_id, "reference": reference, "prediction": prediction,
          "confidence": confidence, "edits": edits, "cer": edits / max(len(reference), 1)}


def words(text: str, char_scores: Sequence[float]) -> list[dict[str, Any]]:
  """The words of `text` (split on spaces) with a confidence each: the lowest score of
  its characters, since a word is only as sure as its least certain letter.

  `char_scores` holds one probability per character of `text`.
  """
  if len(char_scores) != len(text):
    raise ValueError(f"{len(char_scores)} character scores for {len(text)} characters")
  out, start = [], 0
  for word in text.split(" "):
    if word:
      out.append({"text": word,
                  "confidence": float(min(char_scores[start:start + len(word)]))})
    start += len(word) + 1
  return out


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, float]:
  """Corpus figures: CER and WER are edits over reference length summed over samples."""
  refs = [r["reference"] for r in records]
  hyps = [r["prediction"] for r in records]
  cer = float(metrics.CharacterErrorRate.from_strings(refs, hyps).compute())
  # Seed 004's word-reading report: character accuracy and the mean edit distance
  # normalised by the longer string (in [0, 1] per sample, unlike CER).
  normalised = [r["edits"] / max(len(r["reference"]), len(r["prediction"]), 1)
                for r in records]
  return {"cer": cer,
          "wer": float(metrics.WordErrorRate.from_strings(refs, hyps).compute()),
          "exact_match": float(metrics.ExactMatch.from_strings(refs, hyps).compute()),
          "char_accuracy": max(0.0, 1.0 - cer),
          "mean_normalised_edit_distance": float(np.mean(normalised)) if records else 0.0,
          "num_examples": float(len(records))}


def worst(records: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
  """The `n` samples of highest CER (most edits first among equals)."""
  return sorted(records, key=lambda r: (-r["cer"], -r["edits"]))[:n]


def page_text(page: Page) -> str:
  """A page's text as a reader gives it: its lines' texts in its reading order
  (`Line.order`), one line per row, joined by newlines (as page JSON's `text`)."""
  return "\n".join(line.text for line in sorted(page.lines, key=lambda line: line.order))


def page_record(page_id: str, predicted: Page, truth: Page) -> dict[str, Any]:
  """One page's eval record (`record`): `page_text` of the prediction, in its predicted
  reading order, against the truth's in the truth's order; the confidence is the mean
  of the lines' that have one, weighted by their length (None without any). `summarize`
  of such records gives the corpus page CER (edits over truth characters, all pages)."""
  scored = [(len(line.text), line.confidence) for line in predicted.lines
            if line.confidence is not None]
  weight = sum(max(n, 1) for n, _ in scored)
  confidence = (sum(max(n, 1) * c for n, c in scored) / weight) if scored else None
  return record(page_id, page_text(truth), page_text(predicted), confidence)


def page_cer(predicted: Page, truth: Page) -> float:
  """Character error rate of a read page: edits between `page_text(predicted)` and
  `page_text(truth)` over the truth's characters (newlines included, so a line split
  or merged costs one edit, and lines read in the wrong order cost their text).

  Both pages hold the lines to score: filter them (by line type, say) beforehand.
  """
  return record("", page_text(truth), page_text(predicted), None)["cer"]
