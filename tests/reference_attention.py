"""The float64 reference of the ``attention`` op (fastgru/spec.py; its attributes are those of
src_c/model_attention.c), for tests/spec_reference.py. A masked score is filled in float32, as
Keras fills it: ``score - 1e9`` rounds to a multiple of 64, so a row with every score masked
gets (nearly) uniform weights, as in Keras, where float64 would keep the scores' order."""
from __future__ import annotations

import numpy as np


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _scores(q, k, a, w):
    """(B, H, Tq, Tk) scores of the heads of q (B, Tq, H, dk) and k (B, Tk, H, dk)."""
    mode = a["score_mode"]
    if mode == 0:
        s = np.einsum("bihd,bjhd->bhij", q * a["query_scale"], k)
        return s * w["scale"][0] if "scale" in w else s
    pair = q[:, :, None, 0] + k[:, None, :, 0]          # (B, Tq, Tk, d); one head
    if mode == 1:
        factor = w["scale"][0] if "scale" in w else 1.0
        s = w["concat_score_weight"][0] * np.tanh(factor * pair).sum(axis=-1)
    else:
        s = (w["scale"] * np.tanh(pair) if "scale" in w else np.tanh(pair)).sum(axis=-1)
    return s[:, None]


def attention(xs, a, w):
    q, k, v, q_mask, v_mask, attention_mask = xs
    heads = a["num_heads"]
    (batch, tq, qd), tk, vd = q.shape, k.shape[1], v.shape[2]
    s = _scores(q.reshape(batch, tq, heads, qd // heads), k.reshape(batch, tk, heads, qd // heads),
                a, w)
    keep = np.ones(s.shape, dtype=bool)
    if v_mask is not None:
        keep &= v_mask[:, None, None, :]
    if a["causal"]:
        keep &= np.tril(np.ones((tq, tk), dtype=bool))
    if attention_mask is not None:
        keep &= attention_mask[:, None] != 0
    if q_mask is not None and not a["query_mask_rows"]:
        keep &= q_mask[:, None, :, None]
    filled = -1e9 if a["mask_fill"] else (s.astype(np.float32) - np.float32(1e9)).astype(np.float64)
    weights = _softmax(np.where(keep, s, filled))
    if a["zero_masked_weights"]:
        weights = weights * keep
    y = np.einsum("bhij,bjhd->bihd", weights, v.reshape(batch, tk, heads, vd // heads))
    y = y.reshape(batch, tq, vd)
    if q_mask is not None and a["query_mask_rows"]:
        y = y * q_mask[..., None]
    return [y, weights]   # the scores (B, H, Tq, Tk), or (B, Tq, Tk) read alike for one head


OPS = {"attention": attention}
