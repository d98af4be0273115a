"""A Model's device side: its image's program on a Backend, the conversion of inputs to device
arrays (numpy, CuPy, anything with __cuda_array_interface__ or DLPack), and the carried state
of a stateful model or a stream, which stays on the device."""
from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from ..errors import FastGRUError
from ..image_reader import read_program
from ..inputs import convert_input
from ..format import carries_state
from ..registry import CONV1D_PADDINGS
from .device import Backend
from .executor import ArrayExecutor, CarriedState, unsupported_ops


class DeviceRunner:
    def __init__(self, image, backend: Backend):
        self.backend = backend
        self.xp = backend.xp
        program = read_program(image)
        missing = unsupported_ops(program)
        if missing:
            raise FastGRUError(f"device='cuda' cannot run these ops yet: {', '.join(missing)} "
                               f"(use device='cpu')")
        self.executor = ArrayExecutor(program, self.xp, backend.steps, backend.activate,
                                      backend.custom_steps)
        # state slot k: the k-th op that carries state, as the C executor numbers them
        self.slot_ops = [i for i, op in enumerate(program.ops)
                         if carries_state(op.kind, _named_attrs(op))]

    def is_device_array(self, x: Any) -> bool:
        return not isinstance(x, np.ndarray) and (
            hasattr(x, "__cuda_array_interface__") or hasattr(x, "__dlpack__"))

    def convert(self, x: Any, name: str, dtype: np.dtype):
        """`x` as a C-contiguous device array of `dtype`; host inputs go through the same
        checks as on the CPU (fastgru.inputs.convert_input)."""
        xp = self.xp
        if not self.is_device_array(x):
            return xp.asarray(convert_input(x, name, dtype))
        try:
            arr = xp.asarray(x) if hasattr(x, "__cuda_array_interface__") else \
                xp.from_dlpack(x)
        except (TypeError, ValueError, RuntimeError) as e:
            raise FastGRUError(f"model input '{name}': cannot be read as a device array "
                               f"({e})") from None
        if dtype == np.int32 and arr.dtype.kind not in "iu":
            raise FastGRUError(f"model input '{name}': expects integer ids, got {arr.dtype}")
        if arr.dtype.kind not in "fiub":
            raise FastGRUError(f"model input '{name}': expects numbers, got {arr.dtype}")
        return xp.ascontiguousarray(arr, dtype=dtype)

    def new_state(self, batch: int) -> CarriedState:
        return CarriedState(self.xp, batch)

    def run(self, arrays: List[Any], state: Optional[CarriedState] = None,
            streaming: bool = False) -> List[Any]:
        return self.executor.run(arrays, state, streaming)

    def set_state(self, state: CarriedState, slot: int, rows) -> None:
        """Set what the op of state slot `slot` carries (the metadata's "states"): h, or an
        lstm's h then c per row."""
        i = self.slot_ops[slot]
        rows = self.xp.asarray(rows, dtype=self.xp.float32)
        units = self.executor.cells[i].units
        state.h[i] = rows[:, :units]
        if rows.shape[1] > units:
            state.c[i] = rows[:, units:]

    def output(self, arr, on_device: bool):
        """A result as the caller gets it: a device array for device inputs, else numpy."""
        return arr if on_device else self.backend.to_host(arr)


def _named_attrs(op) -> dict:
    """An image op's attributes as a spec names them (a conv1d's padding by name)."""
    if op.kind != "conv1d":
        return op.iattrs
    return {**op.iattrs, "padding": CONV1D_PADDINGS[op.iattrs["padding"]]}


class DeviceStream:
    """Model.stream() on the device: step(x_t) feeds one timestep through the whole model, as
    the CPU stream does (fastgru/_model.pxi ModelStream): one step's arrays drop the time
    axis."""

    def __init__(self, runner: DeviceRunner, core, batch: int):
        core.check_streamable()
        self.runner = runner
        self.state = runner.new_state(batch)
        # (name, dtype, shape of one step, whether the model's tensor has a time axis)
        self.in_specs = [(name, dtype, (batch,) + tuple(d for d in shape if d is not None),
                          axis >= 0) for name, dtype, shape, axis in core.inputs]
        self.out_timed = [axis >= 0 for *_, axis in core.outputs]

    @property
    def batch_size(self) -> int:
        return self.state.batch

    def step(self, x, out=None):
        """Feed one timestep: x is (batch, features) for one input, a list for several.
        Returns the output(s) for this step as device arrays (host arrays for host inputs)."""
        if out is not None:
            raise FastGRUError("stream.step(out=...) is not available on device='cuda'; use "
                               "the returned arrays")
        xs = [x] if len(self.in_specs) == 1 else list(x)
        if len(xs) != len(self.in_specs):
            raise FastGRUError(f"stream step: the model has {len(self.in_specs)} inputs, got "
                               f"{len(xs)}")
        on_device = any(self.runner.is_device_array(v) for v in xs)
        arrays = []
        for v, (name, dtype, shape, timed) in zip(xs, self.in_specs):
            arr = self.runner.convert(v, name, dtype)
            if arr.shape != shape:
                raise FastGRUError(f"stream input '{name}': expected shape {shape}, got "
                                   f"{arr.shape}")
            arrays.append(arr[:, None] if timed else arr)
        outs = self.runner.run(arrays, self.state, streaming=True)
        outs = [self.runner.output(o[:, 0] if timed else o, on_device)
                for o, timed in zip(outs, self.out_timed)]
        return outs[0] if len(outs) == 1 else outs

    def reset(self) -> None:
        """Zero every carried state; optional initial-state inputs apply again."""
        self.state.reset()
