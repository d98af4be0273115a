"""Keras' elementwise, normalisation and merge layers around the GRU: Normalization,
Rescaling, Softmax, ReLU, LeakyReLU, ThresholdedReLU, PReLU, ELU, Maximum, Minimum and Dot.

Each follows its Keras version's source (docs/KERAS_FORMATS.md): the ReLU family is Keras'
relu(x, negative_slope, max_value, threshold) in both versions; masks pass through every
layer here but Dot, which drops them; Softmax consumes its mask as its version does; Keras 3's
Maximum / Minimum give a masked step the first input's value, which is not supported.
"""
from __future__ import annotations

import math

import numpy as np

from . import translate
from .h5tree import MAX_WEIGHT_ELEMENTS

# backend.epsilon() in both versions: Normalization's floor of the standard deviation
EPSILON = 1e-7
# the floor of Dot's sums of squares under normalize=True: Keras 3 caps 1 / norm at
# 1 / epsilon(); tf-keras' l2_normalize floors the sum of squares at 1e-12
DOT_EPSILON = {3: EPSILON ** 2, 2: 1e-12}
# the Softmax layer's mask_mode (fastgru/spec.py)
MASK_ADD, MASK_REPLACE, MASK_REPLACE_ZERO = 0, 1, 2


def _float_input(b, layer, x):
    if x.dtype != "float32" or not x.shape:
        b.fail(layer.name, f"expects a float input with a feature axis, got {x.dtype} of "
                           f"per-sample shape {x.shape}")
    return x


def _like(b, layer, x, mask):
    """A new value of x's shape, whose first axis is time when x's is."""
    y = b.value(layer.name, "float32", x.shape, mask)
    b.tensors[y.name].time = b.tensors[x.name].time
    return y


def _same_shape(b, layer, x, kind, attrs=None, weights=None):
    """One op whose output has x's shape and mask (the layers here support masking)."""
    y = _like(b, layer, x, x.mask)
    b.add_op(kind, layer.name, [x.name], [y.name], attrs or {}, weights or {})
    return [y]


def _keras_axis(b, layer, axis, rank, field):
    """A Keras axis (counting the batch axis; negative from the end) as a per-sample axis."""
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank - 1 <= axis <= rank:
        b.fail(layer.name, f"{field}={axis!r} is not an axis of a (batch, ...) input of rank "
                           f"{rank + 1}")
    axis = axis + rank + 1 if axis < 0 else axis
    if axis == 0:
        b.fail(layer.name, f"{field} names the batch axis, which fastgru does not support")
    return axis - 1


def _broadcast(b, layer, value, x, field):
    """`value` (a number or nested list) broadcast, numpy-style, over x's per-sample shape and
    stored with x's rank: each dimension 1 or x's."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        b.fail(layer.name, f"{field} is not a number or an array of numbers")
    if array.ndim > len(x.shape):
        b.fail(layer.name, f"{field} of shape {array.shape} has more axes than the input's "
                           f"per-sample shape {x.shape}")
    shape = (1,) * (len(x.shape) - array.ndim) + array.shape
    for have, want in zip(shape, x.shape):
        if have != 1 and have != want:
            b.fail(layer.name, f"{field} of shape {array.shape} does not broadcast over the "
                               f"input's per-sample shape {x.shape}")
    if not np.all(np.isfinite(array)):
        b.fail(layer.name, f"{field} holds a value that is not finite")
    return array.reshape(shape).astype(np.float32)


def _number(b, layer, cfg, key, default, minimum=None):
    value = b.number(layer.name, cfg, key, default)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        b.fail(layer.name, f"{key}={value!r} must be a finite number"
                           + (f" >= {minimum}" if minimum is not None else ""))
    return value


# ---- normalisation ------------------------------------------------------------------------

def translate_normalization(b, layer, call, inputs, states, mask):
    cfg, x = layer.config, _float_input(b, layer, inputs[0])
    rank = len(x.shape)
    axis = cfg.get("axis", -1)
    axes = () if axis is None else tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    keep = sorted({_keras_axis(b, layer, a, rank, "axis") for a in axes})
    for d in keep:
        if x.shape[d] is None:
            b.fail(layer.name, f"axis {d + 1} is kept but has no fixed length")
    stats_shape = tuple(x.shape[d] for d in keep)
    broadcast_shape = tuple(x.shape[d] if d in keep else 1 for d in range(rank))
    if cfg.get("mean") is None:   # adapted: the statistics are the layer's weights
        mean, variance, _ = b.layer_weights(layer, [("mean", stats_shape),
                                                    ("variance", stats_shape), ("count", ())])
    else:   # given in the config: broadcast over the kept axes, as both versions do
        if math.prod(stats_shape) > MAX_WEIGHT_ELEMENTS:
            b.fail(layer.name, f"mean / variance would have shape {stats_shape}, more than "
                               f"{MAX_WEIGHT_ELEMENTS} elements")
        try:
            mean, variance = (np.broadcast_to(np.asarray(cfg.get(k), dtype=np.float64),
                                              stats_shape) for k in ("mean", "variance"))
        except (TypeError, ValueError):
            b.fail(layer.name, f"mean / variance in the config do not broadcast to the kept "
                               f"axes' shape {stats_shape}")
    weights = {"mean": _broadcast(b, layer, np.reshape(mean, broadcast_shape), x, "mean"),
               "variance": _broadcast(b, layer, np.reshape(variance, broadcast_shape), x,
                                      "variance")}
    return _same_shape(b, layer, x, "normalize",
                       {"invert": b.flag(layer.name, cfg, "invert", False), "epsilon": EPSILON},
                       weights)


def translate_rescaling(b, layer, call, inputs, states, mask):
    cfg, x = layer.config, _float_input(b, layer, inputs[0])
    weights = {key: _broadcast(b, layer, _config_value(cfg.get(key, default)), x, key)
               for key, default in (("scale", None), ("offset", 0.0))}
    return _same_shape(b, layer, x, "rescale", {}, weights)


def _config_value(value):
    """A config number or list, unwrapped from Keras 3's serialized array form."""
    if isinstance(value, dict) and isinstance(value.get("config"), dict):
        return value["config"].get("value")
    return value


# ---- the ReLU family ------------------------------------------------------------------------

def _relu(b, layer, x, negative_slope, max_value, threshold):
    return _same_shape(b, layer, _float_input(b, layer, x), "relu",
                       {"negative_slope": negative_slope,
                        "max_value": math.inf if max_value is None else max_value,
                        "threshold": threshold})


def translate_relu(b, layer, call, inputs, states, mask):
    cfg = layer.config
    top = cfg.get("max_value")
    return _relu(b, layer, inputs[0], _number(b, layer, cfg, "negative_slope", 0.0, 0.0),
                 None if top is None else _number(b, layer, cfg, "max_value", None, 0.0),
                 _number(b, layer, cfg, "threshold", 0.0, 0.0))


def translate_leaky_relu(b, layer, call, inputs, states, mask):
    key = "negative_slope" if b.keras_version == 3 else "alpha"
    return _relu(b, layer, inputs[0], _number(b, layer, layer.config, key, 0.3), None, 0.0)


def translate_thresholded_relu(b, layer, call, inputs, states, mask):
    theta = _number(b, layer, layer.config, "theta", 1.0, 0.0)
    return _relu(b, layer, inputs[0], 0.0, None, theta)


def translate_elu(b, layer, call, inputs, states, mask):
    return _same_shape(b, layer, _float_input(b, layer, inputs[0]), "elu",
                       {"alpha": _number(b, layer, layer.config, "alpha", 1.0)})


def translate_prelu(b, layer, call, inputs, states, mask):
    x = _float_input(b, layer, inputs[0])
    shared = layer.config.get("shared_axes")
    shared = [] if shared is None else shared if isinstance(shared, list) else [shared]
    shape = list(x.shape)
    for a in shared:
        shape[_keras_axis(b, layer, a, len(x.shape), "shared_axes")] = 1
    if None in shape:
        b.fail(layer.name, f"alpha would follow the time axis of unknown length (shape "
                           f"{tuple(shape)}); Keras needs shared_axes=[1] there")
    (alpha,) = b.layer_weights(layer, [("alpha", tuple(shape))])
    return _same_shape(b, layer, x, "prelu", {}, {"alpha": alpha})


# ---- softmax --------------------------------------------------------------------------------

def translate_softmax(b, layer, call, inputs, states, mask):
    cfg, x = layer.config, _float_input(b, layer, inputs[0])
    axis = cfg.get("axis", -1)
    axes = axis if isinstance(axis, list) else [axis]
    bits = 0
    for a in axes:
        bits |= 1 << _keras_axis(b, layer, a, len(x.shape), "axis")
    attrs = {"axes": bits, "mask_mode": MASK_ADD}
    if mask is not None:
        if len(x.shape) != 1:
            b.fail(layer.name, f"its (batch, time) mask does not broadcast over the input's "
                               f"per-sample shape {x.shape}, which Keras requires")
        robust = b.flag(layer.name, cfg, "robust_masking", False)
        attrs["mask_mode"] = (MASK_REPLACE_ZERO if b.keras_version == 3
                              else MASK_REPLACE if robust else MASK_ADD)
    y = _like(b, layer, x, mask)
    b.add_op("softmax", layer.name, [x.name, mask], [y.name], attrs)
    return [y]


# ---- merges ---------------------------------------------------------------------------------

def translate_extremum(b, layer, call, inputs, states, mask):
    """tf-keras ignores masks here (and ANDs them, as its other merges); Keras 3 lets a masked
    step of an input take the running result, with each input's mask as an op input."""
    masks = [x.mask for x in inputs]
    if b.keras_version == 2 or all(m is None for m in masks):
        return translate.translate_merge(b, layer, call, inputs, states, mask)
    shapes = [x.shape for x in inputs]
    if any(s != shapes[0] for s in shapes):
        b.fail(layer.name, f"inputs must have the same shape, got {shapes}")
    kind = translate.MERGE_KINDS[b.resolve_class(layer, layer.class_name, layer.registered_name)]
    y = b.value(layer.name, "float32", shapes[0], b.mask_or(layer.name, masks))
    b.add_op(kind, layer.name, [x.name for x in inputs] + masks, [y.name], {"masked": True})
    return [y]


def _dot_axes(b, layer, axes, xs):
    """Dot's axes as per-sample axes, resolved as Keras does (negative: modulo each rank)."""
    if isinstance(axes, int) and not isinstance(axes, bool):
        axes = [axes, axes]
    if not isinstance(axes, list) or len(axes) != 2:
        b.fail(layer.name, f"axes={axes!r} is not an integer or a pair of integers")
    result = []
    for a, x in zip(axes, xs):
        if isinstance(a, bool) or not isinstance(a, int):
            b.fail(layer.name, f"axes={axes!r} is not an integer or a pair of integers")
        result.append(_keras_axis(b, layer, a % (len(x.shape) + 1), len(x.shape), "axes"))
    return result


def translate_dot(b, layer, call, inputs, states, mask):
    x1, x2 = (_float_input(b, layer, x) for x in inputs)
    p, q = _dot_axes(b, layer, layer.config.get("axes"), (x1, x2))
    if x1.shape[p] != x2.shape[q]:
        b.fail(layer.name, f"axis {p + 1} of {x1.shape} and axis {q + 1} of {x2.shape} differ")
    timed = [b.tensors[x.name].has_time_axis for x in (x1, x2)]
    # batch_dot keeps x1's other axes, then x2's; (1,) when neither has any
    kept = ([(d, timed[0] and k == 0) for k, d in enumerate(x1.shape) if k != p] +
            [(d, timed[1] and k == 0) for k, d in enumerate(x2.shape) if k != q]) or [(1, False)]
    if any(d is None for d, _ in kept[1:]):
        b.fail(layer.name, "the output would have a time axis of unknown length after its "
                           "first axis; only fixed-length sequences are supported there")
    y = b.value(layer.name, "float32", tuple(d for d, _ in kept))
    b.tensors[y.name].time = kept[0][1]
    b.add_op("dot", layer.name, [x1.name, x2.name], [y.name],
             {"axis1": p, "axis2": q,
              "normalize": b.flag(layer.name, layer.config, "normalize", False),
              "epsilon": DOT_EPSILON[b.keras_version]})
    return [y]


TRANSLATORS = {
    "Normalization": translate_normalization, "Rescaling": translate_rescaling,
    "ReLU": translate_relu, "LeakyReLU": translate_leaky_relu,
    "ThresholdedReLU": translate_thresholded_relu, "ELU": translate_elu,
    "PReLU": translate_prelu, "Softmax": translate_softmax,
    "Maximum": translate_extremum, "Minimum": translate_extremum, "Dot": translate_dot,
}
