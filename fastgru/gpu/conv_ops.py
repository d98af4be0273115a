"""conv1d on an array module, as src_c/model_conv.c computes it (Keras' Conv1D: valid / same /
causal padding, strides, dilation, groups), and its stream: a causal stride-1 conv1d keeps
its last (kernel_size - 1) * dilation_rate inputs per stream, which stand in for the zero
padding on the next step."""
from __future__ import annotations

from ..registry import CONV1D_PADDINGS

_VALID, _SAME, _CAUSAL = (CONV1D_PADDINGS.index(p) for p in ("valid", "same", "causal"))


def _layout(a, steps: int):
    """(output length, zero steps before, the span one output step reads)."""
    k, s, d = a["kernel_size"], a["strides"], a["dilation_rate"]
    span = d * (k - 1) + 1
    if a["padding"] == _VALID:
        return ((steps - span) // s + 1 if steps >= span else 0), 0, span
    out = (steps + s - 1) // s
    if a["padding"] == _CAUSAL:
        return out, span - 1, span
    return out, max((out - 1) * s + span - steps, 0) // 2, span


def conv1d(ex, op, w, args, carried):
    """`carried`: in a stream, {"inputs": the last inputs} of this op, else None."""
    xp, a = ex.xp, op.iattrs
    x = args[0]
    B, steps, C = x.shape
    k, s, d, groups = a["kernel_size"], a["strides"], a["dilation_rate"], a["groups"]
    out, left, span = _layout(a, steps)
    if carried is not None:   # a causal stride-1 stream: the kept inputs replace the padding
        history = carried.get("inputs")
        if history is None:
            history = xp.zeros((B, span - 1, C), dtype=xp.float32)
        x = xp.concatenate([history, x], axis=1)
        carried["inputs"] = x[:, x.shape[1] - (span - 1):]
        left = 0
    right = max((out - 1) * s + span - left - x.shape[1], 0)
    xp_ = xp.pad(x, ((0, 0), (left, right), (0, 0)))
    kernel = w["kernel"]                       # (kernel_size, C / groups, filters)
    cg, fg = C // groups, kernel.shape[2] // groups
    starts = xp.arange(out) * s
    y = xp.zeros((B, out, kernel.shape[2]), dtype=xp.float32)
    for g in range(groups):
        xs = xp_[:, :, g * cg:(g + 1) * cg]
        acc = xp.zeros((B, out, fg), dtype=xp.float32)
        for tap in range(k):
            acc = acc + xs[:, starts + tap * d] @ kernel[tap, :, g * fg:(g + 1) * fg]
        y[:, :, g * fg:(g + 1) * fg] = acc
    if "bias" in w:
        y = y + w["bias"]
    return [ex.activate(xp, a["activation"], y)]


# op kind -> fn(executor, op, weights, inputs, carried): the ops that carry state in a stream
STATEFUL_OPS = {"conv1d": conv1d}
