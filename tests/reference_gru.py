"""A float64 numpy re-derivation of a Keras GRU layer, written from the equations in
docs/KERAS_FORMATS.md (§10 maths, 11 activations, 12 masking, 14.2 sparsemax).

It never calls fastgru, so tests can hold the C kernel against an independent reference.
Activation names are fastgru's canonical names (``fastgru.spec.ACTIVATIONS``).
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Tuple

import numpy as np

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))   # overflow-free form of 1 / (1 + exp(-x))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def _softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _log_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _keras_sparsemax(x):
    # Keras' formula (docs/KERAS_FORMATS.md §14.2): tau sums ALL cumulative sums in the support,
    # not just the k-th one, so rows need not sum to 1. Reproduced on purpose.
    srt = -np.sort(-x, axis=-1)
    cumsum = np.cumsum(srt, axis=-1)
    r = np.arange(1, x.shape[-1] + 1, dtype=np.float64)
    support = srt - (cumsum - 1.0) / r > 0
    k = np.sum(support, axis=-1, keepdims=True)
    tau = (np.sum(np.where(support, cumsum, 0.0), axis=-1, keepdims=True) - 1.0) / k
    return np.maximum(x - tau, 0.0)


_ACTIVATIONS = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "hard_sigmoid_keras2": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "exponential": np.exp,
    "swish": lambda x: x * _sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "sparsemax": _keras_sparsemax,
    "celu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
    "sparse_plus": lambda x: np.where(x <= -1.0, 0.0, np.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0)),
    "sparse_sigmoid": lambda x: 0.5 * np.clip(x + 1.0, 0.0, 2.0),
    "squareplus": lambda x: 0.5 * (x + np.sqrt(x * x + 4.0)),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "log_sigmoid": lambda x: -_softplus(-x),
    "hard_silu": lambda x: x * _hard_sigmoid(x),
}


def reference_activation(name: str, x: np.ndarray) -> np.ndarray:
    """Apply the canonical activation ``name`` in float64 (softmax-like ones over the last axis)."""
    if name not in _ACTIVATIONS:
        raise KeyError(f"reference_activation: unknown activation {name!r}")
    return _ACTIVATIONS[name](np.asarray(x, dtype=np.float64))


def gru_reference(x, kernel, recurrent_kernel, bias, *, activation: str = "tanh",
                  recurrent_activation: str = "sigmoid", reset_after: bool = True,
                  go_backwards: bool = False, return_sequences: bool = False,
                  mask: Optional[np.ndarray] = None, initial_state: Optional[np.ndarray] = None,
                  zero_output_for_mask: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Keras GRU forward pass in float64.

    x: (B, T, F); kernel (F, 3u); recurrent_kernel (u, 3u); bias None, (3u,) or (2, 3u).
    Returns (y, h_final): y is (B, T, u) in processing order when return_sequences, else (B, u).
    """
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(kernel, dtype=np.float64)
    U = np.asarray(recurrent_kernel, dtype=np.float64)
    B = x.shape[0]
    u = U.shape[0]
    b_in = np.zeros(3 * u)
    b_rec = np.zeros(3 * u)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.ndim == 2:
            b_in, b_rec = bias[0], bias[1]
        else:
            b_in = bias
    act = _ACTIVATIONS[activation]
    ract = _ACTIVATIONS[recurrent_activation]

    def step(xt, states):
        h = states[0]
        xw = xt @ W + b_in
        x_z, x_r, x_h = xw[:, :u], xw[:, u:2 * u], xw[:, 2 * u:]
        if reset_after:
            hu = h @ U + b_rec
            z = ract(x_z + hu[:, :u])
            r = ract(x_r + hu[:, u:2 * u])
            hh = act(x_h + r * hu[:, 2 * u:])
        else:
            z = ract(x_z + h @ U[:, :u])
            r = ract(x_r + h @ U[:, u:2 * u])
            hh = act(x_h + (r * h) @ U[:, 2 * u:])
        return [z * h + (1.0 - z) * hh]

    h = np.zeros((B, u)) if initial_state is None else np.array(initial_state, dtype=np.float64)
    y, (h,) = run_cell(x, step, [h], go_backwards=go_backwards,
                       return_sequences=return_sequences, mask=mask,
                       zero_output_for_mask=zero_output_for_mask)
    return y, h


def run_cell(x, step: Callable, states: List[np.ndarray], *, go_backwards: bool,
             return_sequences: bool, mask: Optional[np.ndarray], zero_output_for_mask: bool):
    """Keras' recurrence around `step(x_t, states) -> new states` (states[0] is the output h).
    Returns (y, final states)."""
    B, T, _ = x.shape
    u = states[0].shape[1]
    keep = np.ones((B, T), dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    order = range(T - 1, -1, -1) if go_backwards else range(T)
    prev_out = np.zeros((B, u))     # starts at zeros even with an initial state (section 12)
    outputs = []
    for t in order:
        new = step(x[:, t, :], states)
        m = keep[:, t][:, None]
        states = [np.where(m, n, s) for n, s in zip(new, states)]
        out = np.where(m, new[0], 0.0 if zero_output_for_mask else prev_out)
        prev_out = out
        outputs.append(out)
    if return_sequences:
        y = np.stack(outputs, axis=1) if outputs else np.zeros((B, 0, u))
    else:
        y = prev_out
    return y, states
