"""The pen-ink domain: the Ink type, file formats, preprocessing, synthesis."""

from htr.ink.ink import Ink, validate

__all__ = ["Ink", "validate"]
