"""Float64 numpy reference of the conv1d op (Keras Conv1D, channels_last), written from its
definition: y[t, o] = bias[o] + sum_k sum_c xpad[t*s + k*d, g*C_g + c] * kernel[k, c, o]."""
from __future__ import annotations

import numpy as np

from reference_gru import reference_activation


def _left_padding(steps, a):
    span = a["dilation_rate"] * (a["kernel_size"] - 1) + 1
    if a["padding"] == "causal":
        return span - 1
    if a["padding"] == "same":
        out = -(-steps // a["strides"])
        return max((out - 1) * a["strides"] + span - steps, 0) // 2
    return 0


def conv1d_reference(x, a, w):
    """x (B, T, C) -> (B, T', filters), float64, as Keras computes it."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(w["kernel"], dtype=np.float64)
    batch, steps, channels = x.shape
    k, s, d, groups = a["kernel_size"], a["strides"], a["dilation_rate"], a["groups"]
    span = d * (k - 1) + 1
    left = _left_padding(steps, a)
    if a["padding"] == "valid":
        out = (steps - span) // s + 1 if steps >= span else 0
    else:
        out = -(-steps // s)
    padded = np.zeros((batch, max(left + steps, (out - 1) * s + span if out else 0), channels))
    padded[:, left:left + steps] = x
    cin_g, cout_g = channels // groups, kernel.shape[2] // groups
    y = np.zeros((batch, out, kernel.shape[2]))
    for t in range(out):
        window = padded[:, t * s + d * np.arange(k)]          # (B, K, C)
        for g in range(groups):
            part = window[:, :, g * cin_g:(g + 1) * cin_g]
            y[:, t, g * cout_g:(g + 1) * cout_g] = np.einsum(
                "bkc,kco->bo", part, kernel[:, :, g * cout_g:(g + 1) * cout_g])
    if "bias" in w:
        y = y + w["bias"]
    return reference_activation(a.get("activation", "linear"), y)
