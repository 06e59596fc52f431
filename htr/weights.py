"""Weight-only compression: what exports and zoo entries store instead of float32 kernels.

Kernels (>= 2 dims) become bfloat16 or int8 (symmetric, per output channel: each column
of the kernel's last axis maps its largest magnitude to 127, with a float32 scale kept
beside it); biases, norms and statistics are small and precision-sensitive, so they stay
float32. `decompress` is written for numpy and jax.numpy alike: an export dequantises
inside its graph, a zoo entry on the host when it is loaded.
"""

from __future__ import annotations

from typing import Any

import jax
import ml_dtypes
import numpy as np
from flax import traverse_util

FORMATS = ("float32", "bfloat16", "int8")
SEPARATOR = "."  # Joins parameter paths into flat names.
_MIN_COMPRESSED_NDIM = 2


def compress(variables: dict[str, Any], weights: str) -> dict[str, np.ndarray]:
  """Flat stored arrays: name -> array, plus `name:scale` for int8 kernels."""
  if weights not in FORMATS:
    raise ValueError(f"unknown weight format {weights!r}; known: {FORMATS}")
  stored = {}
  for path, value in traverse_util.flatten_dict(jax.device_get(variables)).items():
    key, value = SEPARATOR.join(path), np.asarray(value)
    if (weights == "float32" or value.ndim < _MIN_COMPRESSED_NDIM
        or not np.issubdtype(value.dtype, np.floating)):
      stored[key] = value
    elif weights == "bfloat16":
      stored[key] = value.astype(ml_dtypes.bfloat16)
    else:
      scale = np.abs(value).max(axis=tuple(range(value.ndim - 1))) / 127.0
      scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
      stored[key] = np.clip(np.round(value / scale), -127, 127).astype(np.int8)
      stored[key + ":scale"] = scale
  return stored


def decompress(stored: dict[str, Any], xp=np) -> dict[str, Any]:
  """The nested float32 variables of `compress`'s output (`xp`: numpy or jax.numpy)."""
  out = {}
  for key, value in stored.items():
    if key.endswith(":scale"):
      continue
    if key + ":scale" in stored:
      value = value.astype(xp.float32) * stored[key + ":scale"]
    elif value.dtype == ml_dtypes.bfloat16:
      value = value.astype(xp.float32)
    out[tuple(key.split(SEPARATOR))] = value
  return traverse_util.unflatten_dict(out)
