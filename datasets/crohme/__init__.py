"""CROHME handwritten math expressions; importing registers the `crohme` TFDS builder."""

from htr_datasets.crohme.crohme_dataset_builder import Builder

__all__ = ["Builder"]
