"""``fastgru convert --format c``: a model image as a C header, for programs that carry their
model in the binary (flash on a microcontroller, or just one file less to ship).

The header holds the image as a 64-byte aligned ``const`` byte array, so ``fg_model_load``
runs it in place with no copy, and a ``static inline`` accessor returning pointer and size:

    size_t n;
    const unsigned char *image = NAME_image(&n);
    fg_model_load(image, n, &model);

``NAME`` is ``--name`` or the output file's name, sanitised to a C identifier.
"""
from __future__ import annotations

import os
import re

from .errors import FastGRUError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BYTES_PER_LINE = 16


def symbol_name(output_path: str) -> str:
    """The C symbol prefix for a header path: its file name without extensions, every
    character that C does not allow in a name replaced by ``_`` (``my-model.h`` -> ``my_model``)."""
    stem = os.path.basename(os.fspath(output_path)).split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "model"
    return "_" + name if name[0].isdigit() else name


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
