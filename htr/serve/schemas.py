"""Request and response bodies: strict pydantic models, so bad input is a clear 422.

Unknown fields are refused (a typo is an error, not a silently ignored option),
and numbers must be finite.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Coordinate = Annotated[float, Field(allow_inf_nan=False)]
# A pen point: [x, y] or [x, y, t] (t in seconds; without it points are 10 ms apart).
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=3)]
Stroke = Annotated[list[Point], Field(min_length=1)]


class _Strict(BaseModel):
  # strict: a number is a JSON number, never "1.5" or true.
  model_config = ConfigDict(extra="forbid", strict=True)


class InkRequest(_Strict):
  """One ink: strokes of points, y growing downward (screen coordinates)."""

  strokes: list[Stroke] = Field(min_length=1, description="Pen-down strokes in writing "
                                "order; each a list of [x, y] or [x, y, t] points.")


class InkBatchRequest(_Strict):
  """Several inks recognised in one call."""

  inks: list[InkRequest] = Field(min_length=1)


class TopClass(BaseModel):
  """One candidate of a classifier."""

  label: str
  probability: float


class Word(BaseModel):
  """One word of a recognised line."""

  text: str
  confidence: float = Field(description="The lowest probability of its characters.")


class Recognition(BaseModel):
  """What a model made of one input; which fields are set depends on the model's kind."""

  model: str
  kind: str = Field(description="The model's kind: ink_text, image_class, image_latex, ...")
  text: str | None = Field(None, description="Recognised text or LaTeX.")
  confidence: float | None = Field(None, description="In [0, 1].")
  char_scores: list[float] | None = Field(
      None, description="Per output character, its probability (text models).")
  words: list[Word] | None = Field(
      None, description="Text models: each word and its confidence.")
  top: list[TopClass] | None = Field(None, description="Classifiers: top classes.")
  page: dict[str, Any] | None = Field(
      None, description="Page models (kind image_page): the page as htr page JSON "
      "(schema htr.page/1, htr/image/page_json.py): regions of lines in reading order, "
      "each line with its polygon, baseline, box, text, confidence and words; `text` is "
      "the lines' texts joined by newlines and `confidence` their mean.")


class BatchResponse(BaseModel):
  results: list[Recognition]


class ModelInfo(BaseModel):
  """A served model and the metadata exported with it."""

  name: str
  kind: str
  inputs: list[Literal["ink", "image"]] = Field(
      description="What its endpoints accept, the model's own input first: ink (JSON "
      "strokes, InkML) and/or images (rendered ink is accepted by image models).")
  metadata: dict[str, Any]


class ModelList(BaseModel):
  models: list[ModelInfo]


class Status(BaseModel):
  status: str
  detail: str | None = None


class ErrorBody(BaseModel):
  """Every 4xx/5xx body: a machine-readable kind and a message for humans."""

  error: str = Field(description="validation, input, auth, rate_limited, too_large, "
                     "not_found, unavailable or internal")
  message: str
  detail: list[dict[str, Any]] | None = None
