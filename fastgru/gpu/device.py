"""What runs device="cuda": CuPy on a visible CUDA device, or a FastGRUError saying what is
missing. Only called when a user asks for the device, so importing fastgru never imports
CuPy."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ..errors import FastGRUError


class Backend(NamedTuple):
    xp: Any                      # the array module
    steps: Any                   # the GRU epilogue (gru.ArraySteps contract)
    activate: Callable           # activate(xp, act_id, x)
    to_host: Callable            # device array -> numpy array
    custom_steps: Any = None     # a custom cell's epilogue (None: custom_cell.CustomArraySteps)


def cuda_backend() -> Backend:
    """CuPy with its CUDA kernels, after checking a device is there."""
    try:
        import cupy
    except ImportError as e:
        raise FastGRUError("device='cuda' needs CuPy, which is not installed: pip install "
                           "'fastgru[gpu]' (or the cupy-cudaXXx wheel for your CUDA version)"
                           f" ({e})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:   # CUDA driver or runtime missing: CuPy raises its own errors
        raise FastGRUError(f"device='cuda': CuPy cannot reach a CUDA device ({e})") from None
    if count < 1:
        raise FastGRUError("device='cuda': no CUDA device is visible to this process")
    from . import kernels
    return Backend(cupy, kernels.CudaSteps(cupy), kernels.activate, cupy.asnumpy,
                   kernels.CudaCustomSteps(cupy))


def backend_for(device: str) -> Backend:
    if device == "cuda":
        return cuda_backend()
    raise FastGRUError(f"device={device!r}: expected 'cpu' or 'cuda'")
