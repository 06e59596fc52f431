"""IAM-OnDB forms drawn as pages with their lines' geometry; importing registers the
`iam_ondb_pages` TFDS builder."""

from htr_datasets.iam_ondb_pages.iam_ondb_pages_dataset_builder import Builder

__all__ = ["Builder"]
