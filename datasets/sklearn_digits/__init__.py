"""scikit-learn's handwritten digits in the EMNIST convention; registers `sklearn_digits`."""

from htr_datasets.sklearn_digits.sklearn_digits_dataset_builder import Builder

__all__ = ["Builder"]
