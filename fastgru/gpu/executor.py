"""The model image's ops on an array module (CuPy on a device; numpy in the tests), with the
semantics of the C executor (src_c/model_exec.c, model_ops.c): same op table, same masks,
same carried state for stateful models and streams, which stay on the device."""
from __future__ import annotations

from typing import Dict, List, Optional

from ..errors import FastGRUError
from ..format import GRU_KINDS, RECURRENT_KINDS
from ..image_reader import ImageOp, ImageProgram
from . import activations
from .attention_ops import ATTENTION_OPS
from .conv_ops import STATEFUL_OPS
from .custom_cell import CustomArraySteps, cell_program
from .elementwise_ops import ELEMENTWISE_OPS
from .gru import ArraySteps, GruWeights, run_gru
from .recurrent import CellWeights, run_cell
from .shape_ops import SHAPE_OPS


class CarriedState:
    """What stateful gru ops carry between calls, or a stream between steps (per op, its h
    and its last output), and what other ops carry in a stream (a causal conv1d's last
    inputs), on the device."""

    def __init__(self, xp, batch: int):
        self.xp = xp
        self.batch = batch
        self.h: Dict[int, object] = {}
        self.c: Dict[int, object] = {}        # an lstm's cell state
        self.prev_out: Dict[int, object] = {}
        self.ops: Dict[int, dict] = {}        # what other ops carry in a stream (conv_ops)
        self.fresh = True

    def reset(self) -> None:
        self.h.clear()
        self.c.clear()
        self.prev_out.clear()
        self.ops.clear()
        self.fresh = True


class ArrayExecutor:
    """Runs an ImageProgram on `xp`. `steps` runs the GRU's gate epilogue (gru.ArraySteps,
    or kernels.CudaSteps on a device), `custom_steps` a custom_gru's cell program
    (custom_cell.CustomArraySteps, or kernels.CudaCustomSteps); `activate(xp, act_id, x)` the
    other ops' activations (activations.apply, or kernels.activate)."""

    def __init__(self, program: ImageProgram, xp, steps=None, activate=None,
                 custom_steps=None):
        self.program = program
        self.xp = xp
        self.steps = steps or ArraySteps(xp)
        self.custom_steps = custom_steps or CustomArraySteps(xp)
        self.activate = activate or activations.apply
        self.cells = {i: _cell_weights(xp, op) for i, op in enumerate(program.ops)
                      if op.kind in RECURRENT_KINDS}
        self.weights = {i: {k: xp.asarray(v) for k, v in op.weights.items()}
                        for i, op in enumerate(program.ops) if op.kind not in RECURRENT_KINDS}

    def shape(self, tensor: str) -> tuple:
        """A tensor's per-sample shape, -1 on its time axis."""
        return tuple(self.program.tensors[tensor].shape)

    def run(self, inputs: List[object], state: Optional[CarriedState] = None,
            streaming: bool = False) -> List[object]:
        """The model outputs for device arrays `inputs` (the model's input order); `state`
        carries stateful ops' states (and a stream's, with streaming=True)."""
        env = dict(zip(self.program.inputs, inputs))
        for i, op in enumerate(self.program.ops):
            args = [None if n is None else env[n] for n in op.inputs]
            if op.kind in RECURRENT_KINDS:
                results = self._recurrent(i, op, args, state, streaming)
            elif op.kind in STATEFUL_OPS:
                carried = state.ops.setdefault(i, {}) if state is not None and streaming \
                    else None
                results = STATEFUL_OPS[op.kind](self, op, self.weights[i], args, carried)
            else:
                results = _OPS[op.kind](self, op, self.weights[i], args)
            for name, value in zip(op.outputs, results):
                if name is not None:
                    env[name] = value
        if state is not None and streaming:
            state.fresh = False
        return [env[n] for n in self.program.outputs]

    def _recurrent(self, i: int, op: ImageOp, args, state, streaming):
        """A gru, custom_gru, lstm or simple_rnn op, with the C executor's carry rules: a
        stream or a stateful op starts from its carried state (a fresh stream from its
        initial-state inputs, when given); otherwise an initial-state input wins."""
        xp, a = self.xp, op.iattrs
        x, mask, h0 = args[:3]
        if a["time_major"]:   # (time, batch, ...): no states in or out (the loader checked)
            x = xp.ascontiguousarray(xp.swapaxes(x, 0, 1))
            mask = None if mask is None else xp.ascontiguousarray(mask.T)
        c0 = args[3] if op.kind == "lstm" else None
        zeros = xp.zeros((x.shape[0], a["units"]), dtype=xp.float32)
        carries = state is not None and (streaming or a["stateful"])

        def initial(given, carried):
            if carries and not (streaming and state.fresh and given is not None) and \
                    (streaming or given is None):
                return carried.get(i, zeros)
            return zeros if given is None else given
        h = initial(h0, state.h if carries else {})
        c = initial(c0, state.c if carries else {}) if op.kind == "lstm" else None
        prev = state.prev_out.get(i, zeros) if carries and streaming else zeros
        flags = dict(go_backwards=bool(a["go_backwards"]),
                     return_sequences=bool(a["return_sequences"]),
                     zero_output_for_mask=bool(a["zero_output_for_mask"]))
        if op.kind in GRU_KINDS:
            steps = self.steps if op.kind == "gru" else self.custom_steps
            y, h, prev = run_gru(xp, steps, self.cells[i], x, mask, h, prev, **flags)
        else:
            y, h, c, prev = run_cell(xp, op.kind, self.cells[i], x, mask, h, c, prev, **flags)
        if a["time_major"]:
            y = xp.ascontiguousarray(xp.swapaxes(y, 0, 1))
        if carries:
            state.h[i] = h
            if c is not None:
                state.c[i] = c
            if streaming:
                state.prev_out[i] = prev
        return [y, h] if c is None else [y, h, c]


def _cell_weights(xp, op: ImageOp):
    if op.kind == "custom_gru":
        program = cell_program(op.weights["program"], op.iattrs["reset_after"])
        return GruWeights(xp, op, program)
    return (GruWeights if op.kind == "gru" else CellWeights)(xp, op)


# ---- the other ops: (executor, op, weights, inputs) -> outputs ---------------------------
def _embedding(ex, op, w, args):
    ids, table = args[0], w["embeddings"]
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= table.shape[0]):
        raise FastGRUError(f"layer '{op.layer}' (embedding): an id is outside the vocabulary "
                           f"[0, {table.shape[0]})")
    return [table[ids]]


def _compute_mask(ex, op, w, args):
    xp = ex.xp
    x, value = args[0], op.fattrs["value"]
    if x.dtype.kind in "iu":
        return [x.astype(xp.float64) != value]
    return [(x != xp.float32(value)).any(axis=-1)]


def _apply_mask(ex, op, w, args):
    x, mask = args
    return [x * mask[..., None].astype(x.dtype)]


def _norm(ex, op, w, args):
    xp = ex.xp
    """Statistics in float64, as the C executor computes them."""
    x = args[0].astype(xp.float64)
    eps = float(op.fattrs["epsilon"])
    if op.kind == "batch_norm":
        v = (x - w["moving_mean"]) / xp.sqrt(w["moving_variance"].astype(xp.float64) + eps)
    else:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        v = (x - mean) * (1.0 / xp.sqrt(var + eps))
    if "gamma" in w:
        v = v * w["gamma"]
    if "beta" in w:
        v = v + w["beta"]
    return [v.astype(xp.float32)]


def _dense(ex, op, w, args):
    xp = ex.xp
    x = args[0]
    y = x @ w["kernel"]
    if "bias" in w:
        y = y + w["bias"]
    return [ex.activate(xp, op.iattrs["activation"], y)]


def _activation(ex, op, w, args):
    xp = ex.xp
    return [ex.activate(xp, op.iattrs["activation"], args[0])]


def _merge(ex, op, w, args):
    xp = ex.xp
    y = args[0]
    for x in args[1:]:
        y = y - x if op.kind == "subtract" else y * x if op.kind == "multiply" else y + x
    return [y / xp.float32(len(args)) if op.kind == "average" else y]


def _mask_merge(ex, op, w, args):
    y = args[0].astype(bool)
    for m in args[1:]:
        y = (y & m.astype(bool)) if op.kind == "mask_and" else (y | m.astype(bool))
    return [y]


_OPS = {
    "dense": _dense, "embedding": _embedding, "compute_mask": _compute_mask,
    "apply_mask": _apply_mask, "mask_and": _mask_merge, "mask_or": _mask_merge,
    "layer_norm": _norm, "batch_norm": _norm, "activation": _activation,
    "reverse_time": lambda ex, op, w, args: [
        ex.xp.flip(args[0], axis=0 if op.iattrs["batch_axis"] else 1)],
    "concatenate": lambda ex, op, w, args: [ex.xp.concatenate(args, axis=op.iattrs["axis"])],
    "add": _merge, "subtract": _merge, "multiply": _merge, "average": _merge,
    **SHAPE_OPS,
    **ELEMENTWISE_OPS,
    **ATTENTION_OPS,
}


def unsupported_ops(program: ImageProgram) -> List[str]:
    """'layer (kind)' for each op this executor cannot run."""
    return [f"{op.layer} ({op.kind})" for op in program.ops if op.kind not in RECURRENT_KINDS
            and op.kind not in _OPS and op.kind not in STATEFUL_OPS]
