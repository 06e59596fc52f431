"""Synthetic handwritten lines as scans and photos; importing registers the
`synthetic_lines` TFDS builder."""

from htr_datasets.synthetic_lines.synthetic_lines_dataset_builder import Builder

__all__ = ["Builder"]
