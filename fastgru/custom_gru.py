"""``fastgru.CustomGRU``: a GRU cell declared by its equations, compiled to the small stack
bytecode the C kernels evaluate (the ``custom_gru`` op's program, docs/FORMAT.md).

The equations are parsed by fastgru/custom_gru_parse.py (never by Python itself). The program is
a float32 array of (opcode, operand) rows: the four equations in the order z, r, candidate, h,
each ending in a STORE of its slot. The C loader checks it again (src_c/fg_custom_program.c).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import numpy as np

from .custom_gru_parse import Node, parse_expression
from .errors import FastGRUError
from .registry import ACTIVATIONS

# Value slots, as the C evaluator numbers them (FG_SLOT_* in src_c/fg_custom_program.h).
INPUT_NAMES = ("xz", "xr", "xh", "hz", "hr", "hh", "h_prev")
GATES = ("z", "r", "candidate", "h")
SLOTS = {name: k for k, name in enumerate(INPUT_NAMES + GATES)}

# Opcodes (FG_OPC_* in src_c/fg_custom_program.h); the operand is a slot, a constant, an
# exponent or an activation id.
OPCODES = {name: k for k, name in enumerate(
    ("load", "const", "store", "add", "sub", "mul", "div", "neg", "min", "max", "gt", "abs",
     "exp", "log", "sqrt", "pow", "act"))}
MAX_STACK = 16        # FG_CUSTOM_MAX_STACK: vectors of evaluation stack in the kernels
MAX_CODE = 4096       # FG_CUSTOM_MAX_CODE: instructions of one cell
FLOAT32_MAX = float(np.finfo(np.float32).max)

_STANDARD = {"z": "sigmoid(xz + hz)", "r": "sigmoid(xr + hr)",
             "h": "z * h_prev + (1 - z) * candidate"}


def _available(gate: str, reset_after: bool) -> Tuple[Tuple[str, ...], Dict[str, str]]:
    """The names equation `gate` may read, and why some others may not."""
    before = GATES[:GATES.index(gate)]
    names = INPUT_NAMES + before
    why_not = {later: f"{later!r} is defined after {gate}" for later in GATES[GATES.index(gate):]}
    why_not[gate] = f"{gate} cannot read itself (h_prev is the previous state)"
    if not reset_after and gate in ("z", "r"):
        names = tuple(n for n in names if n != "hh")
        why_not["hh"] = ("with reset_after=False, hh = (r * h_prev) @ recurrent_kernel needs r, "
                         "so z and r may not use hh")
    return names, why_not


class CustomGRU:
    """A GRU cell given by its equations; ``CustomGRU()`` is ``keras.layers.GRU``'s cell.

    Map a Keras custom cell (or custom GRU layer) class to it when loading:
    ``fastgru.load("m.keras", custom_objects={"MyCell": fastgru.CustomGRU(...)})``.

    ``z``, ``r``, ``candidate`` and ``h`` are evaluated in that order per unit; each may read
    ``xz xr xh`` (x_t @ kernel + input bias), ``hz hr hh`` (h_prev @ recurrent_kernel +
    recurrent bias; with ``reset_after=False``, ``hh`` is (r * h_prev) @ recurrent_kernel's h
    block), ``h_prev`` and the gates defined before it. ``gate_order`` is the order of the
    three blocks along the 3*units axis of kernel, recurrent_kernel and bias.
    """

    def __init__(self, z: str = _STANDARD["z"], r: str = _STANDARD["r"],
                 candidate: Optional[str] = None, h: str = _STANDARD["h"], *,
                 reset_after: bool = True, gate_order: str = "zrh") -> None:
        if not isinstance(reset_after, bool):
            raise FastGRUError(f"CustomGRU reset_after must be True or False, got {reset_after!r}")
        if not isinstance(gate_order, str) or sorted(gate_order) != ["h", "r", "z"]:
            raise FastGRUError(f"CustomGRU gate_order must be a permutation of 'zrh', got "
                               f"{gate_order!r}")
        if candidate is None:
            candidate = "tanh(xh + r * hh)" if reset_after else "tanh(xh + hh)"
        self.reset_after = reset_after
        self.gate_order = gate_order
        self.expressions = {"z": z, "r": r, "candidate": candidate, "h": h}
        self.trees: Dict[str, Node] = {}
        for gate in GATES:
            names, why_not = _available(gate, reset_after)
            self.trees[gate] = parse_expression(gate, self.expressions[gate], names, why_not)
        self.program = compile_program(self.trees)

    def __repr__(self) -> str:
        args = ", ".join(f"{g}={e!r}" for g, e in self.expressions.items())
        return (f"CustomGRU({args}, reset_after={self.reset_after}, "
                f"gate_order={self.gate_order!r})")

    def block_permutation(self, units: int) -> np.ndarray:
        """Column indices that take a (…, 3*units) Keras array in gate_order to z, r, h order."""
        starts = {g: k * units for k, g in enumerate(self.gate_order)}
        return np.concatenate([np.arange(starts[g], starts[g] + units) for g in "zrh"])


def compile_program(trees: Dict[str, Node]) -> np.ndarray:
    """The bytecode of the four equations: float32 rows (opcode, operand)."""
    rows = []
    for gate in GATES:
        depth = _emit(trees[gate], rows, 0, gate)
        assert depth == 1
        rows.append((OPCODES["store"], SLOTS[gate]))
    if len(rows) > MAX_CODE:
        raise FastGRUError(f"CustomGRU: the equations compile to {len(rows)} instructions "
                           f"(at most {MAX_CODE})")
    return np.asarray(rows, dtype=np.float32).reshape(-1, 2)


def _emit(node: Node, rows: list, depth: int, gate: str) -> int:
    """Append `node`'s postorder code; returns the stack depth after it (starting at `depth`)."""
    kind = node[0]
    if kind == "const":
        value = float(node[1])
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise FastGRUError(f"CustomGRU {gate}: constant {value!r} does not fit float32")
        rows.append((OPCODES["const"], value))
        return _push(depth, gate)
    if kind == "load":
        rows.append((OPCODES["load"], SLOTS[node[1]]))
        return _push(depth, gate)
    if kind == "act":
        depth = _emit(node[2], rows, depth, gate)
        rows.append((OPCODES["act"], ACTIVATIONS[node[1]]))
        return depth
    if kind == "pow":
        depth = _emit(node[1], rows, depth, gate)
        if abs(node[2]) > FLOAT32_MAX:
            raise FastGRUError(f"CustomGRU {gate}: exponent {node[2]!r} does not fit float32")
        rows.append((OPCODES["pow"], node[2]))
        return depth
    if len(node) == 2:    # neg abs exp log sqrt
        depth = _emit(node[1], rows, depth, gate)
        rows.append((OPCODES[kind], 0.0))
        return depth
    depth = _emit(node[2], rows, _emit(node[1], rows, depth, gate), gate)
    rows.append((OPCODES[kind], 0.0))
    return depth - 1


def _push(depth: int, gate: str) -> int:
    if depth + 1 > MAX_STACK:
        raise FastGRUError(f"CustomGRU {gate}: the expression nests too deeply to evaluate "
                           f"(more than {MAX_STACK} pending values); split it with parentheses "
                           f"differently")
    return depth + 1
