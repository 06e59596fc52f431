"""Scores of text read from ink or images, whatever model read it: per-sample records,
the summary (CER, WER, exact match, seed 004's character accuracy and normalised edit
distance) and the worst samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import editdistance
import numpy as np

from htr import metrics


def record(sample_id: str, reference: str, prediction: str, confidence: float
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
