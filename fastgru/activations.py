"""Activation names as Keras spells them -> fastgru's canonical names (``fastgru.spec.ACTIVATIONS``).

Keras 2 and Keras 3 disagree on ``hard_sigmoid`` (docs/KERAS_FORMATS.md §11), so the Keras
version whose definition applies is part of the question.
"""
from __future__ import annotations

from typing import Optional

from .errors import FastGRUError
from .spec import ACTIVATIONS

# Other names Keras accepts for the same function.
_ALIASES = {"silu": "swish", "hard_swish": "hard_silu"}


def resolve_activation(name: Optional[str], keras_version: int = 3, *, field: str = "activation") -> str:
    """Canonical fastgru name for the Keras activation ``name``.

    ``None`` means linear, as in Keras. With ``keras_version=2``, ``"hard_sigmoid"`` is Keras 2's
    ``clip(0.2x + 0.5, 0, 1)`` (canonical ``"hard_sigmoid_keras2"``, which is also accepted
    directly). ``field`` names the argument in error messages.
    """
    if keras_version not in (2, 3):
        raise FastGRUError(f"keras_version must be 2 or 3, got {keras_version!r}")
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise FastGRUError(f"{field} must be an activation name (str), got {type(name).__name__}")
    canonical = _ALIASES.get(name, name)
    if keras_version == 2 and canonical == "hard_sigmoid":
        canonical = "hard_sigmoid_keras2"
    if canonical not in ACTIVATIONS:
        accepted = ", ".join(sorted(set(ACTIVATIONS) | set(_ALIASES)))
        raise FastGRUError(f"{field}: unknown activation {name!r}; accepted names: {accepted}")
    return canonical


def activation_id(name: str) -> int:
    """The C id (src_c/fg_activations.h) of a canonical name."""
    return ACTIVATIONS[name]
