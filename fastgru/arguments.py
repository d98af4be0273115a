"""Checks for the API's arguments: a wrong type is a TypeError that says what was expected, a
value of the right type that fastgru cannot use is a FastGRUError. Python ints are unbounded,
so every count is checked against a ceiling before C sees it (no OverflowError)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional

import numpy as np

from .errors import FastGRUError

# More threads than any machine has only adds scheduling cost; the cap keeps a typo (or 2**40)
# from asking OpenMP for millions of threads.
MAX_THREADS = 4096
# Batch sizes and similar counts go to C as int32 or int64; 2**31 - 1 sequences is already far
# beyond what memory holds.
MAX_COUNT = 2**31 - 1


def count(value, name: str, *, maximum: int = MAX_COUNT, allow_none: bool = False) -> Optional[int]:
    """`value` as an int in [1, maximum] (None passes when `allow_none`)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        expected = "None or an int" if allow_none else "an int"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if not 1 <= int(value) <= maximum:
        raise FastGRUError(f"{name}={value!r} is out of range (expected 1 to {maximum})")
    return int(value)


def threads(value) -> Optional[int]:
    """The `threads=` argument: None (FASTGRU_NUM_THREADS, else the CPUs this process may use)
    or a count."""
    return count(value, "threads", maximum=MAX_THREADS, allow_none=True)


def path_text(path, name: str = "path") -> str:
    """A str, bytes or os.PathLike path as a str (bytes decoded as the OS does)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a str, bytes or os.PathLike path, got "
                        f"{type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def text(value, name: str) -> str:
    """A str argument such as dtype= or format= (its value is checked where it is used).
    precision= keeps its FastGRUError for any bad value (fastgru/precision.py)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    return value


def custom_objects(value) -> Optional[Mapping]:
    """custom_objects=: None or a mapping of class names to fastgru layers / class names."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"custom_objects must be None or a dict (class name -> fastgru.GRU, "
                        f"fastgru.Bidirectional or a Keras class name), got "
                        f"{type(value).__name__}")
    return value
