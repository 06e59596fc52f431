"""Handwritten names from form images (seed 004's data); importing registers the
`kaggle_names` TFDS builder."""

from htr_datasets.kaggle_names.kaggle_names_dataset_builder import Builder

__all__ = ["Builder"]
