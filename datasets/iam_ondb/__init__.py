"""IAM-OnDB text lines; importing registers the `iam_ondb` TFDS builder."""

from htr_datasets.iam_ondb.iam_ondb_dataset_builder import Builder

__all__ = ["Builder"]
