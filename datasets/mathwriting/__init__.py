"""MathWriting handwritten math; importing registers the `mathwriting` TFDS builder."""

from htr_datasets.mathwriting.mathwriting_dataset_builder import Builder

__all__ = ["Builder"]
