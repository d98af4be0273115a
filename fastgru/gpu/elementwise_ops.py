"""The elementwise, normalisation and merge ops on an array module, as src_c/model_elementwise.c
runs them: the same float32 terms, softmax and dot accumulated in float64."""
from __future__ import annotations

_MASKED_LOGIT = -1e9   # Keras' large negative for a masked logit (float32)
_MASK_ADD, _MASK_REPLACE_ZERO = 0, 2


def _normalize(ex, op, w, args):
    xp = ex.xp
    sd = xp.maximum(xp.sqrt(w["variance"]), xp.float32(op.fattrs["epsilon"]))
    x = args[0]
    return [w["mean"] + x * sd if op.iattrs["invert"] else (x - w["mean"]) / sd]


def _relu(ex, op, w, args):
    xp, f, x = ex.xp, op.fattrs, args[0]
    slope, top, thr = (xp.float32(f[k]) for k in ("negative_slope", "max_value", "threshold"))
    y = xp.where(x > thr, x, xp.float32(0)) if thr != 0 else xp.maximum(x, xp.float32(0))
    if top < xp.inf:
        y = xp.minimum(xp.maximum(y, xp.float32(0)), top)
    if slope != 0:
        y = y - slope * xp.maximum(thr - x, xp.float32(0))
    return [y]


def _softmax(ex, op, w, args):
    xp, a = ex.xp, op.iattrs
    x, mask = args[0], args[1] if len(args) > 1 else None
    axes = tuple(k + 1 for k in range(x.ndim - 1) if a["axes"] >> k & 1)
    if mask is not None:   # the masked logits in float32, as Keras makes them
        keep = mask.astype(bool)
        if a["mask_mode"] == _MASK_ADD:
            x = x + (1 - keep.astype(xp.float32)) * xp.float32(_MASKED_LOGIT)
        else:
            x = xp.where(keep, x, xp.float32(_MASKED_LOGIT))
    e = xp.exp(x.astype(xp.float64) - x.max(axis=axes, keepdims=True))
    y = (e / e.sum(axis=axes, keepdims=True)).astype(xp.float32)
    if mask is not None and a["mask_mode"] == _MASK_REPLACE_ZERO:
        y = xp.where(mask.astype(bool), y, xp.float32(0))
    return [y]


def _dot(ex, op, w, args):
    """Keras' batch_dot over a's axis p and b's axis q, in float64; normalize scales each side
    by 1 / sqrt(max(its sum of squares, epsilon)) (l2_normalize)."""
    xp, a = ex.xp, op.iattrs
    u = xp.moveaxis(args[0], a["axis1"] + 1, -1).astype(xp.float64)
    v = xp.moveaxis(args[1], a["axis2"] + 1, -1).astype(xp.float64)
    B, K = u.shape[0], u.shape[-1]
    u, v = u.reshape(B, -1, K), v.reshape(B, -1, K)
    y = xp.einsum("bik,bjk->bij", u, v)
    if a["normalize"]:
        eps = op.fattrs["epsilon"]
        su = xp.sqrt(xp.maximum((u * u).sum(axis=-1), eps))
        sv = xp.sqrt(xp.maximum((v * v).sum(axis=-1), eps))
        y = y / (su[:, :, None] * sv[:, None, :])
    return [y.astype(xp.float32).reshape((B,) + ex.shape(op.outputs[0]))]


def _pick(xp, a, b, is_max: bool):
    """max / min of a and b; a NaN in b wins, as in the C code (numpy's maximum / minimum)."""
    return xp.where(((b > a) if is_max else (b < a)) | xp.isnan(b), b, a)


def _extremum(ex, op, w, args):
    xp, is_max = ex.xp, op.kind == "maximum"
    if not op.iattrs["masked"]:
        y = args[0]
        for x in args[1:]:
            y = _pick(xp, y, x, is_max)
        return [y]
    # Keras 3, step by step: a masked step of an input takes the running result, the running
    # result takes the input where it is itself masked; its mask is the OR while every input
    # has one
    n = len(args) // 2
    xs, masks = args[:n], [None if m is None else m.astype(bool)[..., None] for m in args[n:]]
    y, has_mask = xs[0], masks[0] is not None
    valid = masks[0] if has_mask else None
    for x, mk in zip(xs[1:], masks[1:]):
        xv = x if mk is None else xp.where(mk, x, y)
        y = _pick(xp, y if not has_mask else xp.where(valid, y, xv), xv, is_max)
        if mk is not None and has_mask:
            valid = valid | mk
        else:
            has_mask = False
    return [y]


ELEMENTWISE_OPS = {
    "normalize": _normalize,
    "rescale": lambda ex, op, w, args: [args[0] * w["scale"] + w["offset"]],
    "relu": _relu,
    "prelu": lambda ex, op, w, args: [ex.xp.where(args[0] >= 0, args[0], w["alpha"] * args[0])],
    "elu": lambda ex, op, w, args: [ex.xp.where(
        args[0] > 0, args[0], ex.xp.float32(op.fattrs["alpha"]) * ex.xp.expm1(args[0]))],
    "softmax": _softmax,
    "maximum": _extremum,
    "minimum": _extremum,
    "dot": _dot,
}
