"""Isolated handwritten symbols cut from CROHME's segmented expressions; importing
registers the `crohme_symbols` TFDS builder."""

from htr_datasets.crohme_symbols.crohme_symbols_dataset_builder import Builder

__all__ = ["Builder"]
