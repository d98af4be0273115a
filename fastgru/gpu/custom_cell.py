"""A custom_gru op's cell program (fastgru/custom_gru.py's bytecode) on an array module: each
instruction one array operation over the whole (batch, units) step, in float32 with the
operations of the CPU kernels (src_c/kernels/custom_template.h: x86 min / max, neg as * -1,
integral powers by square-and-multiply). The C loader checked the program when the image was
read (src_c/fg_custom_program.c: opcodes, slots set before read, stack bounds, store order),
so nothing is checked here. On a device the same program runs as one generated CUDA kernel a
step (custom_kernel.py); this is the array path the kernels are held against."""
from __future__ import annotations

import contextlib
from typing import List, NamedTuple, Tuple

from ..custom_gru import OPCODES, SLOTS
from . import activations
from .gru import masked_output

OPCODE_NAMES = {code: name for name, code in OPCODES.items()}
SLOT_NAMES = {k: name for name, k in SLOTS.items()}
MAX_INT_POW = 64   # FG_CUSTOM_MAX_INT_POW: larger integral exponents go through powf


class CellProgram(NamedTuple):
    """A checked program as (opcode name, operand) pairs: a slot name for load / store, an
    activation id for act, an int exponent for pow_int (pow: a float one), the constant for
    const. zr_end: one past the store of r, where reset_after=0 stops to compute hh."""
    reset_after: bool
    code: Tuple[Tuple[str, object], ...]
    zr_end: int


def cell_program(rows, reset_after: bool) -> CellProgram:
    """The program of a custom_gru's (n, 2) float32 "program" rows."""
    code = []
    for opcode, operand in rows.tolist():
        name = OPCODE_NAMES[int(opcode)]
        if name in ("load", "store"):
            operand = SLOT_NAMES[int(operand)]
        elif name == "act":
            operand = int(operand)
        elif name == "pow" and operand == int(operand) and 0 < abs(operand) <= MAX_INT_POW:
            name, operand = "pow_int", int(operand)
        code.append((name, operand))
    return CellProgram(bool(reset_after), tuple(code), code.index(("store", "r")) + 1)


def int_power_steps(n: int) -> List[str]:
    """x ** n for an integral n != 0 as the CPU kernels compute it (custom_powi, jax's
    integer_pow): square-and-multiply, then 1 / acc for a negative n. Each step: "mul" (acc
    *= x, or acc = x first), "square" (x *= x), or "invert" (acc = 1 / acc)."""
    steps, m, have = [], abs(n), False
    while m > 0:
        if m & 1:
            steps.append("mul" if have else "take")
            have = True
        m >>= 1
        if m > 0:
            steps.append("square")
    return steps + (["invert"] if n < 0 else [])


def _int_power(xp, x, n: int):
    acc = None
    for step in int_power_steps(n):
        if step == "take":
            acc = x
        elif step == "mul":
            acc = acc * x
        elif step == "square":
            x = x * x
        else:
            acc = xp.float32(1) / acc
    return acc


def _min(xp, a, b):
    return xp.where((b != b) | (b < a), b, a)    # b when NaN, as x86 minps


def _max(xp, a, b):
    return xp.where((b != b) | (b > a), b, a)


_BINARY = {
    "add": lambda xp, a, b: a + b, "sub": lambda xp, a, b: a - b,
    "mul": lambda xp, a, b: a * b, "div": lambda xp, a, b: a / b,
    "min": _min, "max": _max,
    "gt": lambda xp, a, b: (a > b).astype(xp.float32),
}
_UNARY = {
    "neg": lambda xp, a: a * xp.float32(-1),
    "abs": lambda xp, a: _max(xp, a, a * xp.float32(-1)),
    "exp": lambda xp, a: xp.exp(a), "log": lambda xp, a: xp.log(a),
    "sqrt": lambda xp, a: xp.sqrt(a),
}


def evaluate(xp, program: CellProgram, start: int, end: int, slots: dict) -> None:
    """Run instructions [start, end) over float32 (batch, units) arrays: `slots` maps slot
    names to the values set so far and receives the ones the code stores."""
    stack = []
    like = slots["h_prev"]
    for name, arg in program.code[start:end]:
        if name == "load":
            stack.append(slots[arg])
        elif name == "const":
            stack.append(xp.full_like(like, arg))
        elif name == "store":
            slots[arg] = stack.pop()
        elif name in _BINARY:
            b = stack.pop()
            stack.append(_BINARY[name](xp, stack.pop(), b))
        elif name in _UNARY:
            stack.append(_UNARY[name](xp, stack.pop()))
        elif name == "pow_int":
            stack.append(_int_power(xp, stack.pop(), arg))
        elif name == "pow":
            stack.append(xp.power(stack.pop(), xp.float32(arg)))
        else:
            stack.append(activations.apply(xp, arg, stack.pop()))


class CustomArraySteps:
    """gru.ArraySteps' contract for a custom cell (its weights' `program`), as array
    operations. With reset_after=0, gates_before returns the values the second half reads
    (the slots so far) in the place of z."""

    def __init__(self, xp):
        self.xp = xp

    def _slots(self, w, xw, hu, h) -> dict:
        u = w.units
        slots = {"xz": xw[:, :u], "xr": xw[:, u:2 * u], "xh": xw[:, 2 * u:], "h_prev": h}
        for k, name in enumerate(("hz", "hr", "hh")[:hu.shape[1] // u]):
            slots[name] = hu[:, k * u:(k + 1) * u]
        return slots

    def after(self, w, xw, hu, h, prev, keep, zero_output, out):
        slots = self._slots(w, xw, hu, h)
        with _quiet(self.xp):
            evaluate(self.xp, w.program, 0, len(w.program.code), slots)
        return masked_output(self.xp, slots["h"], h, prev, keep, zero_output, out)

    def gates_before(self, w, xw, hu_zr, h):
        slots = self._slots(w, xw, hu_zr, h)
        with _quiet(self.xp):
            evaluate(self.xp, w.program, 0, w.program.zr_end, slots)
        return slots, slots["r"] * h

    def finish_before(self, w, xw, slots, rhu, h, prev, keep, zero_output, out):
        slots["hh"] = rhu
        with _quiet(self.xp):
            evaluate(self.xp, w.program, w.program.zr_end, len(w.program.code), slots)
        return masked_output(self.xp, slots["h"], h, prev, keep, zero_output, out)


def _quiet(xp):
    """numpy warns where the C kernels silently give inf or NaN (log(0), 1 / 0): as they do."""
    errstate = getattr(xp, "errstate", None)
    return errstate(all="ignore") if errstate else contextlib.nullcontext()
