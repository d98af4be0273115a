"""The pooling and shape ops on an array module, as src_c/model_shape.c runs them: same
windows and padding, NaN kept by max, means summed in the C code's precision and order."""
from __future__ import annotations


def _steps_last(x, channels_first: bool):
    """(B, T, F) view of a sequence stored (B, T, F), or (B, F, T) when channels_first."""
    return x.swapaxes(1, 2) if channels_first else x


def _global_pool(ex, op, w, args):
    xp, a = ex.xp, op.iattrs
    x, mask = args[0], args[1] if len(args) > 1 else None
    x = _steps_last(x, a["channels_first"])
    if not a["average"]:
        y = x.max(axis=1)
    else:
        v = x.astype(xp.float64)
        if mask is not None:
            keep = mask.astype(bool)[:, :, None]
            # tf-keras multiplies by the mask (a NaN in a masked step spreads); Keras 3 selects
            dropped = v * 0.0 if a["mask_multiplies"] else xp.zeros_like(v)
            v = xp.where(keep, v, dropped)
            kept = keep.sum(axis=1).astype(xp.float64)
        else:
            kept = float(x.shape[1])
        with _quiet(xp):
            y = (v.sum(axis=1) / kept).astype(xp.float32)
    return [y.reshape((x.shape[0],) + ex.shape(op.outputs[0]))]


def _quiet(xp):
    """No warning for a fully masked mean (0/0 is NaN, as in C and Keras)."""
    errstate = getattr(xp, "errstate", None)
    if errstate is None:
        import contextlib
        return contextlib.nullcontext()
    return errstate(invalid="ignore", divide="ignore")


def _pooled_steps(a, steps: int):
    """Output length and padding before the first step (TF / XLA "SAME")."""
    pool, stride = a["pool_size"], a["strides"]
    if not a["padding_same"]:
        return (0 if steps < pool else (steps - pool) // stride + 1), 0
    out = (steps + stride - 1) // stride
    total = (out - 1) * stride + pool - steps if out else 0
    return out, max(total, 0) // 2


def _pool1d(ex, op, w, args):
    xp, a = ex.xp, op.iattrs
    x = _steps_last(args[0], a["channels_first"])
    steps = x.shape[1]
    out, pad = _pooled_steps(a, steps)
    start = xp.arange(out) * a["strides"] - pad
    total = xp.zeros((x.shape[0], out, x.shape[2]), dtype=xp.float32)
    best = xp.full_like(total, -xp.inf)
    count = xp.zeros((out,), dtype=xp.float32)
    for k in range(a["pool_size"]):   # the window's steps in order, as the C loop adds them
        idx = start + k
        inside = (idx >= 0) & (idx < steps)
        v = x[:, xp.clip(idx, 0, max(steps - 1, 0))]
        total = xp.where(inside[None, :, None], total + v, total)
        best = xp.where(inside[None, :, None], xp.maximum(best, v), best)
        count = count + inside
    y = total / count[None, :, None] if a["average"] else best
    return [_steps_last(y, a["channels_first"]).astype(xp.float32)]


def _reshape(ex, op, w, args):
    return [args[0].reshape((args[0].shape[0],) + ex.shape(op.outputs[0]))]


def _permute(ex, op, w, args):
    x = args[0]
    axes = [op.iattrs[f"axis_{k}"] for k in range(x.ndim - 1)]
    return [ex.xp.ascontiguousarray(x.transpose([0] + [1 + a for a in axes]))]


def _repeat_vector(ex, op, w, args):
    return [ex.xp.repeat(args[0][:, None, :], op.iattrs["n"], axis=1)]


def _pad_time(ex, op, w, args):
    xp, a = ex.xp, op.iattrs
    x = _steps_last(args[0], a["channels_first"])
    before, after = a["before"], a["after"]
    x = x[:, max(-before, 0):x.shape[1] - max(-after, 0)]
    y = xp.pad(x, ((0, 0), (max(before, 0), max(after, 0)), (0, 0)))
    return [xp.ascontiguousarray(_steps_last(y, a["channels_first"]))]


def _upsample_time(ex, op, w, args):
    return [ex.xp.repeat(args[0], op.iattrs["size"], axis=1)]


SHAPE_OPS = {
    "global_pool": _global_pool, "pool1d": _pool1d, "reshape": _reshape, "permute": _permute,
    "repeat_vector": _repeat_vector, "pad_time": _pad_time, "upsample_time": _upsample_time,
}
