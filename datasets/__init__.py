"""TFDS builders for htr (imported as `htr_datasets`); importing registers them."""

from htr_datasets import iam_ondb  # noqa: F401  (registers `iam_ondb`)
from htr_datasets import synthetic_ink  # noqa: F401  (registers `synthetic_ink`)
from htr_datasets import sklearn_digits  # noqa: F401  (registers `sklearn_digits`)
from htr_datasets import synthetic_chars  # noqa: F401  (registers `synthetic_chars`)
from htr_datasets import crohme  # noqa: F401  (registers `crohme`)
from htr_datasets import mathwriting  # noqa: F401  (registers `mathwriting`)
from htr_datasets import synthetic_math  # noqa: F401  (registers `synthetic_math`)
