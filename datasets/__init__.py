"""TFDS builders for htr (imported as `htr_datasets`); importing registers them."""
