"""The GPU path's kernels run on the CPU, for tests without a GPU: tests/c/gpu_kernel_harness.c
(the bodies of src_c/gpu/fg_gru_step.cu, and of one CustomGRU program's generated kernels,
fastgru/gpu/custom_kernel.py) built with the C compiler and driven through ctypes with the
contracts of fastgru/gpu/kernels.py's CudaSteps and CudaCustomSteps, each launch walked with
`block` threads per block (odd, so the last block is partial)."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fastgru.gpu import activations, device
from fastgru.gpu.custom_kernel import cell_source
from fastgru.gpu.gru import ArraySteps

REPO = Path(__file__).resolve().parent.parent
BLOCK = 37
L = ctypes.c_long


def numpy_backend():
    """numpy in CuPy's place, every epilogue as array operations."""
    return device.Backend(np, ArraySteps(np), activations.apply, lambda a: a)


def build_harness(out: Path, custom_source: str = None) -> ctypes.CDLL:
    """The harness library at `out`; with `custom_source`, that program's kernels too."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler (cc) to build the kernel harness")
    cmd = ["cc", "-O2", "-shared", "-fPIC", "-Wall", "-Werror", f"-I{REPO / 'src_c'}"]
    if custom_source is not None:
        cell = out.with_suffix(".cell.c")
        cell.write_text(custom_source)
        cmd.append(f'-DFG_CUSTOM_CELL_SOURCE="{cell}"')
    subprocess.run(cmd + [str(REPO / "tests" / "c" / "gpu_kernel_harness.c"), "-o", str(out),
                          "-lm"], check=True)
    return ctypes.CDLL(str(out))


def _p(a):
    return ctypes.c_void_p(0 if a is None else a.ctypes.data)


def _keep(keep):
    return None if keep is None else np.ascontiguousarray(keep, dtype=np.uint8)


class HarnessSteps:
    """kernels.CudaSteps' contract, each launch run by the harness."""

    def __init__(self, lib):
        self.lib = lib

    def after(self, w, xw, hu, h, prev, keep, zero_output, out):
        self.lib.harness_gru_step_after(
            L(BLOCK), L(h.size), L(w.units), _p(xw), L(xw.strides[0] // 4), _p(hu),
            w.activation, w.recurrent_activation, _p(h), _p(out), L(out.strides[0] // 4),
            _p(prev), _p(_keep(keep)), int(zero_output))
        return h, prev

    def gates_before(self, w, xw, hu_zr, h):
        z, rh = np.empty_like(h), np.empty_like(h)
        self.lib.harness_gru_gates_before(
            L(BLOCK), L(h.size), L(w.units), _p(xw), L(xw.strides[0] // 4),
            _p(np.ascontiguousarray(hu_zr)), w.recurrent_activation, _p(h), _p(z), _p(rh))
        return z, rh

    def finish_before(self, w, xw, z, rhu, h, prev, keep, zero_output, out):
        self.lib.harness_gru_step_before(
            L(BLOCK), L(h.size), L(w.units), _p(xw), L(xw.strides[0] // 4), _p(z),
            _p(np.ascontiguousarray(rhu)), w.activation, _p(h), _p(out),
            L(out.strides[0] // 4), _p(prev), _p(_keep(keep)), int(zero_output))
        return h, prev


class HarnessCustomSteps:
    """kernels.CudaCustomSteps' contract: each program's generated kernels built into a
    harness of their own (in `build_dir`, once per program), each launch run by it."""

    def __init__(self, build_dir: Path):
        self.build_dir = build_dir
        self.libs = {}

    def _lib(self, program):
        if program not in self.libs:
            out = self.build_dir / f"custom{len(self.libs)}.so"
            self.libs[program] = build_harness(out, cell_source(program))
        return self.libs[program]

    def after(self, w, xw, hu, h, prev, keep, zero_output, out):
        self._lib(w.program).harness_custom_step_after(
            L(BLOCK), L(h.size), L(w.units), _p(xw), L(xw.strides[0] // 4),
            _p(np.ascontiguousarray(hu)), _p(h), _p(out), L(out.strides[0] // 4), _p(prev),
            _p(_keep(keep)), int(zero_output))
        return h, prev

    def gates_before(self, w, xw, hu_zr, h):
        kept, rh = np.empty((4,) + h.shape, dtype=np.float32), np.empty_like(h)
        self._lib(w.program).harness_custom_gates_before(
            L(BLOCK), L(h.size), L(w.units), _p(xw), L(xw.strides[0] // 4),
            _p(np.ascontiguousarray(hu_zr)), _p(h), _p(kept), _p(rh))
        return kept, rh

    def finish_before(self, w, xw, kept, rhu, h, prev, keep, zero_output, out):
        self._lib(w.program).harness_custom_step_before(
            L(BLOCK), L(h.size), L(w.units), _p(xw), L(xw.strides[0] // 4), _p(kept),
            _p(np.ascontiguousarray(rhu)), _p(h), _p(out), L(out.strides[0] // 4), _p(prev),
            _p(_keep(keep)), int(zero_output))
        return h, prev


def harness_activate(lib):
    def activate(xp, act_id, x):
        if act_id in activations.ROW_WISE:
            return activations.apply(np, act_id, x)
        y = np.array(x, dtype=np.float32, order="C", copy=True)
        lib.harness_activation(L(BLOCK), L(y.size), act_id, _p(y))
        return y
    return activate


def harness_backend(lib, build_dir: Path):
    """Every kernel of the device path run by the harness, numpy for the rest."""
    return device.Backend(np, HarnessSteps(lib), harness_activate(lib), lambda a: a,
                          HarnessCustomSteps(build_dir))
