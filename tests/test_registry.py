"""One table for the executor's vocabulary (fastgru/registry.py): the C library built from its
generated headers agrees with it on every op kind and activation, the generated blocks are
current, and docs/FORMAT.md's op table says the same."""
import os
import re

import numpy as np

from fastgru import _core, registry
from fastgru import format as fmt
from fastgru.model import Model
from model_cases import SpecBuilder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_c_library_and_python_agree_on_op_kinds_and_activations():
    kinds, activations = _core.registry()
    assert kinds == [(op.id, op.name, op.min_in, op.max_in, op.n_out, len(op.weights))
                     for op in registry.OPS]
    assert activations == registry.ACTIVATIONS
    assert [op.id for op in registry.OPS] == list(range(len(registry.OPS)))
    assert sorted(registry.ACTIVATIONS.values()) == list(range(len(registry.ACTIVATIONS)))


def test_generated_c_blocks_are_current():
    for file_name, make in registry.GENERATED.items():
        with open(os.path.join(ROOT, "src_c", file_name)) as f:
            text = f.read()
        assert registry.regenerated(text, make()) == text, (
            f"src_c/{file_name} is stale: run python fastgru/registry.py")


def _names(cell):
    """'kernel (in, units), bias? (units)' -> ['kernel', 'bias']."""
    cell = re.sub(r"\([^)]*\)", "", cell)
    return [n.strip().rstrip("?") for n in cell.split(",") if n.strip()]


def _slots(cell):
    """'0 center, 1 scale; f0 epsilon' -> (['center', 'scale'], ['epsilon'])."""
    ints, floats = [], []
    for entry in re.findall(r"\b(f?)(\d+) (\w+)", cell):
        (floats if entry[0] else ints).append((int(entry[1]), entry[2]))
    for slots in (ints, floats):
        assert [k for k, _ in slots] == list(range(len(slots))), cell
    return [n for _, n in ints], [n for _, n in floats]


def test_format_doc_op_table_matches_the_registry():
    with open(os.path.join(ROOT, "docs", "FORMAT.md")) as f:
        doc = f.read()
    table = doc[doc.index("| id | kind |"):]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    assert [(int(r[0]), r[1]) for r in rows] == [(op.id, op.name) for op in registry.OPS]
    for row, op in zip(rows, registry.OPS):
        assert _names(row[4]) == list(op.weights), op.name
        assert _slots(row[5]) == (list(op.iattrs), list(op.fattrs)), op.name
        assert ("1..64" in row[2]) == (op.max_in == registry.MAX_OP_INPUTS), op.name


def test_each_keras_weight_maps_to_the_record_made_of_it():
    """A GRU whose kernel and recurrent kernel hold equal values: each Keras weight still
    names its own part of the packed record (the reader records which became which)."""
    s = SpecBuilder("twin_weights")
    x = s.input("x", (None, 4))
    y = s.gru("gru", x, 4)
    gru = s.ops[-1]
    gru.weights["recurrent_kernel"][:] = gru.weights["kernel"]
    image = fmt.pack_model(s.spec([y]))
    layer = next(rec for rec in fmt.read_metadata(image)["layers"] if rec["name"] == "gru")
    assert [w["part"] for w in layer["weights"]] == ["kernel", "recurrent_kernel", "bias"]
    loaded = next(lay for lay in Model(image).layers if lay.name == "gru")
    kernel, recurrent_kernel, bias = loaded.get_weights()
    np.testing.assert_array_equal(recurrent_kernel, gru.weights["recurrent_kernel"])
    np.testing.assert_array_equal(bias, gru.weights["bias"])
