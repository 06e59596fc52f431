"""Page transcriptions' conventions, and the text the ink shows (../formats PAGES.md):
what a line reader is trained on and a read page is scored against."""

from __future__ import annotations

import re
import unicodedata

# Decorative look-alikes in real transcriptions, as the letters read.
_LOOK_ALIKES = str.maketrans({"ᗅ": "A", "ᗞ": "D", "ᑕ": "C", "\r": ""})
STRUCK = re.compile(r"⟦[^⟧]*⟧")  # Struck or illegible ink: there, but no letters to read.


def shown(text: str, superscript: str = "^") -> str:
  """NFC, look-alike code points as their letters, the `superscript` marker dropped
  (`21^st` is written 21st, raised). Struck spans are left to the caller."""
  text = unicodedata.normalize("NFC", text).translate(_LOOK_ALIKES)
  return text.replace(superscript, "") if superscript else text


def without_struck(text: str) -> str:
  """`shown` text with struck or illegible spans removed and spaces tidied: what a page
  reader can be held to."""
  return " ".join(STRUCK.sub("", shown(text)).split())
