"""The attention op on an array module, as src_c/model_attention.c computes it: scores per
head (dot, Keras' concat, or AdditiveAttention's), masks (value, causal, attention mask,
query rows), a masked score filled in float32 as Keras fills it, softmax, weighted values.
MultiHeadAttention's projections are dense ops around it."""
from __future__ import annotations

_DOT, _CONCAT = 0, 1


def _scores(xp, q, k, a, w):
    """(B, H, Tq, Tk) scores of the heads of q (B, Tq, H, dk) and k (B, Tk, H, dk)."""
    if a["score_mode"] == _DOT:
        s = xp.einsum("bihd,bjhd->bhij", q * xp.float32(a["query_scale"]), k)
        return s * w["scale"][0] if "scale" in w else s
    pair = q[:, :, None, 0] + k[:, None, :, 0]          # (B, Tq, Tk, d); one head
    if a["score_mode"] == _CONCAT:
        factor = w["scale"][0] if "scale" in w else xp.float32(1)
        s = w["concat_score_weight"][0] * xp.tanh(factor * pair).sum(axis=-1)
    else:
        s = (w["scale"] * xp.tanh(pair) if "scale" in w else xp.tanh(pair)).sum(axis=-1)
    return s[:, None]


def attention(ex, op, w, args):
    xp, a = ex.xp, {**op.iattrs, **op.fattrs}
    q, k, v, q_mask, v_mask, attention_mask = args
    heads = a["num_heads"]
    (batch, tq, qd), tk, vd = q.shape, k.shape[1], v.shape[2]
    s = _scores(xp, q.reshape(batch, tq, heads, qd // heads),
                k.reshape(batch, tk, heads, qd // heads), a, w)
    keep = xp.ones(s.shape, dtype=bool)
    if v_mask is not None:
        keep &= v_mask.astype(bool)[:, None, None, :]
    if a["causal"]:
        keep &= xp.tril(xp.ones((tq, tk), dtype=bool))
    if attention_mask is not None:
        keep &= attention_mask[:, None] != 0
    if q_mask is not None and not a["query_mask_rows"]:
        keep &= q_mask.astype(bool)[:, None, :, None]
    filled = xp.float32(-1e9) if a["mask_fill"] else s - xp.float32(1e9)
    s = xp.where(keep, s, filled)
    e = xp.exp(s - s.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1, keepdims=True)
    if a["zero_masked_weights"]:
        weights = weights * keep
    y = xp.einsum("bhij,bjhd->bihd", weights, v.reshape(batch, tk, heads, vd // heads))
    y = y.reshape(batch, tq, vd)
    if q_mask is not None and a["query_mask_rows"]:
        y = y * q_mask.astype(xp.float32)[..., None]
    scores = op.outputs[1] if len(op.outputs) > 1 else None   # (H, Tq, Tk), or (Tq, Tk)
    return [y.astype(xp.float32),
            None if scores is None else weights.reshape((batch,) + ex.shape(scores))]


ATTENTION_OPS = {"attention": attention}
