"""Per-class translation of Keras layers into ModelSpec ops.

Each translator gets the call's input Values (each with the mask Keras attaches to it), its
initial states and the mask the call consumes (Keras 3 functional: the ``mask`` kwarg of the
node; otherwise the first input's mask), and returns the output Values with the masks Keras
would attach to them (docs/KERAS_FORMATS.md §12). Weights are fetched with their expected shapes, so a file
that disagrees with its config fails with the layer and weight named.
"""
from __future__ import annotations

from ..activations import resolve_activation
from ..errors import FastGRUError
from .classes import CUSTOM_GRU_KIND
from .graph import Value
from .translate_custom_gru import custom_cell_config
from .translate_time_major import check_time_major_outputs, reverse_time, time_major_flag

IDENTITY_CLASSES = frozenset({"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
                              "AlphaDropout", "ActivityRegularization"})
MERGE_KINDS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average",
               "Concatenate": "concatenate", "Maximum": "maximum", "Minimum": "minimum"}
BIDI_MERGE = {"concat": "concatenate", "sum": "add", "mul": "multiply", "ave": "average"}


def feature_dim(b, layer, x, what="input"):
    if len(x.shape) < 1 or x.shape[-1] is None:
        b.fail(layer.name, f"{what} has no known feature size (shape {x.shape})")
    return x.shape[-1]


def sequence_features(b, layer, x):
    if len(x.shape) != 2:
        b.fail(layer.name, f"expects a (batch, time, features) input, got per-sample shape {x.shape}")
    return feature_dim(b, layer, x)


def permute(b, layer, x, perm, hint):
    """x's per-sample axes in the order `perm` (a ``permute`` op) -> the new Value."""
    y = b.value(hint, x.dtype, tuple(x.shape[p] for p in perm))
    b.add_op("permute", layer.name, [x.name], [y.name],
             {f"axis_{k}": perm[k] if k < len(perm) else 0 for k in range(4)})
    return y


# ---- recurrent family: GRU, LSTM, SimpleRNN and their cells -----------------------------

# Keras class -> the op kind (fastgru/registry.py) of its cell; the gates each computes
CELL_KINDS = {"GRU": "gru", "GRUCell": "gru", "LSTM": "lstm", "LSTMCell": "lstm",
              "SimpleRNN": "simple_rnn", "SimpleRNNCell": "simple_rnn"}
_GATES = {"gru": 3, "lstm": 4, "simple_rnn": 1}
_N_STATES = {"gru": 1, "lstm": 2, "simple_rnn": 1}
RECURRENT_LAYERS = ("GRU", "LSTM", "SimpleRNN", "RNN")


def _cell_params(b, layer, cell_cfg, rnn_cfg, where, kind):
    """Attributes of one recurrent op (`kind`) from a layer / cell config and the RNN
    wrapper's flags; "kind" names the op (_emit_cell takes it out)."""
    b.flag(layer.name, rnn_cfg, "unroll", False)     # no effect on the numbers, but must be sane
    params = {
        "kind": kind,
        "units": b.dim(layer.name, f"{where}units", cell_cfg.get("units")),
        "activation": activation_id(b, layer, cell_cfg.get("activation", "tanh"), f"{where}activation"),
        "use_bias": b.flag(layer.name, cell_cfg, "use_bias", True),
        "go_backwards": b.flag(layer.name, rnn_cfg, "go_backwards", False),
        "return_sequences": b.flag(layer.name, rnn_cfg, "return_sequences", False),
        "zero_output_for_mask": b.flag(layer.name, rnn_cfg, "zero_output_for_mask", False),
        "stateful": b.flag(layer.name, rnn_cfg, "stateful", False),
        "time_major": time_major_flag(b, layer, rnn_cfg),
    }
    if kind != "simple_rnn":
        params["recurrent_activation"] = activation_id(
            b, layer, cell_cfg.get("recurrent_activation", "sigmoid"), f"{where}recurrent_activation")
    if kind == "gru":
        # Keras 2 files older than the option (it came in 2.1.x) computed reset_after=False
        params["reset_after"] = b.flag(layer.name, cell_cfg, "reset_after", b.keras_version == 3)
    return params


def activation_id(b, layer, name, field):
    if isinstance(name, dict):   # a serialized function object: only named activations are known
        name = name.get("config", name.get("class_name"))
    try:
        return resolve_activation(name, b.keras_version, field=field)
    except FastGRUError as e:
        b.fail(layer.name, str(e))


def _cell_expected(params, input_dim, prefix):
    u, g = params["units"], _GATES[params["kind"]]
    expected = [(f"{prefix}kernel", (input_dim, g * u)), (f"{prefix}recurrent_kernel", (u, g * u))]
    if params["use_bias"]:
        expected.append((f"{prefix}bias", params.get("bias_shape") or
                         ((2, 3 * u) if params.get("reset_after") else (g * u,))))
    return expected


def _emit_cell(b, layer, hint, params, x, mask, starts, arrays, want_state):
    """One recurrent op; `starts` its initial states (h, an LSTM's h and c) or []. Returns
    (y Value, its final state Values, or [] when not wanted)."""
    attrs = dict(params)
    kind, u = attrs.pop("kind"), params["units"]
    for s in starts:
        if s.shape != (u,):
            b.fail(layer.name, f"initial state has shape {s.shape}, expected ({u},)")
    check_time_major_outputs(b, layer, params, starts, want_state)
    if params["stateful"]:
        b.stateful = True
        if b.stateful_batch is None:
            b.fail(layer.name, "stateful=True needs a fixed batch size on the model input "
                               "(batch_shape / batch_input_shape)")
    time = x.shape[0]
    n_states = _N_STATES[kind]
    y = b.value(hint, "float32", (time, u) if params["return_sequences"] else (u,))
    finals = ([b.value(f"{hint}/{name}", "float32", (u,))
               for name in ("state", "cell_state")[:n_states]] if want_state else [])
    weights = {"kernel": arrays[0], "recurrent_kernel": arrays[1]}
    if params["use_bias"]:
        weights["bias"] = arrays[2]
    start_names = [s.name for s in starts] or [None] * n_states
    b.add_op("custom_gru" if "cell" in attrs else kind, layer.name, [x.name, mask, *start_names],
             [y.name, *([f.name for f in finals] or [None] * n_states)], attrs, weights)
    return y, finals


def _rnn_cells(b, layer, cfg, cls):
    """The cell configs of a GRU / LSTM / SimpleRNN or RNN layer config: [(cell config, label
    prefix, op kind, the CustomGRU it is declared as or None)]. A layer mapped to a CustomGRU
    is its own cell."""
    if cls == CUSTOM_GRU_KIND:
        return [(cfg, "", "gru", b.resolve_class.custom_cell(layer.class_name,
                                                            layer.registered_name))]
    if cls != "RNN":
        return [(cfg, "", CELL_KINDS[cls], None)]
    cell = b.section(layer.name, cfg.get("cell"), "cell")
    cell_cls = b.resolve_class(layer, cell.get("class_name"), cell.get("registered_name"))
    cell_cfg = b.section(layer.name, cell.get("config"), "cell config")
    if cell_cls in CELL_KINDS:
        return [(cell_cfg, "", CELL_KINDS[cell_cls], None)]
    if cell_cls == CUSTOM_GRU_KIND:
        return [(cell_cfg, "", "gru", b.resolve_class.custom_cell(cell.get("class_name"),
                                                                 cell.get("registered_name")))]
    if cell_cls == "StackedRNNCells":
        cells = cell_cfg.get("cells")
        if not isinstance(cells, list) or not cells:
            b.fail(layer.name, "StackedRNNCells without cells")
        result = []
        for i, c in enumerate(cells):
            c = b.section(layer.name, c, f"stacked cell {i}")
            c_cls = b.resolve_class(layer, c.get("class_name"), c.get("registered_name"))
            if not c_cls.endswith("Cell") or c_cls not in CELL_KINDS:
                b.fail(layer.name, f"stacked cell {i} is a {c.get('class_name')!r}; supported: "
                                   f"GRUCell, LSTMCell, SimpleRNNCell")
            result.append((b.section(layer.name, c.get("config"), f"stacked cell {i} config"),
                           f"cell_{i}/", CELL_KINDS[c_cls], None))
        return result
    b.fail(layer.name, f"RNN cell {cell.get('class_name')!r} is not supported (GRUCell, "
                       f"LSTMCell, SimpleRNNCell, StackedRNNCells of them)")


def _rnn_plan(b, layer, cfg, cls, x, weight_prefix, force_zero=None):
    """A GRU / LSTM / SimpleRNN / RNN(cell) / RNN(StackedRNNCells) config -> (op attrs per
    cell, the expected weights [(label, shape)] in Keras order)."""
    cells = _rnn_cells(b, layer, cfg, cls)
    input_dim = sequence_features(b, layer, x)
    params_list, expected, dim = [], [], input_dim
    for cell_cfg, prefix, kind, custom in cells:
        if custom is not None:
            cell_cfg = custom_cell_config(b, layer, custom, cell_cfg, weight_prefix)
        p = _cell_params(b, layer, cell_cfg, cfg, f"{weight_prefix}{prefix}", kind)
        if custom is not None:
            p.update(cell=custom, bias_shape=cell_cfg.get("bias_shape"))
        if force_zero is not None:
            p["zero_output_for_mask"] = force_zero
        params_list.append(p)
        expected += _cell_expected(p, dim, weight_prefix + prefix)
        dim = p["units"]
    return params_list, expected


def n_states_of(params_list):
    """States the (stacked) cells carry, in Keras' flat order: h per cell, an LSTM's h, c."""
    return sum(_N_STATES[p["kind"]] for p in params_list)


def _emit_rnn(b, layer, params_list, arrays, x, mask, states, hint, want_state):
    """Emit a chain of recurrent ops for (possibly stacked) cells. A stacked RNN masks all
    cells at the same steps, so running the cells one after another over the whole sequence
    gives the same numbers; inner cells return sequences in natural order (reverse_time undoes
    go_backwards) so every cell sees the input and the mask in the same order."""
    if states and len(states) != n_states_of(params_list):
        b.fail(layer.name, f"got {len(states)} initial states, expected "
                           f"{n_states_of(params_list)}")
    out_states, pos, at = [], 0, 0
    for i, p in enumerate(params_list):
        last = i == len(params_list) - 1
        n = 3 if p["use_bias"] else 2
        cell_arrays, pos = arrays[pos:pos + n], pos + n
        n_states = _N_STATES[p["kind"]]
        starts, at = (states[at:at + n_states] if states else []), at + n_states
        if not last:
            p = dict(p, return_sequences=True)
        y, finals = _emit_cell(b, layer, hint if last else f"{hint}/cell_{i}", p, x, mask,
                               starts, cell_arrays, want_state)
        out_states += finals
        if not last and p["go_backwards"]:
            y = reverse_time(b, layer, y, f"{hint}/cell_{i}/natural", p["time_major"])
        x = y
    return x, out_states


def translate_rnn(b, layer, call, inputs, states, mask):
    cfg = layer.config
    x = inputs[0]
    cls = b.resolve_class(layer, layer.class_name, layer.registered_name)
    params_list, expected = _rnn_plan(b, layer, layer.config, cls, x, "")
    arrays = b.layer_weights(layer, expected)
    want_state = b.flag(layer.name, cfg, "return_state", False)
    y, hs = _emit_rnn(b, layer, params_list, arrays, x, mask, states, layer.name, want_state)
    # the output mask is the input's even where Keras 3 dropped it from the call (quirk 14.1)
    y.mask = x.mask if params_list[-1]["return_sequences"] else None
    return [y] + (hs if want_state else [])


def translate_bidirectional(b, layer, call, inputs, states, mask):
    cfg = layer.config
    x, m = inputs[0], mask
    forward_cls, forward_cfg = _inner(b, layer, cfg.get("layer"), RECURRENT_LAYERS, "layer")
    backward_entry = cfg.get("backward_layer")
    if backward_entry is not None:
        backward_cls, backward_cfg = _inner(b, layer, backward_entry, RECURRENT_LAYERS,
                                            "backward_layer")
    else:
        backward_cls = forward_cls
        backward_cfg = dict(forward_cfg, go_backwards=not b.flag(layer.name, forward_cfg, "go_backwards", False))
    return_sequences = b.flag(layer.name, forward_cfg, "return_sequences", False)
    return_state = b.flag(layer.name, forward_cfg, "return_state", False)
    merge_mode = cfg.get("merge_mode", "concat")
    if merge_mode is not None and (not isinstance(merge_mode, str) or merge_mode not in BIDI_MERGE):
        b.fail(layer.name, f"merge_mode {merge_mode!r} is not one of concat, sum, mul, ave, None")
    # Keras forces zero_output_for_mask = return_sequences on both directions (section 12).
    fw_params, fw_expected = _rnn_plan(b, layer, forward_cfg, forward_cls, x, "forward_",
                                       force_zero=return_sequences)
    bw_params, bw_expected = _rnn_plan(b, layer, backward_cfg, backward_cls, x, "backward_",
                                       force_zero=return_sequences)
    if len(fw_params) != 1 or len(bw_params) != 1:
        b.fail(layer.name, "Bidirectional over stacked cells is not supported")
    arrays = b.layer_weights(layer, fw_expected + bw_expected)
    n_fw, n_fw_states = len(fw_expected), n_states_of(fw_params)
    n_states = n_fw_states + n_states_of(bw_params)
    if states and len(states) != n_states:
        b.fail(layer.name, f"got {len(states)} initial states, expected {n_states} (forward, "
                           f"backward)")
    yf, hf = _emit_rnn(b, layer, fw_params, arrays[:n_fw], x, m, states[:n_fw_states],
                       f"{layer.name}/forward", return_state)
    yb, hb = _emit_rnn(b, layer, bw_params, arrays[n_fw:], x, m, states[n_fw_states:],
                       f"{layer.name}/backward", return_state)
    if return_sequences:   # Keras flips the backward sequence back whatever go_backwards says
        yb = reverse_time(b, layer, yb, f"{layer.name}/backward_flipped",
                          fw_params[0]["time_major"])
    out_mask = x.mask if return_sequences else None
    if merge_mode is None:
        outputs = [yf, yb]
    else:
        outputs = [_merge(b, layer, BIDI_MERGE[merge_mode], [yf, yb], -1, layer.name)]
    for v in outputs:
        v.mask = out_mask
    if return_state:   # the forward states, then the backward ones (an LSTM: h, c each)
        outputs += hf + hb
    return outputs


def _inner(b, layer, entry, allowed, field):
    entry = b.section(layer.name, entry, field)
    cls = b.resolve_class(layer, entry.get("class_name"), entry.get("registered_name"))
    if cls not in allowed:
        b.fail(layer.name, f"{field} is a {entry.get('class_name')!r}; supported: {', '.join(allowed)}")
    return cls, b.section(layer.name, entry.get("config"), f"{field} config")


# ---- other layers -----------------------------------------------------------------------

def translate_dense(b, layer, call, inputs, states, mask, cfg=None):
    cfg = layer.config if cfg is None else cfg
    x = inputs[0]
    if len(x.shape) not in (1, 2):
        b.fail(layer.name, f"Dense on per-sample shape {x.shape}: only rank 2 and 3 inputs are supported")
    units = b.dim(layer.name, "units", cfg.get("units"))
    use_bias = b.flag(layer.name, cfg, "use_bias", True)
    expected = [("kernel", (feature_dim(b, layer, x), units))] + ([("bias", (units,))] if use_bias else [])
    arrays = b.layer_weights(layer, expected)
    y = b.value(layer.name, "float32", x.shape[:-1] + (units,), x.mask)
    weights = {"kernel": arrays[0]}
    if use_bias:
        weights["bias"] = arrays[1]
    b.add_op("dense", layer.name, [x.name], [y.name],
             {"activation": activation_id(b, layer, cfg.get("activation"), "activation"),
              "use_bias": use_bias}, weights)
    return [y]


def translate_time_distributed(b, layer, call, inputs, states, mask):
    _, inner = _inner(b, layer, layer.config.get("layer"), ("Dense",), "layer")
    sequence_features(b, layer, inputs[0])
    return translate_dense(b, layer, call, inputs, states, mask, cfg=inner)


def translate_embedding(b, layer, call, inputs, states, mask):
    cfg = layer.config
    ids = inputs[0]
    if len(ids.shape) != 1:
        b.fail(layer.name, f"Embedding expects (batch, time) ids, got per-sample shape {ids.shape}")
    vocab = b.dim(layer.name, "input_dim", cfg.get("input_dim"))
    dim = b.dim(layer.name, "output_dim", cfg.get("output_dim"))
    (table,) = b.layer_weights(layer, [("embeddings", (vocab, dim))])
    y = b.value(layer.name, "float32", ids.shape + (dim,))
    b.add_op("embedding", layer.name, [ids.name], [y.name], {}, {"embeddings": table})
    if b.flag(layer.name, cfg, "mask_zero", False):
        y.mask = b.compute_mask(layer.name, ids, 0)
    return [y]


def translate_masking(b, layer, call, inputs, states, mask):
    x = inputs[0]
    sequence_features(b, layer, x)
    value = layer.config.get("mask_value", 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        b.fail(layer.name, f"mask_value {value!r} is not a number")
    m = b.compute_mask(layer.name, x, value)
    y = b.value(layer.name, "float32", x.shape, m)
    b.add_op("apply_mask", layer.name, [x.name, m], [y.name])
    return [y]


def translate_identity(b, layer, call, inputs, states, mask):
    x = inputs[0]
    return [Value(x.name, x.shape, x.dtype, x.mask)]


def translate_activation(b, layer, call, inputs, states, mask):
    x = inputs[0]
    y = b.value(layer.name, "float32", x.shape, x.mask)
    b.add_op("activation", layer.name, [x.name], [y.name],
             {"activation": activation_id(b, layer, layer.config.get("activation"), "activation")})
    return [y]


def _last_axis_only(b, layer, axis, rank):
    axes = axis if isinstance(axis, list) else [axis]
    if len(axes) != 1 or not isinstance(axes[0], int) or axes[0] not in (-1, rank):
        b.fail(layer.name, f"axis={axis!r}: only the last axis (-1 or {rank}) is supported")


def _translate_norm(b, layer, inputs, kind: str, statistics: tuple):
    """LayerNormalization / BatchNormalization over the last axis: optional gamma / beta, then
    the layer's fixed statistics weights (BatchNormalization's moving mean and variance)."""
    cfg, x = layer.config, inputs[0]
    _last_axis_only(b, layer, cfg.get("axis", -1), len(x.shape))
    n = feature_dim(b, layer, x)
    center, scale = b.flag(layer.name, cfg, "center", True), b.flag(layer.name, cfg, "scale", True)
    expected = (([("gamma", (n,))] if scale else []) + ([("beta", (n,))] if center else [])
                + [(name, (n,)) for name in statistics])
    arrays = dict(zip([e[0] for e in expected], b.layer_weights(layer, expected)))
    y = b.value(layer.name, "float32", x.shape, x.mask)
    b.add_op(kind, layer.name, [x.name], [y.name],
             {"epsilon": b.number(layer.name, cfg, "epsilon", 1e-3), "center": center,
              "scale": scale}, arrays)
    return [y]


def translate_layer_norm(b, layer, call, inputs, states, mask):
    if b.flag(layer.name, layer.config, "rms_scaling", False):
        b.fail(layer.name, "rms_scaling=True is not supported")
    return _translate_norm(b, layer, inputs, "layer_norm", ())


def translate_batch_norm(b, layer, call, inputs, states, mask):
    return _translate_norm(b, layer, inputs, "batch_norm", ("moving_mean", "moving_variance"))


def _merge(b, layer, kind, xs, axis, hint):
    if kind == "subtract" and len(xs) != 2:
        b.fail(layer.name, f"Subtract takes exactly 2 inputs, got {len(xs)}")
    if len(xs) < 2:
        b.fail(layer.name, f"a merge layer needs at least 2 inputs, got {len(xs)}")
    shapes = [x.shape for x in xs]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        b.fail(layer.name, f"inputs have different ranks: {shapes}")
    attrs = {}
    if kind == "concatenate":
        ax = axis if axis < 0 else axis - (rank + 1)       # Keras counts the batch axis
        if not -rank <= ax <= -1:
            b.fail(layer.name, f"cannot concatenate on axis {axis} of per-sample shapes {shapes}")
        rest = [tuple(d for i, d in enumerate(s) if i != rank + ax) for s in shapes]
        if any(r != rest[0] for r in rest):
            b.fail(layer.name, f"input shapes {shapes} differ outside the concatenation axis")
        sizes = [s[rank + ax] for s in shapes]
        joined = None if any(d is None for d in sizes) else sum(sizes)
        out_shape = tuple(joined if i == rank + ax else d for i, d in enumerate(shapes[0]))
        attrs["axis"] = ax
    else:
        if any(s != shapes[0] for s in shapes):
            b.fail(layer.name, f"inputs must have the same shape, got {shapes}")
        out_shape = shapes[0]
    y = b.value(hint, "float32", out_shape)
    b.add_op(kind, layer.name, [x.name for x in xs], [y.name], attrs)
    return y


def translate_merge(b, layer, call, inputs, states, mask):
    kind = MERGE_KINDS[b.resolve_class(layer, layer.class_name, layer.registered_name)]
    axis = layer.config.get("axis", -1) if kind == "concatenate" else -1
    if not isinstance(axis, int) or isinstance(axis, bool):
        b.fail(layer.name, f"axis {axis!r} is not an integer")
    masks = [x.mask for x in inputs]
    y = _merge(b, layer, kind, inputs, axis, layer.name)
    if b.keras_version == 3 and kind == "multiply" and any(m is not None for m in masks):
        # Keras 3 multiplies masked entries as 1, then zeroes the steps no input keeps. With one
        # mask shared by all inputs that is the plain product with masked steps zeroed.
        if len(set(masks)) != 1:
            b.fail(layer.name, "Keras 3's Multiply of inputs with different masks (masked entries "
                               "count as 1) is not supported; only one mask shared by all inputs")
        zeroed = b.value(f"{layer.name}/masked", "float32", y.shape)
        b.add_op("apply_mask", layer.name, [y.name, masks[0]], [zeroed.name])
        y = zeroed
    if any(m is not None for m in masks):
        if kind == "concatenate" and y.shape[:-1] != inputs[0].shape[:-1]:
            b.fail(layer.name, "concatenating masked sequences along the time axis is not supported")
        # tf-keras ANDs the masks (a missing one counts as all true); Keras 3 ORs them (a
        # missing one makes the result all true, i.e. no mask)
        y.mask = b.mask_and(layer.name, masks) if b.keras_version == 2 else b.mask_or(layer.name, masks)
    return [y]


# The classes this module translates; fastgru/keras/translators.py joins the other modules'.
TRANSLATORS = {
    "GRU": translate_rnn, "LSTM": translate_rnn, "SimpleRNN": translate_rnn,
    "RNN": translate_rnn, "Bidirectional": translate_bidirectional,
    CUSTOM_GRU_KIND: translate_rnn,   # a custom GRU layer class: an RNN over its CustomGRU
    "Dense": translate_dense, "TimeDistributed": translate_time_distributed,
    "Embedding": translate_embedding, "Masking": translate_masking,
    "Activation": translate_activation, "LayerNormalization": translate_layer_norm,
    "BatchNormalization": translate_batch_norm,
    **{name: translate_identity for name in IDENTITY_CLASSES},
    **{name: translate_merge for name in MERGE_KINDS},
}
