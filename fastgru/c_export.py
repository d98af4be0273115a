"""``fastgru convert --format c``: a model image as a C header, for programs that carry their
model in the binary (flash on a microcontroller, or just one file less to ship).

The header holds the image as a 64-byte aligned ``const`` byte array, so ``fg_model_load``
runs it in place with no copy, and a ``static inline`` accessor returning pointer and size:

    size_t n;
    const unsigned char *image = NAME_image(&n);
    fg_model_load(image, n, &model);

``NAME`` is ``--name`` or the output file's name, sanitised to a C identifier.

Beside it goes ``STEM_fg_config.h`` (the header's file name without extension;
``config_text``): the op kinds and activations the model uses, for a library built with only
those (``make -C src_c mcu FG_CONFIG=...``, examples/mcu/README.md).
"""
from __future__ import annotations

import os
import re
import struct

import numpy as np

from . import format as fmt
from .errors import FastGRUError
from .registry import ACTIVATIONS, OP_BY_NAME, OPS

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BYTES_PER_LINE = 16


def symbol_name(output_path: str) -> str:
    """The C symbol prefix for a header path: its file name without extensions, every
    character that C does not allow in a name replaced by ``_`` (``my-model.h`` -> ``my_model``)."""
    stem = os.path.basename(os.fspath(output_path)).split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "model"
    return "_" + name if name[0].isdigit() else name


def config_path(header_path: str) -> str:
    """Where the config for the header at `header_path` goes: ``dir/STEM_fg_config.h``."""
    header_path = os.fspath(header_path)
    stem = os.path.basename(header_path).split(".")[0] or "model"
    return os.path.join(os.path.dirname(header_path), stem + "_fg_config.h")


_ATTENTION = OP_BY_NAME["attention"]
# iattr slots holding activation ids, per op kind: those the registry names *activation
_ACT_SLOTS = {op.id: tuple(k for k, slot in enumerate(op.iattrs) if slot.endswith("activation"))
              for op in OPS}


def _program_activations(image: bytes, fields: tuple, record: tuple) -> int:
    """The activation-id bits a custom_gru op's program uses (its second weight)."""
    from .custom_gru import OPCODES

    weights_at, index_at = fields[16], fields[17]
    weight_id = struct.unpack_from("<I", image, index_at + 4 * (record[7] + 1))[0]
    data_at, nbytes = fmt.WEIGHT.unpack_from(image, weights_at + weight_id * fmt.WEIGHT.size)[:2]
    rows = np.frombuffer(image, "<f4", nbytes // 4, data_at).reshape(-1, 2)
    bits = 0
    for act in rows[rows[:, 0] == OPCODES["act"], 1].astype(int):
        bits |= 1 << int(act)
    return bits


def config_text(image: bytes, name: str) -> str:
    """fg_config.h for `image` (src_c/fg_config_select.h): bit masks of the op kinds and the
    activation ids its ops use, read from the image's op records."""
    fields = fmt.HEADER.unpack_from(image)
    n_ops, ops_at = fields[8], fields[15]
    ops = acts = 0
    for k in range(n_ops):
        record = fmt.OP.unpack_from(image, ops_at + k * fmt.OP.size)
        kind, iattr = record[0], record[8:20]
        ops |= 1 << kind
        for slot in _ACT_SLOTS.get(kind, ()):
            acts |= 1 << iattr[slot]
        if kind == _ATTENTION.id and iattr[_ATTENTION.iattrs.index("score_mode")] != 0:
            acts |= 1 << ACTIVATIONS["tanh"]   # concat / additive scores sum tanh terms
        if kind == fmt.OP_IDS["custom_gru"]:
            acts |= _program_activations(image, fields, record)
    kinds = [k for k, v in sorted(fmt.OP_IDS.items(), key=lambda kv: kv[1]) if ops >> v & 1]
    return "\n".join([
        f"/* What model {name} uses (ops: {', '.join(kinds)}), written by",
        " * `fastgru convert --format c`: build the library with only these,",
        " * `make -C src_c mcu FG_CONFIG=this file` (src_c/fg_config_select.h). */",
        f"#define FG_CONFIG_OPS 0x{ops:016x}ull",
        f"#define FG_CONFIG_ACTIVATIONS 0x{acts:016x}ull",
        "#define FG_CONFIG_BF16 0   /* bf16 compute is a run-time choice this model never needs */",
        f"#define FG_CONFIG_TIME_MAJOR {int(bool(fields[6] & fmt.FEATURE_TIME_MAJOR))}",
        "",
    ])


def header_text(image: bytes, name: str, source: str = "") -> str:
    """The C header for `image` with symbols ``NAME_data`` and ``NAME_image``."""
    if not _IDENTIFIER.match(name):
        raise FastGRUError(f"--name {name!r} is not a C identifier "
                           f"(letters, digits and '_', not starting with a digit)")
    guard = f"FASTGRU_MODEL_{name.upper()}_H"
    rows = []
    for start in range(0, len(image), _BYTES_PER_LINE):
        chunk = image[start:start + _BYTES_PER_LINE]
        rows.append("    " + ",".join(f"0x{b:02x}" for b in chunk) + ",")
    # The header is ASCII C: a non-ASCII file name is written escaped in the comment.
    shown = os.path.basename(source).encode("unicode_escape").decode("ascii")
    origin = f" from {shown}" if source else ""
    return "\n".join([
        f"/* fastgru model image{origin} ({len(image)} bytes, docs/FORMAT.md), written by",
        " * `fastgru convert --format c`; do not edit.",
        f" * Zero copy: size_t n; fg_model_load({name}_image(&n), n, &model); */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stddef.h>",
        "",
        "/* 64-byte aligned so that the loader uses the weights in place */",
        "#ifdef __cplusplus",
        f"alignas(64) static const unsigned char {name}_data[{len(image)}] = {{",
        "#else",
        f"_Alignas(64) static const unsigned char {name}_data[{len(image)}] = {{",
        "#endif",
        *rows,
        "};",
        "",
        f"static inline const unsigned char *{name}_image(size_t *nbytes)",
        "{",
        f"    if (nbytes) *nbytes = sizeof {name}_data;",
        f"    return {name}_data;",
        "}",
        "",
        "#endif",
        "",
    ])
