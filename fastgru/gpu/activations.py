"""Every activation of fastgru/registry.py as array-module operations, in float32: the
executor's array path (numpy in the tests), and the row-wise ones on a device, where the
elementwise ones run as a CUDA kernel of the C formulas (src_c/fg_act_formulas.h)."""
from __future__ import annotations

import math

from ..registry import ACTIVATIONS

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _erf(xp, x):
    try:
        from scipy.special import erf
        return erf(x).astype(x.dtype)
    except ImportError:
        import numpy as np
        return np.vectorize(math.erf, otypes=[x.dtype])(x)


def _softplus(xp, x):
    return xp.logaddexp(x, xp.zeros_like(x))


def _sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def _hard_sigmoid(xp, x):
    return xp.clip(x + 3, 0, 6) / 6


def _softmax(xp, x):
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(xp, x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def _sparsemax(xp, x):
    """Keras' formula (docs/KERAS_FORMATS.md §14.2), as src_c/fg_activations.c computes it."""
    srt = -xp.sort(-x, axis=-1)
    cum = xp.cumsum(srt, axis=-1)
    r = xp.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    support = srt - (cum - 1) / r > 0
    k = support.sum(axis=-1, keepdims=True).astype(x.dtype)
    tau = ((xp.where(support, cum, 0).sum(axis=-1, keepdims=True)) - 1) / k
    return xp.maximum(x - tau, 0)


_FORMULAS = {
    "linear": lambda xp, x: x,
    "tanh": lambda xp, x: xp.tanh(x),
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "hard_sigmoid_keras2": lambda xp, x: xp.clip(x * 0.2 + 0.5, 0, 1),
    "relu": lambda xp, x: xp.where(x < 0, 0, x),
    "relu6": lambda xp, x: xp.clip(x, 0, 6),
    "elu": lambda xp, x: xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0))),
    "selu": lambda xp, x: _SELU_SCALE * xp.where(x > 0, x,
                                                 _SELU_ALPHA * xp.expm1(xp.minimum(x, 0))),
    "softplus": _softplus,
    "softsign": lambda xp, x: x / (xp.abs(x) + 1),
    "exponential": lambda xp, x: xp.exp(x),
    "swish": lambda xp, x: x * _sigmoid(xp, x),
    "gelu": lambda xp, x: 0.5 * x * (1 + _erf(xp, x * 0.70710678118654752440)),
    "leaky_relu": lambda xp, x: xp.where(x < 0, 0.2 * x, x),
    "mish": lambda xp, x: x * xp.tanh(_softplus(xp, x)),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "sparsemax": _sparsemax,
    "celu": lambda xp, x: xp.maximum(x, 0) + xp.expm1(xp.minimum(x, 0)),
    "hard_shrink": lambda xp, x: xp.where(xp.abs(x) > 0.5, x, 0 * x),
    "hard_tanh": lambda xp, x: xp.clip(x, -1, 1),
    "soft_shrink": lambda xp, x: xp.where(x > 0.5, x - 0.5, xp.where(x < -0.5, x + 0.5, 0 * x)),
    "sparse_plus": lambda xp, x: xp.where(x <= -1, 0, xp.where(x >= 1, x, (x + 1) * (x + 1) / 4)),
    "sparse_sigmoid": lambda xp, x: 0.5 * xp.clip(x + 1, 0, 2),
    "squareplus": lambda xp, x: (x + xp.sqrt(x * x + 4)) / 2,
    "tanh_shrink": lambda xp, x: x - xp.tanh(x),
    "log_sigmoid": lambda xp, x: -_softplus(xp, -x),
    "hard_silu": lambda xp, x: x * _hard_sigmoid(xp, x),
}
_BY_ID = {ACTIVATIONS[name]: fn for name, fn in _FORMULAS.items()}
ROW_WISE = frozenset(ACTIVATIONS[n] for n in ("softmax", "log_softmax", "sparsemax"))
assert len(_BY_ID) == len(ACTIVATIONS), "an activation of the registry has no formula here"


def apply(xp, act_id: int, x):
    """Activation `act_id` of float32 array `x` (row-wise ones over the last axis)."""
    return _BY_ID[act_id](xp, x).astype(x.dtype, copy=False)
