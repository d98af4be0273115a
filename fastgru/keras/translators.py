"""Which translator handles each Keras class, and how many input tensors a call of it takes.

Each translating module (translate.py and its siblings) exports a ``TRANSLATORS`` table for
the classes it knows; the graph reader looks classes up only here.
"""
from __future__ import annotations

from . import translate

TRANSLATORS = {
    **translate.TRANSLATORS,
}

# (fewest, most) input tensors per call; a class not listed takes exactly one. None: no limit.
INPUT_COUNTS = {
    **{name: (2, None) for name in translate.MERGE_KINDS},
}


def input_count_error(kind: str, n: int):
    """Why `n` input tensors do not suit a call of `kind`, or None when they do."""
    low, high = INPUT_COUNTS.get(kind, (1, 1))
    if n >= low and (high is None or n <= high):
        return None
    wanted = (f"{low}" if low == high else f"at least {low}" if high is None
              else f"{low} to {high}")
    return f"called with {n} input tensors, expected {wanted}"
