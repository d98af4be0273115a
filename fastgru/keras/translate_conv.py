"""Conv1D as a ``conv1d`` op; channels_first runs it between two ``permute`` ops, (C, T) ->
(T, C) and back, so it needs a fixed input length.

Conv1D does not support masking: Keras 3 and tf-keras both drop an incoming mask (the output
carries none, so a GRU after it sees every step).
"""
from __future__ import annotations

from ..registry import CONV1D_PADDINGS
from .translate import activation_id, permute, sequence_features


def _one_int(b, layer, cfg, key):
    """kernel_size / strides / dilation_rate: an int or a one-element list of one."""
    value = cfg.get(key, 1)
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            b.fail(layer.name, f"{key} {value!r} should hold one value for a Conv1D")
        value = value[0]
    return b.dim(layer.name, key, value)


def output_length(steps, kernel_size, strides, dilation_rate, padding):
    """Keras' output length for `steps` input steps (None stays None)."""
    if steps is None:
        return None
    if padding == "valid":
        span = dilation_rate * (kernel_size - 1) + 1
        return (steps - span) // strides + 1 if steps >= span else 0
    return -(-steps // strides)   # same, causal: ceil


def translate_conv1d(b, layer, call, inputs, states, mask):
    cfg, x = layer.config, inputs[0]
    data_format = cfg.get("data_format") or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        b.fail(layer.name, f"data_format {data_format!r} is not channels_last or channels_first")
    channels_first = data_format == "channels_first"
    if channels_first:
        if len(x.shape) != 2 or x.shape[1] is None:
            b.fail(layer.name, f"data_format 'channels_first' needs a (batch, channels, steps) "
                               f"input with a fixed number of steps, got per-sample shape "
                               f"{x.shape}")
        x = permute(b, layer, x, (1, 0), f"{layer.name}/channels_last")
    cin = sequence_features(b, layer, x)
    filters = b.dim(layer.name, "filters", cfg.get("filters"))
    kernel_size, strides, dilation = (_one_int(b, layer, cfg, k)
                                      for k in ("kernel_size", "strides", "dilation_rate"))
    groups = b.dim(layer.name, "groups", cfg.get("groups", 1))
    padding = cfg.get("padding", "valid")
    if padding not in CONV1D_PADDINGS:
        b.fail(layer.name, f"padding {padding!r} is not one of {', '.join(CONV1D_PADDINGS)}")
    if cin % groups or filters % groups:
        b.fail(layer.name, f"groups={groups} must divide the input channels ({cin}) and filters "
                           f"({filters})")
    use_bias = b.flag(layer.name, cfg, "use_bias", True)
    expected = [("kernel", (kernel_size, cin // groups, filters))]
    if use_bias:
        expected.append(("bias", (filters,)))
    arrays = b.layer_weights(layer, expected)
    steps = output_length(x.shape[0], kernel_size, strides, dilation, padding)
    if x.shape[0] is None and (strides > 1 or (padding == "valid" and kernel_size > 1)):
        b.fail(layer.name, f"padding={padding!r} with strides={strides} changes the sequence "
                           f"length, which needs a fixed input length (give the Input one)")
    if steps is not None and steps < 1:
        b.fail(layer.name, f"{x.shape[0]} input steps leave no output step")
    # no output mask: both Keras versions drop it
    y = b.value(f"{layer.name}/channels_last_out" if channels_first else layer.name, "float32",
                (steps, filters))
    attrs = {"filters": filters, "kernel_size": kernel_size, "strides": strides,
             "dilation_rate": dilation, "groups": groups, "padding": padding,
             "activation": activation_id(b, layer, cfg.get("activation"), "activation")}
    weights = {"kernel": arrays[0], **({"bias": arrays[1]} if use_bias else {})}
    b.add_op("conv1d", layer.name, [x.name], [y.name], attrs, weights)
    return [permute(b, layer, y, (1, 0), layer.name) if channels_first else y]


TRANSLATORS = {"Conv1D": translate_conv1d, "Convolution1D": translate_conv1d}
