"""Synthetic 94-class characters; importing registers the `synthetic_chars` TFDS builder."""

from htr_datasets.synthetic_chars.synthetic_chars_dataset_builder import Builder

__all__ = ["Builder"]
