"""The one table of the executor's vocabulary: op kinds, activations, and their ids, arities,
weight slots and attribute slots, as the model image numbers them (docs/FORMAT.md).

Python reads the tables below; the C side gets them from generated blocks that
``python fastgru/registry.py`` rewrites in the headers named in ``GENERATED`` (and a test
checks they are current). Ids are part of the image format: only append.

Adding an op kind: one ``OpKind`` row here, then regenerate the headers; the C side adds its
check and run functions (named in the row's C registry entry, src_c/model_registry.c) and the
Keras translator (a fastgru/keras/translate*.py module, listed in fastgru/keras/translators.py)
emits it.
"""
from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple, Tuple

MAX_OP_INPUTS = 64   # the most inputs a variadic op takes (MODEL_MAX_OP_INPUTS in C)


class OpKind(NamedTuple):
    id: int
    name: str
    min_in: int
    max_in: int                 # MAX_OP_INPUTS: any number
    n_out: int
    weights: Tuple[str, ...]    # weight slot names, in slot order
    iattrs: Tuple[str, ...]     # integer attribute slots (op record iattr[])
    fattrs: Tuple[str, ...] = ()   # float attribute slots (op record fattr[])


_NORM_IATTRS = ("center", "scale")
# The recurrent ops (gru, lstm, simple_rnn) share their attribute slots, so the executor reads
# any of them through the gru's slot names (src_c/model_check.c, model_exec.c).
_RECURRENT_IATTRS = ("units", "activation", "recurrent_activation", "reset_after", "use_bias",
                     "go_backwards", "return_sequences", "zero_output_for_mask", "stateful",
                     "input_dim", "time_major")
_MANY = MAX_OP_INPUTS
OPS = (
    OpKind(0, "gru", 3, 3, 2, ("packed",), _RECURRENT_IATTRS),
    OpKind(1, "dense", 1, 1, 1, ("kernel", "bias"), ("activation", "use_bias")),
    OpKind(2, "embedding", 1, 1, 1, ("embeddings",), ()),
    OpKind(3, "compute_mask", 1, 1, 1, (), (), ("value",)),
    OpKind(4, "apply_mask", 2, 2, 1, (), ()),
    OpKind(5, "mask_and", 1, _MANY, 1, (), ()),
    OpKind(6, "layer_norm", 1, 1, 1, ("gamma", "beta"), _NORM_IATTRS, ("epsilon",)),
    OpKind(7, "batch_norm", 1, 1, 1, ("gamma", "beta", "moving_mean", "moving_variance"),
           _NORM_IATTRS, ("epsilon",)),
    OpKind(8, "activation", 1, 1, 1, (), ("activation",)),
    # batch_axis: reverse the model's batch axis, which is time for time-major layers
    OpKind(9, "reverse_time", 1, 1, 1, (), ("batch_axis",)),
    OpKind(10, "concatenate", 1, _MANY, 1, (), ("axis",)),
    OpKind(11, "add", 1, _MANY, 1, (), ()),
    OpKind(12, "subtract", 2, 2, 1, (), ()),
    OpKind(13, "multiply", 1, _MANY, 1, (), ()),
    OpKind(14, "average", 1, _MANY, 1, (), ()),
    OpKind(15, "mask_or", 1, _MANY, 1, (), ()),
    OpKind(16, "global_pool", 1, 2, 1, (), ("average", "channels_first", "mask_multiplies")),
    OpKind(17, "pool1d", 1, 1, 1, (),
           ("pool_size", "strides", "padding_same", "average", "channels_first")),
    OpKind(18, "reshape", 1, 1, 1, (), ()),
    OpKind(19, "permute", 1, 1, 1, (), ("axis_0", "axis_1", "axis_2", "axis_3")),
    OpKind(20, "repeat_vector", 1, 1, 1, (), ("n",)),
    OpKind(21, "pad_time", 1, 1, 1, (), ("before", "after", "channels_first")),
    OpKind(22, "upsample_time", 1, 1, 1, (), ("size",)),
    OpKind(23, "normalize", 1, 1, 1, ("mean", "variance"), ("invert",), ("epsilon",)),
    OpKind(24, "rescale", 1, 1, 1, ("scale", "offset"), ()),
    OpKind(25, "relu", 1, 1, 1, (), (), ("negative_slope", "max_value", "threshold")),
    OpKind(26, "prelu", 1, 1, 1, ("alpha",), ()),
    OpKind(27, "elu", 1, 1, 1, (), (), ("alpha",)),
    OpKind(28, "softmax", 1, 2, 1, (), ("axes", "mask_mode")),
    OpKind(29, "maximum", 1, _MANY, 1, (), ("masked",)),
    OpKind(30, "minimum", 1, _MANY, 1, (), ("masked",)),
    OpKind(31, "dot", 2, 2, 1, (), ("axis1", "axis2", "normalize"), ("epsilon",)),
    OpKind(32, "conv1d", 1, 1, 1, ("kernel", "bias"),
           ("filters", "kernel_size", "strides", "dilation_rate", "groups", "padding",
            "activation", "use_bias", "input_dim")),
    # inputs: query, key, value, query_mask?, value_mask?, attention_mask?; outputs: y, scores?
    OpKind(33, "attention", 6, 6, 2, ("scale", "concat_score_weight"),
           ("num_heads", "score_mode", "causal", "mask_fill", "zero_masked_weights",
            "query_mask_rows"), ("query_scale",)),
    OpKind(34, "lstm", 4, 4, 3, ("packed",), _RECURRENT_IATTRS),
    OpKind(35, "simple_rnn", 3, 3, 2, ("packed",), _RECURRENT_IATTRS),
    # a gru whose cell is a CustomGRU: gru's attributes (the activations unused) and packing,
    # plus the cell's bytecode (fastgru/custom_gru.py)
    OpKind(36, "custom_gru", 3, 3, 2, ("packed", "program"), _RECURRENT_IATTRS),
)
OP_BY_NAME = {op.name: op for op in OPS}
# conv1d's padding attribute: the Keras name at each id (MODEL_CONV_PAD_* in C).
CONV1D_PADDINGS = ("valid", "same", "causal")

# Canonical activation name, id, and what it computes (the comment in fg_activations.h).
_ACTIVATION_ROWS = (
    ("linear", 0, "x"),
    ("tanh", 1, ""),
    ("sigmoid", 2, "1 / (1 + exp(-x))"),
    ("hard_sigmoid", 3, "Keras 3: clip(x/6 + 0.5, 0, 1)"),
    ("hard_sigmoid_keras2", 4, "Keras 2 (tf-keras): clip(0.2x + 0.5, 0, 1)"),
    ("relu", 5, ""),
    ("relu6", 6, ""),
    ("elu", 7, "alpha 1"),
    ("selu", 8, ""),
    ("softplus", 9, ""),
    ("softsign", 10, ""),
    ("exponential", 11, ""),
    ("swish", 12, 'x * sigmoid(x); also "silu"'),
    ("gelu", 13, "exact: 0.5x(1 + erf(x/sqrt 2))"),
    ("leaky_relu", 14, "negative slope 0.2"),
    ("mish", 15, "x * tanh(softplus(x))"),
    ("softmax", 16, "over the last (units) axis"),
    ("log_softmax", 17, "over the last axis"),
    ("sparsemax", 18, "last axis, Keras' formula (docs/KERAS_FORMATS.md §14.2)"),
    ("celu", 19, "alpha 1"),
    ("hard_shrink", 20, "threshold 0.5"),
    ("hard_tanh", 21, "clip(x, -1, 1)"),
    ("soft_shrink", 22, "threshold 0.5"),
    ("sparse_plus", 23, ""),
    ("sparse_sigmoid", 24, ""),
    ("squareplus", 25, "b = 4"),
    ("tanh_shrink", 26, "x - tanh(x)"),
    ("log_sigmoid", 27, ""),
    ("hard_silu", 28, 'x * clip(x/6 + 0.5, 0, 1); also "hard_swish"'),
)
ACTIVATIONS = {name: act_id for name, act_id, _ in _ACTIVATION_ROWS}

# C enum names where they differ from the upper-cased canonical name (the public API keeps
# its historical spelling).
_ACTIVATION_C_NAMES = {"hard_sigmoid_keras2": "HARD_SIGMOID_K2"}


def _activation_c_name(name: str) -> str:
    return "FG_ACT_" + _ACTIVATION_C_NAMES.get(name, name.upper())


# ---- the generated C blocks --------------------------------------------------------------
def activation_enum() -> str:
    """The body of fg_activations.h's `fg_activation` enum."""
    lines = []
    for name, act_id, doc in _ACTIVATION_ROWS:
        entry = f"    {_activation_c_name(name)} = {act_id},"
        lines.append(f"{entry:<32}/* {doc} */" if doc else entry)
    lines.append(f"    FG_ACT_COUNT = {len(_ACTIVATION_ROWS)}")
    return "\n".join(lines)


def _slot_enum(prefix: str, names) -> str:
    entries = [f"{prefix}_{n.upper()} = {k}" for k, n in enumerate(names)]
    return "\n".join(textwrap.wrap("enum { " + ", ".join(entries) + " };", 96,
                                   subsequent_indent="       "))


def op_tables() -> str:
    """model_registry.h's body: op kind ids, the registry rows, attribute slot names."""
    lines = ["enum {"] + [f"    OP_{op.name.upper()} = {op.id}," for op in OPS]
    lines += [f"    OP_KIND_COUNT = {len(OPS)}", "};", "",
             "/* MODEL_OPS(X): X(KIND, name, min_in, max_in, n_out, n_w) per op kind. */",
             "#define MODEL_OPS(X) \\"]
    for op in OPS:
        max_in = "MODEL_MAX_OP_INPUTS" if op.max_in == MAX_OP_INPUTS else op.max_in
        lines.append(f"    X({op.name.upper()}, {op.name}, {op.min_in}, {max_in}, {op.n_out}, "
                     f"{len(op.weights)}) \\")
    lines[-1] = lines[-1][:-2]
    lines += ["", "/* MODEL_ACTIVATIONS(X): X(C enum name, canonical name, id). */",
              "#define MODEL_ACTIVATIONS(X) \\"]
    for name, act_id, _ in _ACTIVATION_ROWS:
        lines.append(f"    X({_activation_c_name(name)}, {name}, {act_id}) \\")
    lines[-1] = lines[-1][:-2]
    lines += ["", "/* Attribute slots: iattr[KIND_NAME], fattr[KIND_F_NAME]. */"]
    for op in OPS:
        prefix = op.name.upper()
        if op.iattrs:
            lines.append(_slot_enum(prefix, op.iattrs))
        if op.fattrs:
            lines.append(_slot_enum(prefix + "_F", op.fattrs))
    return "\n".join(lines)


_SRC = Path(__file__).resolve().parent.parent / "src_c"
# file -> the function whose text sits between its BEGIN / END registry markers
GENERATED = {"fg_activations.h": activation_enum, "model_registry.h": op_tables}
_BLOCK = re.compile(r"(/\* BEGIN generated by fastgru/registry\.py[^\n]*\n)(.*?)"
                    r"(^[ \t]*/\* END generated \*/)", re.S | re.M)


def regenerated(text: str, body: str) -> str:
    """`text` with its generated block replaced by `body`."""
    if not _BLOCK.search(text):
        raise ValueError("no BEGIN/END generated block")
    return _BLOCK.sub(lambda m: m.group(1) + body + "\n" + m.group(3), text, count=1)


def main() -> int:
    """Rewrite the generated blocks of the C headers from the tables above."""
    for file_name, make in GENERATED.items():
        path = _SRC / file_name
        text = path.read_text()
        new = regenerated(text, make())
        if new != text:
            path.write_text(new)
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
