"""page_layout's test fixture as a dataset built offline: what `runlocal` page configs
train on; importing registers the `page_layout_fixture` TFDS builder."""

from htr_datasets.page_layout_fixture.page_layout_fixture_dataset_builder import Builder

__all__ = ["Builder"]
