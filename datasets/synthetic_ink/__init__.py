"""Synthetic online handwriting lines; importing registers the `synthetic_ink` TFDS builder."""

from htr_datasets.synthetic_ink.synthetic_ink_dataset_builder import Builder

__all__ = ["Builder"]
