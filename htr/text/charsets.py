"""Character classes of the classification task, in label order.

The label order of a dataset is part of its meaning: EMNIST byclass numbers its
62 classes digits, upper case, lower case; the 94-class set of the character
task appends the 32 ASCII symbols (which EMNIST lacks) in ASCII order, so
`CHARS94[:62] == EMNIST_BYCLASS` and byclass labels need no remapping.
"""

from __future__ import annotations

import string

DIGITS = string.digits
EMNIST_BYCLASS = string.digits + string.ascii_uppercase + string.ascii_lowercase
# EMNIST balanced/bymerge: the 15 letters whose cases look alike (c, i, j, k, l,
# m, o, p, s, u, v, w, x, y, z) are merged into their upper case.
EMNIST_BALANCED = string.digits + string.ascii_uppercase + "abdefghnqrt"
# EMNIST letters merges the two cases of each letter into one class (labels 1-26),
# named here by its upper case.
EMNIST_LETTERS = string.ascii_uppercase
SYMBOLS = string.punctuation  # !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
CHARS94 = EMNIST_BYCLASS + SYMBOLS

_NAMED = {"digits": DIGITS, "emnist_byclass": EMNIST_BYCLASS,
          "emnist_balanced": EMNIST_BALANCED, "emnist_letters": EMNIST_LETTERS,
          "symbols": SYMBOLS, "chars94": CHARS94}


def named(name: str) -> str:
  """The classes called `name` (e.g. "chars94", case-insensitive)."""
  if name.lower() not in _NAMED:
    raise ValueError(f"unknown character set {name!r}; known: {sorted(_NAMED)}")
  return _NAMED[name.lower()]
