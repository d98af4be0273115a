"""The CUDA kernels of one custom_gru cell program, generated from its bytecode: each kernel's
body is a plain C function of one element index, as in src_c/gpu/fg_gru_step.cu (whose
fg_gru_emit_at applies the mask and writes the output, and whose activation formulas it
calls), so a step is the recurrent GEMM then one launch (reset_after=0: a launch either side
of the (r * h).U_h GEMM). The program becomes straight-line C, one `const float` a value; the
operations are the CPU kernels' (custom_cell.py states them). CuPy compiles the source after
fg_gru_step.cu (kernels.CudaCustomSteps); tests/c/gpu_kernel_harness.c compiles the same
source on the CPU.

reset_after=1: fg_custom_step_after (xw, hu = h.U + recurrent bias, 3u wide). reset_after=0:
fg_custom_gates_before runs the program up to r's store and keeps hz, hr, z, r (KEPT, each an
n-float run of `kept`) and r * h_prev; fg_custom_step_before runs the rest with hh = rhu."""
from __future__ import annotations

from typing import Dict, List, Set, Tuple

import numpy as np

from ..registry import ACTIVATIONS
from .custom_cell import CellProgram, int_power_steps

KERNEL_NAMES = {True: ("fg_custom_step_after",),
                False: ("fg_custom_gates_before", "fg_custom_step_before")}
KEPT = ("hz", "hr", "z", "r")
_ACT_NAMES = {act_id: name for name, act_id in ACTIVATIONS.items()}

# where each kernel reads a slot: a C expression of the element index i
_X = {"xz": "xw[i / u * xs + i % u]", "xr": "xw[i / u * xs + u + i % u]",
      "xh": "xw[i / u * xs + 2 * u + i % u]", "h_prev": "h[i]"}
_LOADS = {
    "fg_custom_step_after": {**_X, "hz": "hu[i / u * 3 * u + i % u]",
                             "hr": "hu[i / u * 3 * u + u + i % u]",
                             "hh": "hu[i / u * 3 * u + 2 * u + i % u]"},
    "fg_custom_gates_before": {**_X, "hz": "hu[i / u * 2 * u + i % u]",
                               "hr": "hu[i / u * 2 * u + u + i % u]"},
    "fg_custom_step_before": {**_X, "hh": "rhu[i]",
                              **{s: f"kept[{k} * n + i]" for k, s in enumerate(KEPT)}},
}
_EMIT = "fg_gru_emit_at(i, u, s_h, h, out, os, prev, keep, zero_output);"
_MASKED = "float *out, long os, float *prev, const unsigned char *keep, int zero_output"
_PARAMS = {
    "fg_custom_step_after": ("long u, const float *xw, long xs, const float *hu, float *h, "
                             + _MASKED),
    "fg_custom_gates_before": ("long n, long u, const float *xw, long xs, const float *hu, "
                               "const float *h, float *kept, float *rh"),
    "fg_custom_step_before": ("long n, long u, const float *xw, long xs, const float *kept, "
                              "const float *rhu, float *h, " + _MASKED),
}
# the slots each kernel's last statements read, and those statements
_TAIL_READS = {"fg_custom_step_after": {"h"}, "fg_custom_gates_before": {*KEPT, "h_prev"},
               "fg_custom_step_before": {"h"}}
_TAIL = {"fg_custom_step_after": [_EMIT],
         "fg_custom_gates_before": [f"kept[{k} * n + i] = s_{s};" for k, s in enumerate(KEPT)]
         + ["rh[i] = s_r * s_h_prev;"],
         "fg_custom_step_before": [_EMIT]}


def _literal(value: float) -> str:
    """A float32 constant exactly: the shortest decimal of its double, which a compiler rounds
    back to the same float (NVRTC's C++11 has no hexadecimal float literals)."""
    return f"({float(np.float32(value))!r}f)"


def _pick(a: str, b: str, wins: str) -> str:
    """min (wins "<") or max (">") of a and b: b when NaN, as x86 minps / maxps."""
    return f"({b} != {b} || {b} {wins} {a} ? {b} : {a})"


_BINARY = {"add": "{a} + {b}", "sub": "{a} - {b}", "mul": "{a} * {b}", "div": "{a} / {b}",
           "min": _pick("{a}", "{b}", "<"), "max": _pick("{a}", "{b}", ">"),
           "gt": "({a} > {b} ? 1.0f : 0.0f)"}
_CALLS = {"exp": "expf", "log": "logf", "sqrt": "sqrtf"}


def _statements(program: CellProgram, start: int, end: int):
    """Instructions [start, end) as C statements, each value a `const float` (t<k>, or
    s_<slot> for a store). Returns (the statements, the slots read before the code sets
    them, the slots it sets, the names its statements read)."""
    lines: List[str] = []
    stack: List[str] = []
    reads: Set[str] = set()
    stored: Set[str] = set()
    used: Set[str] = set()

    def pop() -> str:
        used.add(stack[-1])
        return stack.pop()

    def value(name: str, expr: str) -> None:
        lines.append(f"const float {name} = {expr};")
        stack.append(name)

    for k, (op, arg) in enumerate(program.code[start:end], start):
        t = f"t{k}"
        if op == "load":
            if arg not in stored:
                reads.add(arg)
            stack.append(f"s_{arg}")
        elif op == "const":
            stack.append(_literal(arg))
        elif op == "store":
            lines.append(f"const float s_{arg} = {pop()};")
            stored.add(arg)
        elif op in _BINARY:
            b, a = pop(), pop()
            value(t, _BINARY[op].format(a=a, b=b))
        elif op == "neg":
            value(t, f"{pop()} * -1.0f")
        elif op == "abs":
            a = pop()
            lines.append(f"const float {t}n = {a} * -1.0f;")
            value(t, _pick(a, f"{t}n", ">"))
        elif op in _CALLS:
            value(t, f"{_CALLS[op]}({pop()})")
        elif op == "pow":
            value(t, f"powf({pop()}, {_literal(arg)})")
        elif op == "pow_int":
            value(t, _int_power(lines, t, pop(), arg))
        else:
            value(t, f"fg_act_formula({arg} /* {_ACT_NAMES[arg]} */, {pop()})")
    return lines, reads, stored, used


def _int_power(lines: List[str], t: str, x: str, n: int) -> str:
    """x ** n in custom_cell.int_power_steps' order; appends the steps, returns the result."""
    acc = x
    for k, step in enumerate(int_power_steps(n)):
        if step == "take":
            acc = x
            continue
        name = f"{t}_{k}"
        lines.append(f"const float {name} = " + {"mul": f"{acc} * {x}", "square": f"{x} * {x}",
                                                  "invert": f"1.0f / {acc}"}[step] + ";")
        if step == "square":
            x = name
        else:
            acc = name
    return acc


def _kernel(program: CellProgram, name: str, start: int, end: int) -> str:
    """One kernel: its element function (name + "_at") and the CUDA entry point."""
    lines, reads, stored, used = _statements(program, start, end)
    tail_reads = _TAIL_READS[name]
    loads = [f"const float s_{s} = {where};" for s, where in _LOADS[name].items()
             if s in reads or (s in tail_reads and s not in stored)]
    # a gate nothing reads (h = candidate ignores z) is still evaluated, as on the CPU
    unused = [f"(void)s_{s};" for s in sorted(stored - tail_reads)
              if f"s_{s}" not in used]
    body = "\n    ".join(loads + lines + unused + _TAIL[name])
    params = _PARAMS[name]
    args = ", ".join(p.split()[-1].lstrip("*") for p in params.split(", "))
    launch_params = params if params.startswith("long n,") else "long n, " + params
    return (f"FG_ACT_FN void {name}_at(long i, {params})\n{{\n    {body}\n}}\n"
            f"#ifdef __CUDACC__\n"
            f"extern \"C\" __global__ void {name}({launch_params})\n{{\n"
            f"    long i = FG_INDEX;\n    if (i < n) {name}_at(i, {args});\n}}\n#endif\n")


def cell_source(program: CellProgram) -> str:
    """The C / CUDA source of `program`'s kernels (KERNEL_NAMES[program.reset_after]), to
    follow fg_gru_step.cu's."""
    n = len(program.code)
    ranges: Dict[str, Tuple[int, int]] = (
        {"fg_custom_step_after": (0, n)} if program.reset_after else
        {"fg_custom_gates_before": (0, program.zr_end),
         "fg_custom_step_before": (program.zr_end, n)})
    head = (f"/* a CustomGRU cell program, reset_after={int(program.reset_after)} "
            f"(generated by fastgru/gpu/custom_kernel.py) */\n"
            f"#define FG_CUSTOM_RESET_AFTER {int(program.reset_after)}\n")
    return head + "\n".join(_kernel(program, name, *r) for name, r in ranges.items())
