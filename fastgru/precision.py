"""Compute precision (``load(..., precision="bfloat16")``): every GRU's two matrix products
run in bf16 (src_c/fg_gru.h, FG_PRECISION_BF16); the weights are repacked at load, the file is
unchanged. Storage precision (weights stored as float16 / bfloat16) is ``storage_precision.py``.
"""
from __future__ import annotations

from .errors import FastGRUError

# Compute precisions by id (fg_gru.h FG_PRECISION_*); "fp32" / "bf16" are accepted spellings.
COMPUTE_PRECISIONS = ("float32", "bfloat16")
_PRECISION_ALIASES = {"fp32": "float32", "bf16": "bfloat16"}


def compute_precision_id(precision: str) -> int:
    """The C id of a compute precision name; FastGRUError for anything else."""
    name = _PRECISION_ALIASES.get(precision, precision) if isinstance(precision, str) else None
    if name not in COMPUTE_PRECISIONS:
        raise FastGRUError(f"precision={precision!r} is not supported; expected one of "
                           f"{COMPUTE_PRECISIONS} (or 'fp32' / 'bf16')")
    return COMPUTE_PRECISIONS.index(name)
