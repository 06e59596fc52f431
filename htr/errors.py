"""The one exception type for bad input, so callers can catch it apart from bugs."""

from __future__ import annotations

import os


class InputError(ValueError):
  """Input that htr cannot use: a malformed file, an empty ink, an unknown character.

  The message always names where the problem is (file and/or sample id) and what
  it is, so that a failure deep in a pipeline can be traced to one record.

  Attributes:
    reason: what is wrong, in words.
    path: the file the input came from, if any.
    sample_id: the record's id inside a dataset, if any.
  """

  def __init__(self, reason: str, *, path: str | os.PathLike | None = None,
               sample_id: str | None = None):
    self.reason = reason
    self.path = os.fspath(path) if path is not None else None
    self.sample_id = sample_id
    where = [w for w in (self.path, sample_id and f"sample {sample_id}") if w]
    super().__init__(f"{': '.join(where)}: {reason}" if where else reason)


class InputTooLarge(InputError):
  """Input over a size limit (bytes, points, pixels): refused before it costs memory
  or time. A server answers it with 413 rather than 422."""
