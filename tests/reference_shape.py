"""float64 numpy references of the pooling and shape ops (fastgru/spec.py's table), written
from Keras' layer definitions. Each takes the op's inputs, attrs, weights and its output's
per-sample shape: padding "same" as TF / XLA lay it out (the extra step after),
padded steps neither a max nor counted in a mean."""
from __future__ import annotations

import numpy as np


def _steps_last(x, channels_first):
    """x as (B, T, F) whatever its layout."""
    return np.swapaxes(x, 1, 2) if channels_first else x


def _global_pool(xs, a, w, out_shape):
    x, mask = xs[0], xs[1] if len(xs) > 1 else None
    first = a["channels_first"]
    x = _steps_last(x, first)
    if not a["average"]:
        y = x.max(axis=1)
    elif mask is None:
        y = x.mean(axis=1)
    else:
        kept = mask[..., None].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            masked = x * kept if a["mask_multiplies"] else np.where(kept > 0, x, 0.0)
            y = masked.sum(axis=1) / kept.sum(axis=1)
    return y.reshape((y.shape[0],) + out_shape)   # keepdims keeps a steps axis of 1


def _pool1d(xs, a, w, out_shape):
    x = _steps_last(xs[0], a["channels_first"])
    pool, stride, steps = a["pool_size"], a["strides"], x.shape[1]
    if a["padding_same"]:
        out = -(-steps // stride)
        before = max((out - 1) * stride + pool - steps, 0) // 2
    else:
        out, before = (steps - pool) // stride + 1, 0
    windows = []
    for t in range(out):
        lo, hi = max(t * stride - before, 0), min(t * stride - before + pool, steps)
        part = x[:, lo:hi]
        windows.append(part.mean(axis=1) if a["average"] else part.max(axis=1))
    y = np.stack(windows, axis=1) if windows else np.zeros((x.shape[0], 0, x.shape[2]))
    return _steps_last(y, a["channels_first"])


def _pad_time(xs, a, w, out_shape):
    x = _steps_last(xs[0], a["channels_first"])
    before, after = a["before"], a["after"]
    x = x[:, max(-before, 0):x.shape[1] - max(-after, 0)]
    x = np.pad(x, ((0, 0), (max(before, 0), max(after, 0)), (0, 0)))
    return _steps_last(x, a["channels_first"])


REFERENCES = {
    "global_pool": _global_pool,
    "pool1d": _pool1d,
    "reshape": lambda xs, a, w, out_shape: xs[0].reshape((xs[0].shape[0],) + tuple(
        -1 if d is None else d for d in out_shape)),
    "permute": lambda xs, a, w, out_shape: xs[0].transpose(
        (0,) + tuple(1 + a[f"axis_{k}"] for k in range(xs[0].ndim - 1))),
    "repeat_vector": lambda xs, a, w, out_shape: np.repeat(xs[0][:, None], a["n"], axis=1),
    "pad_time": _pad_time,
    "upsample_time": lambda xs, a, w, out_shape: np.repeat(xs[0], a["size"], axis=1),
}
