"""Synthetic handwritten math; importing registers the `synthetic_math` TFDS builder."""

from htr_datasets.synthetic_math.synthetic_math_dataset_builder import Builder

__all__ = ["Builder"]
