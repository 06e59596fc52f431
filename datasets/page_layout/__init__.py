"""Page images with their lines' geometry, order and text (ALTO, PAGE-XML); importing
registers the `page_layout` TFDS builder."""

from htr_datasets.page_layout.page_layout_dataset_builder import Builder

__all__ = ["Builder"]
