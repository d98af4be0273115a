"""Model inputs as the executors take them: arrays of the model's dtype, checked."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .errors import FastGRUError


def convert_input(x: Any, name: str, dtype: np.dtype, shape: Optional[tuple] = None) -> np.ndarray:
    """`x` as a C-contiguous array of `dtype` (float32, or int32 for Embedding ids, which may
    come as floats holding integers); checked against `shape` when given."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise FastGRUError(f"model input '{name}': cannot be read as an array ({e})") from None
    if dtype == np.int32:
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise FastGRUError(f"model input '{name}': expects integer ids, got "
                                   f"non-integer {arr.dtype} values")
        elif arr.dtype.kind not in "iub":
            raise FastGRUError(f"model input '{name}': expects integer ids, got {arr.dtype}")
        if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
            raise FastGRUError(f"model input '{name}': ids outside the int32 range")
    elif arr.dtype.kind not in "fiub":
        raise FastGRUError(f"model input '{name}': expects numbers, got {arr.dtype}")
    if shape is not None and arr.shape != shape:
        raise FastGRUError(f"model input '{name}': expected shape {shape}, got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)
