"""TFDS builders for htr (imported as `htr_datasets`); importing registers them all.

Each builder is a subpackage (`datasets/NAME/`); every one is imported here by walking
the folder, so adding a dataset is adding a folder, not editing a list.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
  if _info.ispkg:
    importlib.import_module(f"{__name__}.{_info.name}")
