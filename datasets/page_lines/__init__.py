"""Text lines cut from page ground truth (ALTO, PAGE-XML); importing registers the
`page_lines` TFDS builder."""

from htr_datasets.page_lines.page_lines_dataset_builder import Builder

__all__ = ["Builder"]
