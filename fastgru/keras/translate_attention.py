"""Attention, AdditiveAttention and MultiHeadAttention -> the ``attention`` op (MultiHeadAttention's
four projections become dense ops around it).

Masks are the ones the inputs carry (Value.mask), as both Keras versions feed them to these
layers: Attention takes [query_mask, value_mask] (the key's is unused), zeroes the output rows
of masked queries and passes the query's mask on; MultiHeadAttention ANDs the query's (rows),
the value's and the key's (columns), the causal mask and the ``attention_mask`` argument into
one score mask and passes the query's mask on. Where the versions differ (how a masked score is
filled, whether fully masked rows give zeros), the file's own version decides (see the
op's attributes in src_c/model_attention.c). ``return_attention_scores`` adds the weights as
a second output: (Tq, Tk) for Attention, (heads, Tq, Tk) for MultiHeadAttention.
"""
from __future__ import annotations

import numpy as np

from .translate import sequence_features

ATTENTION_CLASSES = ("Attention", "AdditiveAttention")
MHA_CLASS = "MultiHeadAttention"
SCORE_MODES = {"dot": 0, "concat": 1}
ADDITIVE = 2
# MultiHeadAttention's sublayers as the weight files name them (tf-keras .h5: query, key,
# value, attention_output; the vars trees: query_dense, ..., output_dense), in Keras'
# weight order.
MHA_PARTS = ("query", "key", "value", "output")
MHA_SUBLAYERS = {name: i for i, names in enumerate((("query", "query_dense"), ("key", "key_dense"),
                                                    ("value", "value_dense"),
                                                    ("attention_output", "output_dense")))
                 for name in names}


def _sequence(b, layer, x, what):
    if len(x.shape) != 2:
        b.fail(layer.name, f"{what} must be a (batch, time, features) tensor, got per-sample "
                           f"shape {x.shape}")
    return sequence_features(b, layer, x)


def _call_flag(b, layer, call, name):
    return b.flag(layer.name, call.op_kwargs, name, False)


def _no_other_tensors(b, layer, call, known=()):
    """Refuse keyword tensors the translator would otherwise ignore (explicit masks)."""
    other = sorted(set(call.tensor_kwargs) - set(known))
    if other:
        b.fail(layer.name, f"called with tensor argument(s) {', '.join(other)}, which fastgru "
                           f"does not support here")


def _attention_op(b, layer, q, k, v, masks, attrs, weights, scores_shape=None, units=None):
    """The attention op on (q, k, v) -> its output Value (and the scores Value or None)."""
    q_mask, v_mask, attention_mask = masks
    y = b.value(f"{layer.name}/attention" if units else layer.name, "float32",
                (q.shape[0], units or v.shape[-1]))
    scores = b.value(f"{layer.name}/scores", "float32", scores_shape) if scores_shape else None
    if scores and len(scores_shape) == 3:   # (heads, Tq, Tk): its first axis is not time
        b.tensors[scores.name].time = False
    b.add_op("attention", layer.name,
             [q.name, k.name, v.name, q_mask, v_mask,
              attention_mask.name if attention_mask is not None else None],
             [y.name, scores.name if scores else None], attrs, weights)
    return y, scores


def translate_attention(b, layer, call, inputs, states, mask):
    """Attention (dot or concat scores) and AdditiveAttention, inputs [query, value(, key)]."""
    cfg = layer.config
    _no_other_tensors(b, layer, call)
    additive = b.resolve_class(layer, layer.class_name, layer.registered_name) == "AdditiveAttention"
    q, v = inputs[0], inputs[1]
    k = inputs[2] if len(inputs) > 2 else v
    dim = _sequence(b, layer, q, "query")
    _sequence(b, layer, v, "value")
    if _sequence(b, layer, k, "key") != dim:
        b.fail(layer.name, f"query and key feature sizes differ ({dim} and {k.shape[-1]})")
    if k.shape[0] != v.shape[0] and None not in (k.shape[0], v.shape[0]):
        b.fail(layer.name, f"key and value lengths differ ({k.shape[0]} and {v.shape[0]})")
    score_mode = cfg.get("score_mode", "dot")
    if not additive and score_mode not in SCORE_MODES:
        b.fail(layer.name, f"score_mode {score_mode!r} is not one of {', '.join(SCORE_MODES)}")
    use_scale = b.flag(layer.name, cfg, "use_scale", additive)
    expected = [("scale", (dim,) if additive else ())] if use_scale else []
    if not additive and score_mode == "concat":
        expected.append(("concat_score_weight", ()))
    arrays = dict(zip([label for label, _ in expected], b.layer_weights(layer, expected)))
    weights = {name: a.reshape(-1) for name, a in arrays.items()}
    # tf-keras' constructor spelling `causal` (older files) and the call's use_causal_mask
    causal = _call_flag(b, layer, call, "use_causal_mask") or (
        b.keras_version == 2 and b.flag(layer.name, cfg, "causal", False))
    scores_shape = None
    if _call_flag(b, layer, call, "return_attention_scores"):
        if k.shape[0] is None:
            b.fail(layer.name, "return_attention_scores=True needs a value of fixed length "
                               "(the scores' second axis); the config leaves it open")
        scores_shape = (q.shape[0], k.shape[0])
    attrs = {"num_heads": 1, "score_mode": ADDITIVE if additive else SCORE_MODES[score_mode],
             "causal": causal, "mask_fill": 0, "zero_masked_weights": False,
             "query_mask_rows": True, "query_scale": 1.0}
    y, scores = _attention_op(b, layer, q, k, v, (q.mask, v.mask, None), attrs, weights,
                              scores_shape)
    y.mask = q.mask
    return [y, scores] if scores else [y]


def _mha_weight_order(b, layer):
    """Put the layer's weight refs in Keras' order (query, key, value, output projection; kernel
    before bias): the vars trees list the sublayers alphabetically."""
    def part(ref):
        for piece in reversed(ref.path.split("/")):
            if piece.lstrip("_") in MHA_SUBLAYERS:
                return MHA_SUBLAYERS[piece.lstrip("_")]
        return len(MHA_PARTS)
    b.weights[layer.name] = sorted(b.weights.get(layer.name, []), key=part)


def _output_units(b, layer, cfg, query_dim):
    shape = cfg.get("output_shape")
    if shape is None:
        return query_dim
    if isinstance(shape, list) and len(shape) == 1:
        shape = shape[0]
    return b.dim(layer.name, "output_shape", shape)


def translate_mha(b, layer, call, inputs, states, mask):
    """MultiHeadAttention(query, value, key=None, attention_mask=None) over the time axis."""
    cfg = layer.config
    _no_other_tensors(b, layer, call, ("value", "key", "attention_mask"))
    q = inputs[0]
    v = inputs[1] if len(inputs) > 1 else b.keyword_tensor(layer, call, "value")
    k = inputs[2] if len(inputs) > 2 else b.keyword_tensor(layer, call, "key")
    if v is None:
        b.fail(layer.name, "called without a value tensor")
    k_given = k is not None
    k = k if k_given else v
    attention_mask = b.keyword_tensor(layer, call, "attention_mask")
    axes = cfg.get("attention_axes")
    if axes not in (None, 1, [1], -2, [-2]):
        b.fail(layer.name, f"attention_axes={axes!r}: only attention over the time axis is "
                           f"supported")
    if cfg.get("use_gate") or cfg.get("sliding_window") is not None:
        b.fail(layer.name, "use_gate and sliding_window are not supported")
    return_scores = _call_flag(b, layer, call, "return_attention_scores")
    heads = b.dim(layer.name, "num_heads", cfg.get("num_heads"))
    key_dim = b.dim(layer.name, "key_dim", cfg.get("key_dim"))
    value_dim = b.dim(layer.name, "value_dim", cfg.get("value_dim") or key_dim)
    use_bias = b.flag(layer.name, cfg, "use_bias", True)
    dq = _sequence(b, layer, q, "query")
    dv = _sequence(b, layer, v, "value")
    dk = _sequence(b, layer, k, "key")
    if k.shape[0] != v.shape[0] and None not in (k.shape[0], v.shape[0]):
        b.fail(layer.name, f"key and value lengths differ ({k.shape[0]} and {v.shape[0]})")
    units = _output_units(b, layer, cfg, dq)
    if attention_mask is not None and (len(attention_mask.shape) != 2 or
                                       attention_mask.shape[1] is None):
        b.fail(layer.name, f"attention_mask must be (batch, query time, value time) with a "
                           f"fixed value time, got per-sample shape {attention_mask.shape}")
    expected = []
    for part, (rows, width) in zip(MHA_PARTS[:3], ((dq, key_dim), (dk, key_dim), (dv, value_dim))):
        expected.append((f"{part}/kernel", (rows, heads, width)))
        expected += [(f"{part}/bias", (heads, width))] if use_bias else []
    expected.append(("output/kernel", (heads, value_dim, units)))
    expected += [("output/bias", (units,))] if use_bias else []
    _mha_weight_order(b, layer)
    arrays = iter(b.layer_weights(layer, expected))
    projected = []
    for part, x, width in (("query", q, key_dim), ("key", k, key_dim), ("value", v, value_dim)):
        kernel = next(arrays)
        projected.append(_project(b, layer, part, x, kernel.reshape(kernel.shape[0], -1),
                                  next(arrays).reshape(-1) if use_bias else None))
    scores_shape = None
    if return_scores:
        if None in (q.shape[0], k.shape[0]):
            b.fail(layer.name, "return_attention_scores=True needs a query and a value of "
                               "fixed length (the scores' last two axes); the config leaves "
                               "one open")
        scores_shape = (heads, q.shape[0], k.shape[0])
    keras3 = b.keras_version == 3
    attrs = {"num_heads": heads, "score_mode": 0,
             "causal": _call_flag(b, layer, call, "use_causal_mask"),
             # Keras 3 (and tf-keras' robust masking) put -1e9 in place of a masked score;
             # Keras 3 zeroes masked weights only off its fused path, i.e. with dropout or
             # when it returns the scores
             "mask_fill": 1 if keras3 or b.flag(layer.name, cfg, "softmax_robust_masking", False) else 0,
             "zero_masked_weights": keras3 and (return_scores or
                                                b.number(layer.name, cfg, "dropout", 0.0) > 0),
             "query_mask_rows": False,
             "query_scale": float(np.float32(1.0) / np.sqrt(np.float32(key_dim)))}
    value_mask = b.mask_and(layer.name, [v.mask, k.mask if k_given else None])
    qp, kp, vp = projected
    att, scores = _attention_op(b, layer, qp, kp, vp, (q.mask, value_mask, attention_mask),
                                attrs, {}, scores_shape, units=heads * value_dim)
    kernel = next(arrays)
    y = _project(b, layer, "output", att, kernel.reshape(-1, units),
                 next(arrays) if use_bias else None, hint=layer.name)
    y.mask = q.mask
    return [y, scores] if scores else [y]


def _project(b, layer, part, x, kernel, bias, hint=None):
    """One einsum projection as a dense op (its kernel flattened to (in, heads * width))."""
    y = b.value(hint or f"{layer.name}/{part}", "float32", (x.shape[0], kernel.shape[1]))
    weights = {"kernel": kernel} if bias is None else {"kernel": kernel, "bias": bias}
    b.add_op("dense", layer.name, [x.name], [y.name],
             {"activation": "linear", "use_bias": bias is not None}, weights)
    return y


TRANSLATORS = {**{name: translate_attention for name in ATTENTION_CLASSES},
               MHA_CLASS: translate_mha}
INPUT_COUNTS = {**{name: (2, 3) for name in ATTENTION_CLASSES}, MHA_CLASS: (1, 3)}
