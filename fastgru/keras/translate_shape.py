"""Pooling and shape layers: GlobalMax/AveragePooling1D, Max/AveragePooling1D, Flatten, Reshape,
Permute, RepeatVector, ZeroPadding1D, Cropping1D and UpSampling1D.

Masks: of these layers only GlobalAveragePooling1D takes one (masked steps are left out of the
mean) and it returns none; every other layer here drops the mask (Keras 3 warns and drops it;
tf-keras refuses to build such a model at all), so no output below carries a mask.

A time axis of unknown length (None) stays unknown through pooling, padding, cropping and
upsampling (the executor derives each output's length from its input's per run) and through a
Reshape or Permute that works within each step; Flatten, a Reshape across steps and a Permute
that moves the time axis need the length fixed in the model's input shape.
"""
from __future__ import annotations

from .graph import Value
from .translate import feature_dim, permute


def _channels_first(b, layer) -> bool:
    fmt = layer.config.get("data_format") or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        b.fail(layer.name, f"data_format {fmt!r} is not channels_last or channels_first")
    return fmt == "channels_first"


def _class(b, layer) -> str:
    return b.resolve_class(layer, layer.class_name, layer.registered_name)


def _one_int(b, layer, key, default=None, minimum=1):
    """An integer option Keras may store as a 1-tuple (pool_size, strides, size)."""
    value = layer.config.get(key, default)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return b.dim(layer.name, key, value, minimum)


def _pair(b, layer, key, default):
    """A (before, after) option stored as one int or a pair (padding, cropping)."""
    value = layer.config.get(key, default)
    pair = value if isinstance(value, list) else [value, value]
    if len(pair) != 2:
        b.fail(layer.name, f"{key} {value!r} is not one integer or a pair")
    return tuple(b.dim(layer.name, f"{key}[{i}]", v, 0) for i, v in enumerate(pair))


def _sequence(b, layer, x, channels_first=False):
    """(steps, features) of a (batch, steps, features) input (features first when
    channels_first); steps may be None, features must be known."""
    if len(x.shape) != 2:
        b.fail(layer.name, f"expects a (batch, steps, features) input, got per-sample shape {x.shape}")
    steps, feats = (x.shape[1], x.shape[0]) if channels_first else x.shape
    if feats is None or (channels_first and steps is None):
        b.fail(layer.name, f"input shape {x.shape}: only a channels_last time axis may have "
                           f"an unknown length")
    return steps, feats


def _needs_fixed_length(b, layer, why):
    b.fail(layer.name, f"{why} depends on the input's number of steps, which is unknown "
                       f"(None): give the model's input a fixed length")


def _seq_shape(steps, feats, channels_first):
    return (feats, steps) if channels_first else (steps, feats)


def translate_global_pool(b, layer, call, inputs, states, mask):
    x = inputs[0]
    first = _channels_first(b, layer)
    steps, feats = _sequence(b, layer, x, first)
    average = _class(b, layer) in ("GlobalAveragePooling1D", "GlobalAvgPool1D")
    keepdims = b.flag(layer.name, layer.config, "keepdims", False)
    shape = (_seq_shape(1, feats, first)) if keepdims else (feats,)
    y = b.value(layer.name, "float32", shape)
    ins = [x.name]
    if average and mask is not None:     # GlobalMaxPooling1D has no mask argument in Keras
        if b.tensors[mask].shape != (steps,):
            b.fail(layer.name, f"its mask has shape {b.tensors[mask].shape}, not the "
                               f"{steps} steps of its input")
        ins.append(mask)
    b.add_op("global_pool", layer.name, ins, [y.name],
             {"average": average, "channels_first": first,
              "mask_multiplies": b.keras_version == 2})
    return [y]


def translate_pool1d(b, layer, call, inputs, states, mask):
    x = inputs[0]
    first = _channels_first(b, layer)
    steps, feats = _sequence(b, layer, x, first)
    pool = _one_int(b, layer, "pool_size", 2)
    strides = _one_int(b, layer, "strides", None) if layer.config.get("strides") else pool
    padding = str(layer.config.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        b.fail(layer.name, f"padding {padding!r} is not valid or same")
    if steps is None:
        out = None
    elif padding == "same":
        out = -(-steps // strides)
    else:
        if steps < pool:
            b.fail(layer.name, f"pool_size {pool} is longer than the {steps} input steps")
        out = (steps - pool) // strides + 1
    y = b.value(layer.name, "float32", _seq_shape(out, feats, first))
    b.add_op("pool1d", layer.name, [x.name], [y.name],
             {"pool_size": pool, "strides": strides, "padding_same": padding == "same",
              "average": _class(b, layer) in ("AveragePooling1D", "AvgPool1D"),
              "channels_first": first})
    return [y]


def _product(dims):
    n = 1
    for d in dims:
        n *= d
    return n


def _reshape(b, layer, x, shape, hint):
    y = b.value(hint, x.dtype, shape)
    b.add_op("reshape", layer.name, [x.name], [y.name])
    return y


def translate_flatten(b, layer, call, inputs, states, mask):
    x = inputs[0]
    if None in x.shape:
        _needs_fixed_length(b, layer, "its output size")
    if len(x.shape) <= 1:
        return [Value(x.name, x.shape, x.dtype)]
    if _channels_first(b, layer):        # Keras moves the channels last first
        x = permute(b, layer, x, tuple(range(1, len(x.shape))) + (0,), f"{layer.name}/channels_last")
    return [_reshape(b, layer, x, (_product(x.shape),), layer.name)]


def translate_reshape(b, layer, call, inputs, states, mask):
    x = inputs[0]
    target = layer.config.get("target_shape")
    if not isinstance(target, list) or not 1 <= len(target) <= 4:
        b.fail(layer.name, f"target_shape {target!r} is not a list of 1 to 4 sizes")
    if target.count(-1) > 1:
        b.fail(layer.name, f"target_shape {target} has more than one -1")
    known = [b.dim(layer.name, f"target_shape[{i}]", d) for i, d in enumerate(target) if d != -1]
    if x.shape and x.shape[0] is None:
        # only a reshape of each step keeps an unknown number of steps: (-1, ...) with the
        # same number of values per step
        if None in x.shape[1:] or target[0] != -1 or _product(known) != _product(x.shape[1:]):
            _needs_fixed_length(b, layer, f"reshaping to {tuple(target)}")
        shape = (None,) + tuple(target[1:])
    else:
        if None in x.shape:
            b.fail(layer.name, f"input shape {x.shape} has an unknown size off the time axis")
        total, part = _product(x.shape), _product(known)
        if -1 in target:
            if total % part:
                b.fail(layer.name, f"cannot reshape {x.shape} ({total} values) to {tuple(target)}")
            target = [total // part if d == -1 else d for d in target]
        if _product(target) != total:
            b.fail(layer.name, f"cannot reshape {x.shape} ({total} values) to {tuple(target)}")
        shape = tuple(target)
    return [_reshape(b, layer, x, shape, layer.name)]


def translate_permute(b, layer, call, inputs, states, mask):
    x = inputs[0]
    dims = layer.config.get("dims")
    rank = len(x.shape)
    if not isinstance(dims, list) or sorted(dims) != list(range(1, rank + 1)):
        b.fail(layer.name, f"dims {dims!r} is not a permutation of 1..{rank}")
    perm = tuple(d - 1 for d in dims)
    if x.shape[0] is None and perm[0] != 0:
        _needs_fixed_length(b, layer, f"moving the time axis (dims {tuple(dims)})")
    return [permute(b, layer, x, perm, layer.name)]


def translate_repeat_vector(b, layer, call, inputs, states, mask):
    x = inputs[0]
    if len(x.shape) != 1:
        b.fail(layer.name, f"expects a (batch, features) input, got per-sample shape {x.shape}")
    n = b.dim(layer.name, "n", layer.config.get("n"))
    y = b.value(layer.name, "float32", (n, feature_dim(b, layer, x)))
    b.add_op("repeat_vector", layer.name, [x.name], [y.name], {"n": n})
    return [y]


def _pad_time(b, layer, x, before, after, first):
    steps, feats = _sequence(b, layer, x, first)
    out = None if steps is None else steps + before + after
    if out is not None and out < 1:
        b.fail(layer.name, f"cropping {-before} + {-after} steps leaves nothing of {steps}")
    y = b.value(layer.name, "float32", _seq_shape(out, feats, first))
    b.add_op("pad_time", layer.name, [x.name], [y.name],
             {"before": before, "after": after, "channels_first": first})
    return [y]


def translate_zero_padding(b, layer, call, inputs, states, mask):
    before, after = _pair(b, layer, "padding", 1)
    return _pad_time(b, layer, inputs[0], before, after, _channels_first(b, layer))


def translate_cropping(b, layer, call, inputs, states, mask):
    before, after = _pair(b, layer, "cropping", [1, 1])
    return _pad_time(b, layer, inputs[0], -before, -after, False)


def translate_upsampling(b, layer, call, inputs, states, mask):
    x = inputs[0]
    steps, feats = _sequence(b, layer, x)
    size = _one_int(b, layer, "size", 2)
    y = b.value(layer.name, "float32", (None if steps is None else steps * size, feats))
    b.add_op("upsample_time", layer.name, [x.name], [y.name], {"size": size})
    return [y]


TRANSLATORS = {
    **{name: translate_global_pool for name in ("GlobalMaxPooling1D", "GlobalMaxPool1D",
                                                "GlobalAveragePooling1D", "GlobalAvgPool1D")},
    **{name: translate_pool1d for name in ("MaxPooling1D", "MaxPool1D", "AveragePooling1D",
                                           "AvgPool1D")},
    "Flatten": translate_flatten, "Reshape": translate_reshape, "Permute": translate_permute,
    "RepeatVector": translate_repeat_vector, "ZeroPadding1D": translate_zero_padding,
    "Cropping1D": translate_cropping, "UpSampling1D": translate_upsampling,
}
