"""A checked model image read back into plain Python, for executors other than the C one
(fastgru/gpu): its tensors, its ops with their attributes by slot name (fastgru/registry.py),
and its weights as float32 arrays, recurrent weights unpacked to Keras' kernel /
recurrent_kernel / bias (a custom_gru's also its "program" rows). The C loader checks the
image first (checksum, bounds, every op's shapes, a custom cell's program), so the records
decoded here are known to be consistent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from .format import (ABSENT, FEATURE_TIME_MAJOR, GRU_PARTS, HEADER, LAYOUT_GRU_PACKED, MAX_RANK,
                     OP, RECURRENT_KINDS, TENSOR, WEIGHT)
from .registry import OPS
from .spec import CELLS, GruConfig

_DTYPE_NAMES = {0: "float32", 1: "int32", 2: "bool"}


@dataclass
class ImageTensor:
    name: str
    dtype: str
    shape: Tuple[int, ...]   # per sample; -1 on a time axis of run-time length
    time_axis: int           # which run-time length a -1 takes


@dataclass
class ImageOp:
    kind: str
    layer: str
    inputs: List[Optional[str]]    # tensor names; None for an absent optional one
    outputs: List[Optional[str]]
    iattrs: Dict[str, int]
    fattrs: Dict[str, float]
    weights: Dict[str, np.ndarray] = field(default_factory=dict)   # slot name -> float32


@dataclass
class ImageProgram:
    tensors: Dict[str, ImageTensor]
    inputs: List[Optional[str]]
    outputs: List[Optional[str]]
    ops: List[ImageOp]
    stateful_batch: int


def _strings(view, at: int, size: int):
    blob = bytes(view[at:at + size])

    def string(offset: int) -> str:
        return blob[offset:blob.index(b"\0", offset)].decode("utf-8")
    return string


def read_program(image) -> ImageProgram:
    """The program of `image`, which the C loader checks first (a FastGRUError if it is bad)."""
    from . import _core

    core = _core.ModelCore(image)    # the full check
    view = memoryview(image).cast("B")
    h = HEADER.unpack_from(view)
    (n_tensors, n_ops, n_weights, n_index, n_inputs, n_outputs,
     stateful_batch) = h[7:14]
    tensors_at, ops_at, weights_at, index_at, strings_at, n_strings = h[14:20]
    string = _strings(view, strings_at, n_strings)
    index = np.frombuffer(view, dtype="<u4", count=n_index, offset=index_at)

    names = []
    tensors = {}
    for k in range(n_tensors):
        name_at, dtype, rank, time_axis, *dims = TENSOR.unpack_from(view, tensors_at + 32 * k)
        name = string(name_at)
        names.append(name)
        tensors[name] = ImageTensor(name, _DTYPE_NAMES[dtype], tuple(dims[:rank]), time_axis)

    def listed(at: int, n: int) -> List[Optional[str]]:
        return [None if v == ABSENT else names[v] for v in index[at:at + n]]

    def weight(wid: int) -> np.ndarray:
        data, _layout = core.weight(int(wid))
        rec = WEIGHT.unpack_from(view, weights_at + WEIGHT.size * int(wid))
        dims = rec[5:5 + rec[4]][:MAX_RANK]
        return np.frombuffer(data, dtype=np.float32).reshape(dims).copy()

    ops = []
    for k in range(n_ops):
        rec = OP.unpack_from(view, ops_at + OP.size * k)
        kind = OPS[rec[0]]
        iattr, fattr = rec[8:8 + 12], rec[20:24]
        op = ImageOp(kind.name, string(rec[1]), listed(rec[3], rec[2]), listed(rec[5], rec[4]),
                     dict(zip(kind.iattrs, iattr)), dict(zip(kind.fattrs, fattr)))
        wids = index[rec[7]:rec[7] + rec[6]]
        if kind.name in RECURRENT_KINDS:
            op.weights = _cell_weights(core, op, int(wids[0]))
            if kind.name == "custom_gru":
                op.weights["program"] = weight(wids[1])
        else:
            op.weights = {slot: weight(w) for slot, w in zip(kind.weights, wids) if w != ABSENT}
        ops.append(op)
    return ImageProgram(tensors, listed(0, n_inputs), listed(n_inputs, n_outputs), ops,
                        stateful_batch)


def time_major_layer(image) -> Optional[str]:
    """The first layer whose op runs along the model's batch axis (a time-major recurrent op or
    its reverse_time), or None, for an image the C loader has checked."""
    view = memoryview(image).cast("B")
    h = HEADER.unpack_from(view)
    if not h[6] & FEATURE_TIME_MAJOR:
        return None
    n_ops, ops_at, strings_at, n_strings = h[8], h[15], h[18], h[19]
    for k in range(n_ops):
        rec = OP.unpack_from(view, ops_at + OP.size * k)
        kind = OPS[rec[0]]
        slot = "batch_axis" if kind.name == "reverse_time" else "time_major"
        if slot in kind.iattrs and rec[8 + kind.iattrs.index(slot)]:
            return _strings(view, strings_at, n_strings)(rec[1])
    return None


def _cell_weights(core, op: ImageOp, wid: int) -> Dict[str, np.ndarray]:
    """A recurrent op's packed weight, unpacked to Keras' kernel / recurrent_kernel / bias. A
    custom_gru's is a gru's in z, r, h block order whose recurrent bias row is packed whatever
    the cell's reset_after (zeros when the file has none): its bias unpacks as two rows."""
    from . import _core

    a = op.iattrs
    custom = op.kind == "custom_gru"
    config = GruConfig(a["input_dim"], a["units"], 1 if custom else a["reset_after"],
                       a["use_bias"], a["activation"], a["recurrent_activation"], 0,
                       CELLS["gru" if custom else op.kind])
    data, layout = core.weight(wid)
    assert layout == LAYOUT_GRU_PACKED
    packed = _core._aligned_bytes(len(data))
    packed[:] = np.frombuffer(data, dtype=np.uint8)
    parts = _core.gru_unpack(tuple(config), packed)
    return {name: arr for name, arr in zip(GRU_PARTS, parts) if arr is not None}
