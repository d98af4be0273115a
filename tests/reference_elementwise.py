"""float64 numpy references of the elementwise, normalisation and merge ops (normalize,
rescale, relu, prelu, elu, softmax, maximum, minimum, dot), written from Keras' formulas
(fastgru/spec.py's op table), for tests/spec_reference.py."""
from __future__ import annotations

import numpy as np

MASKED_LOGIT = np.float32(-1e9)


def _normalize(xs, a, w):
    sd = np.maximum(np.sqrt(w["variance"]), a["epsilon"])
    if a["invert"]:
        return w["mean"] + xs[0] * sd
    return (xs[0] - w["mean"]) / sd


def _relu(xs, a, w):
    x = xs[0]
    slope, top, threshold = a["negative_slope"], a["max_value"], a["threshold"]
    y = np.where(x > threshold, x, 0.0) if threshold != 0 else np.maximum(x, 0.0)
    if np.isfinite(top):
        y = np.clip(y, 0.0, top)
    return y - slope * np.maximum(threshold - x, 0.0)


def _softmax(xs, a, w):
    x, mask = xs
    axes = tuple(k + 1 for k in range(x.ndim - 1) if a["axes"] >> k & 1)
    if mask is not None:   # the masked logits in float32, as Keras makes them
        x32 = x.astype(np.float32)
        if a["mask_mode"] == 0:
            x32 = x32 + (np.float32(1) - mask.astype(np.float32)) * MASKED_LOGIT
        else:
            x32 = np.where(mask, x32, MASKED_LOGIT)
        x = x32.astype(np.float64)
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    y = e / e.sum(axis=axes, keepdims=True)
    return np.where(mask, y, 0.0) if mask is not None and a["mask_mode"] == 2 else y


def _extremum(op):
    def run(xs, a, w):
        if not a.get("masked"):
            return op.reduce(xs)
        n = len(xs) // 2
        values, masks = xs[:n], [None if m is None else m[..., None] for m in xs[n:]]
        # Keras 3's _apply_merge_op_and_or_mask, input by input
        out, out_mask = values[0], masks[0]
        for x, m in zip(values[1:], masks[1:]):
            if m is not None:
                x = np.where(m, x, out)
            if out_mask is not None:
                out = np.where(out_mask, out, x)
            out_mask = out_mask | m if m is not None and out_mask is not None else None
            out = op(out, x)
        return out
    return run


def _dot(xs, a, w):
    x1, x2 = xs
    p, q = a["axis1"] + 1, a["axis2"] + 1
    if a["normalize"]:
        x1 = x1 / np.sqrt(np.maximum((x1 * x1).sum(axis=p, keepdims=True), a["epsilon"]))
        x2 = x2 / np.sqrt(np.maximum((x2 * x2).sum(axis=q, keepdims=True), a["epsilon"]))
    y = np.stack([np.tensordot(u, v, axes=(p - 1, q - 1)) for u, v in zip(x1, x2)])
    return y.reshape(len(y), -1) if y.ndim == 1 else y


OPS = {
    "normalize": _normalize,
    "rescale": lambda xs, a, w: xs[0] * w["scale"] + w["offset"],
    "relu": _relu,
    "prelu": lambda xs, a, w: np.maximum(xs[0], 0.0) - w["alpha"] * np.maximum(-xs[0], 0.0),
    "elu": lambda xs, a, w: np.where(xs[0] > 0, xs[0], a["alpha"] * np.expm1(xs[0])),
    "softmax": _softmax,
    "maximum": _extremum(np.maximum),
    "minimum": _extremum(np.minimum),
    "dot": _dot,
}
