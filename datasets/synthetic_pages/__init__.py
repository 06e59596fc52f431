"""Synthetic letters, notes, forms and two-column pages with their lines' geometry,
order and text; importing registers the `synthetic_pages` TFDS builder."""

from htr_datasets.synthetic_pages.synthetic_pages_dataset_builder import Builder

__all__ = ["Builder"]
