"""The CUDA kernels of src_c/gpu/fg_gru_step.cu, compiled by CuPy (NVRTC) once per process, and
CudaSteps: the GRU epilogue contract of gru.ArraySteps on them. The kernel source is the
registry's activation ids, src_c/fg_act_formulas.h (the C library's own formulas) and the
kernel file; an installed package carries copies of the two files (setup.py). A CustomGRU
cell's kernels (custom_kernel.py) follow that source, compiled once per program:
CudaCustomSteps."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..registry import activation_enum
from .custom_cell import CellProgram
from .custom_kernel import cell_source

KERNEL_NAMES = ("fg_gru_step_after", "fg_gru_gates_before", "fg_gru_step_before",
                "fg_activation")
_THREADS = 256


def _source_files():
    here = Path(__file__).resolve().parent
    packaged = here / "kernel_src"
    if packaged.is_dir():
        return packaged / "fg_act_formulas.h", packaged / "fg_gru_step.cu"
    src_c = here.parent.parent / "src_c"       # a source checkout
    return src_c / "fg_act_formulas.h", src_c / "gpu" / "fg_gru_step.cu"


def kernel_source() -> str:
    """The CUDA source: activation ids, the shared formulas, the kernels."""
    formulas, kernels = _source_files()
    return "\n".join([
        "#define FG_ACT_FN __device__ static inline",
        "enum {", activation_enum(), "};",
        formulas.read_text(), kernels.read_text()])


def custom_kernel_source(program: CellProgram) -> str:
    """The CUDA source of a custom cell's kernels: kernel_source(), then the program's."""
    return kernel_source() + "\n" + cell_source(program)


@lru_cache(maxsize=None)
def _module(program=None):
    """The kernels, or those of a custom cell `program` with them."""
    import cupy
    code = kernel_source() if program is None else custom_kernel_source(program)
    return cupy.RawModule(code=code, options=("--std=c++11",))


def _launch(name: str, n: int, args, program=None) -> None:
    if n:
        _module(program).get_function(name)(((n + _THREADS - 1) // _THREADS,), (_THREADS,),
                                            args)


def _keep(xp, keep):
    """A step's mask argument: NULL when unmasked."""
    return xp.uint64(0) if keep is None else xp.ascontiguousarray(keep)


class CudaSteps:
    """The GRU epilogue on the device; see gru.ArraySteps for the contract. h and prev are
    contiguous (B, u) arrays owned by run_gru, updated in place."""

    def __init__(self, xp):
        self.xp = xp

    def after(self, w, xw, hu, h, prev, keep, zero_output, out):
        xp = self.xp
        n, u = h.size, w.units
        _launch("fg_gru_step_after", n, (
            xp.int64(n), xp.int64(u), xw, xp.int64(xw.strides[0] // 4), hu,
            xp.int32(w.activation), xp.int32(w.recurrent_activation), h, out,
            xp.int64(out.strides[0] // 4), prev, _keep(xp, keep), xp.int32(zero_output)))
        return h, prev

    def gates_before(self, w, xw, hu_zr, h):
        xp = self.xp
        n, u = h.size, w.units
        z, rh = xp.empty_like(h), xp.empty_like(h)
        _launch("fg_gru_gates_before", n, (
            xp.int64(n), xp.int64(u), xw, xp.int64(xw.strides[0] // 4), hu_zr,
            xp.int32(w.recurrent_activation), h, z, rh))
        return z, rh

    def finish_before(self, w, xw, z, rhu, h, prev, keep, zero_output, out):
        xp = self.xp
        n, u = h.size, w.units
        _launch("fg_gru_step_before", n, (
            xp.int64(n), xp.int64(u), xw, xp.int64(xw.strides[0] // 4), z, rhu,
            xp.int32(w.activation), h, out, xp.int64(out.strides[0] // 4), prev,
            _keep(xp, keep), xp.int32(zero_output)))
        return h, prev


class CudaCustomSteps:
    """A custom cell's epilogue on the device, its program's generated kernels (one launch a
    step; reset_after=0: one either side of the (r * h).U_h GEMM); gru.ArraySteps' contract,
    h and prev as for CudaSteps."""

    def __init__(self, xp):
        self.xp = xp

    def after(self, w, xw, hu, h, prev, keep, zero_output, out):
        xp = self.xp
        n = h.size
        _launch("fg_custom_step_after", n, (
            xp.int64(n), xp.int64(w.units), xw, xp.int64(xw.strides[0] // 4), hu, h, out,
            xp.int64(out.strides[0] // 4), prev, _keep(xp, keep), xp.int32(zero_output)),
            w.program)
        return h, prev

    def gates_before(self, w, xw, hu_zr, h):
        xp = self.xp
        n = h.size
        kept, rh = xp.empty((4,) + h.shape, dtype=xp.float32), xp.empty_like(h)
        _launch("fg_custom_gates_before", n, (
            xp.int64(n), xp.int64(w.units), xw, xp.int64(xw.strides[0] // 4), hu_zr, h, kept,
            rh), w.program)
        return kept, rh

    def finish_before(self, w, xw, kept, rhu, h, prev, keep, zero_output, out):
        xp = self.xp
        n = h.size
        _launch("fg_custom_step_before", n, (
            xp.int64(n), xp.int64(w.units), xw, xp.int64(xw.strides[0] // 4), kept, rhu, h,
            out, xp.int64(out.strides[0] // 4), prev, _keep(xp, keep), xp.int32(zero_output)),
            w.program)
        return h, prev


def activate(xp, act_id: int, x):
    """Activation `act_id` of a float32 device array: the kernel for the elementwise ones,
    array operations for the row-wise ones (softmax, log_softmax, sparsemax)."""
    from . import activations
    if act_id in activations.ROW_WISE:
        return activations.apply(xp, act_id, x)
    y = xp.array(x, dtype=xp.float32, order="C", copy=True)
    _launch("fg_activation", y.size, (xp.int64(y.size), xp.int32(act_id), y))
    return y
