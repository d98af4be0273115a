"""The model image (the ``.fgru`` format, byte layout in docs/FORMAT.md): pack a ModelSpec into
one little-endian, 64-byte aligned, CRC-checked blob that the C loader runs in place.

``pack_model(spec, dtype="float32") -> bytes`` and ``read_metadata(image) -> dict``. Weights
may be stored as float16 / bfloat16 (rounded to nearest even), which the loader widens to
float32 for compute. The C loader
(src_c/model_image.c) is the authority on validity; this module writes what it accepts.
"""
from __future__ import annotations

import json
import os
import struct
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np

from .errors import FastGRUError
from .registry import CONV1D_PADDINGS, MAX_OP_INPUTS, OP_BY_NAME, OPS
from .spec import ACTIVATIONS, CELL_GATES, CELLS, GruConfig, ModelSpec, OpSpec

MAGIC = b"FGRUIMG\0"
# Minor 1 added the float16 / bfloat16 weight dtypes, minor 2 the custom_gru op, minor 3
# time-major ops (and the header's features field, which older readers require to be 0); an
# image is written with the lowest version that describes it, so every reader that can run it
# takes it.
MAJOR, MINOR, MINOR_16BIT_WEIGHTS, MINOR_CUSTOM_GRU, MINOR_TIME_MAJOR = 1, 0, 1, 2, 3
# Header field `features`: bits a reader must know to run the image (docs/FORMAT.md).
FEATURE_TIME_MAJOR = 1
HEADER_BYTES = 128
ALIGN = 64
ABSENT = 0xFFFFFFFF
CRC_FROM = 32            # the CRC covers every byte after the first 32 (magic .. checksum)

HEADER = struct.Struct("<8sHHIQII6IQ8Q")
TENSOR = struct.Struct("<4I4i")           # name, dtype, rank, time axis, dims[4]
N_IATTR, N_FATTR = 12, 4                 # per op record; slot names: fastgru/registry.py
# kind, layer, n_in, in_at, n_out, out_at, n_w, w_at, iattr, fattr
OP = struct.Struct(f"<8I{N_IATTR}i{N_FATTR}f")
WEIGHT = struct.Struct("<QQ3I4iI")        # offset, nbytes, dtype, layout, rank, dims[4], reserved
assert (HEADER.size, TENSOR.size, OP.size, WEIGHT.size) == (HEADER_BYTES, 32, 96, 48)

DTYPES = {"float32": 0, "int32": 1, "bool": 2}
# Stored weight dtypes (the weight record's dtype field); compute is float32 whatever they are.
WEIGHT_DTYPES = {"float32": 0, "float16": 1, "bfloat16": 2}
# LAYOUT_CUSTOM_PROGRAM: a custom_gru op's bytecode, always stored as float32
LAYOUT_PLAIN, LAYOUT_GRU_PACKED, LAYOUT_CUSTOM_PROGRAM = 0, 1, 2
MAX_RANK = 4
MAX_TIME_AXES = 8

# Op kind ids and the weight slots of each kind, in slot order (fastgru/registry.py).
OP_IDS = {op.name: op.id for op in OPS}
GRU_KINDS = ("gru", "custom_gru")
# the recurrent op kinds: their Keras weights are one packed record (plus a custom cell's
# program)
RECURRENT_KINDS = tuple(CELLS) + ("custom_gru",)
WEIGHT_SLOTS = {op.name: op.weights for op in OPS if op.name not in RECURRENT_KINDS}
GRU_PARTS = ("kernel", "recurrent_kernel", "bias")


def read_image_file(path: str) -> bytes:
    """The bytes of a ``.fgru`` file, its header's declared size checked against the file's
    size and the memory cap before the body is read (as the C loader does)."""
    from ._core import check_memory_cap

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = f.read(HEADER_BYTES)
        if len(header) == HEADER_BYTES and header[:len(MAGIC)] == MAGIC:
            declared = HEADER.unpack(header)[4]
            if declared != size:
                raise FastGRUError(f"{path}: header says {declared} bytes, the file holds "
                                   f"{size} (truncated or padded)")
        check_memory_cap(size, f"model file {path}")
        f.seek(0)
        return f.read(size)


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _bfloat16_bits(arr: np.ndarray) -> np.ndarray:
    """The bfloat16 bit patterns (uint16) of a float32 array, rounded to nearest even; NaNs
    stay NaN (quiet) rather than rounding into infinity."""
    bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) >> 16
    nan = np.isnan(arr)
    rounded[nan] = (bits[nan] >> 16) | 0x40
    return rounded.astype(np.uint16)


def _narrow(arr: np.ndarray, dtype: str) -> np.ndarray:
    """`arr` rounded to `dtype`, as an array of that dtype (uint16 bits for bfloat16)."""
    if dtype == "float16":
        with np.errstate(over="ignore"):   # overflow is reported by round_weight
            return arr.astype(np.float16)
    return _bfloat16_bits(arr)


def _widen(narrow: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "float16":
        return narrow.astype(np.float32)
    return (narrow.astype(np.uint32) << 16).view(np.float32)


def round_weight(arr, dtype: str, where: str) -> np.ndarray:
    """`arr` as float32 holding values exactly representable in the stored `dtype` (the values
    the loaded model computes with). A finite weight that would round to infinity (float16
    tops out at 65504) is refused: an inf weight would silently break the model."""
    arr = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
    if dtype == "float32":
        return arr
    wide = _widen(_narrow(arr, dtype), dtype)
    overflow = np.isinf(wide) & np.isfinite(arr)
    if overflow.any():
        worst = float(np.max(np.abs(arr[overflow])))
        raise FastGRUError(f"{where}: value {worst:g} overflows {dtype} (it would be stored "
                           f"as inf); keep this model in float32")
    return wide


def _check_weight_dtype(dtype: str) -> None:
    if dtype not in WEIGHT_DTYPES:
        raise FastGRUError(f"weight dtype {dtype!r} is not supported (expected one of "
                           f"{list(WEIGHT_DTYPES)})")


def _activation_id(op: OpSpec, key: str, default: str) -> int:
    name = op.attrs.get(key, default)
    if name not in ACTIVATIONS:
        raise FastGRUError(f"layer '{op.layer}': {key} '{name}' is not a known activation "
                           f"(expected one of {sorted(ACTIVATIONS)})")
    return ACTIVATIONS[name]


def gru_config(op: OpSpec) -> GruConfig:
    """The GruConfig of a recurrent op (gru, lstm, simple_rnn: ``CELLS``; a custom_gru runs the
    gru cell with its program)."""
    kernel = op.weights.get("kernel")
    if kernel is None or np.ndim(kernel) != 2:
        raise FastGRUError(f"layer '{op.layer}': {op.kind} op needs a 2-D 'kernel' weight")
    cell = CELLS.get(op.kind, CELLS["gru"])
    is_gru, is_rnn = op.kind in GRU_KINDS, op.kind == "simple_rnn"
    units = int(op.attrs.get("units", np.shape(kernel)[1] // CELL_GATES[cell]))
    return GruConfig(input_dim=int(np.shape(kernel)[0]), units=units,
                     reset_after=int(is_gru and bool(op.attrs.get("reset_after", True))),
                     use_bias=int(bool(op.attrs.get("use_bias", True))),
                     activation=_activation_id(op, "activation", "tanh"),
                     recurrent_activation=0 if is_rnn else
                     _activation_id(op, "recurrent_activation", "sigmoid"),
                     cell=cell)


def config_fields(config: GruConfig) -> list:
    """A packed weight's config as the image metadata records it: a GRU's first six fields (as
    images before the other cells had), else all with the cell."""
    return list(config[:6]) if config.cell == CELLS["gru"] else list(config)


def _custom_gru_packing(op: OpSpec, arrays: dict, config: GruConfig):
    """A custom_gru's weights in z, r, h block order, and the config to pack them with: a 2-D
    bias packs its recurrent row whatever the cell's reset_after (its hz, hr, hh take it)."""
    cell = op.attrs["cell"]
    order = cell.block_permutation(config.units)
    ordered = {k: None if v is None else np.asarray(v)[..., order] for k, v in arrays.items()}
    bias = ordered["bias"]
    return ordered, config._replace(reset_after=int(bias is not None and bias.ndim == 2))


def _slots(values: dict, names: tuple, size: int, zero) -> list:
    """An op record's iattr / fattr array: each value at its name's slot in the registry."""
    return [values[names[k]] if k < len(names) else zero for k in range(size)]


class _Packer:
    """Collects the tables while walking a spec, then lays the image out."""

    def __init__(self, spec: ModelSpec, dtype: str):
        self.spec = spec
        self.dtype = dtype
        # weights the Keras file stores in 16 bits stay so in a float32 image (exact)
        self.stored_dtypes = (spec.extra.get("stored_weight_dtypes", {})
                              if dtype == "float32" else {})
        self.strings = bytearray()
        self.string_at: Dict[str, int] = {}
        self.index: List[int] = []
        # (float32 data, layout, dims, stored dtype)
        self.weights: List[Tuple[np.ndarray, int, tuple, str]] = []
        self.tensor_id = {name: i for i, name in enumerate(spec.tensors)}
        self.op_weight_ids: List[Dict[str, int]] = []         # per op: weight name -> id

    def string(self, s: str) -> int:
        if s not in self.string_at:
            self.string_at[s] = len(self.strings)
            self.strings += s.encode("utf-8") + b"\0"
        return self.string_at[s]

    def tensor(self, name: Optional[str], op: Optional[OpSpec] = None) -> int:
        if name is None:
            return ABSENT
        if name not in self.tensor_id:
            where = f"layer '{op.layer}'" if op else "model"
            raise FastGRUError(f"{where}: tensor '{name}' is not declared in the spec's tensors")
        return self.tensor_id[name]

    def add_weight(self, data: np.ndarray, layout: int, dims: tuple, dtype: str) -> int:
        """`data`: float32 values already rounded to the stored `dtype` (round_weight)."""
        self.weights.append((data, layout, dims, dtype))
        return len(self.weights) - 1

    def weight_dtype(self, layer: str, sources) -> str:
        """The dtype to store a weight made of the Keras weights `sources` (their indices in
        the layer) in: the image's, or the one 16-bit dtype the file stores them all in."""
        stored = self.stored_dtypes.get(layer)
        if not stored or any(k is None or k >= len(stored) for k in sources):
            return self.dtype
        found = {stored[k] for k in sources}
        return found.pop() if len(found) == 1 and found <= set(WEIGHT_DTYPES) else self.dtype

    def plain_weight(self, arr, where: str, dtype: str) -> int:
        arr = round_weight(arr, dtype, where)
        if arr.ndim > MAX_RANK:
            raise FastGRUError(f"{where}: rank {arr.ndim} (shape {arr.shape}) is above "
                               f"{MAX_RANK}")
        return self.add_weight(arr, LAYOUT_PLAIN, arr.shape, dtype)

    @staticmethod
    def weight_bytes(data: np.ndarray, dtype: str) -> bytes:
        """The stored bytes of a weight; exact, as `data` holds already-rounded values."""
        if dtype == "float32":
            return data.astype("<f4").tobytes()
        return _narrow(data, dtype).astype("<u2" if dtype == "bfloat16" else "<f2").tobytes()

    def list_at(self, ids: List[int]) -> int:
        at = len(self.index)
        self.index.extend(ids)
        return at

    def op_record(self, op: OpSpec) -> bytes:
        if op.kind not in OP_IDS:
            raise FastGRUError(f"layer '{op.layer}': unknown op kind '{op.kind}'")
        inputs, outputs = list(op.inputs), list(op.outputs)
        weight_ids: Dict[str, int] = {}
        ivals, fvals = {}, {}
        if op.kind in RECURRENT_KINDS:
            registry_row = OP_BY_NAME[op.kind]
            inputs += [None] * (registry_row.max_in - len(inputs))
            outputs += [None] * (registry_row.n_out - len(outputs))
            config = gru_config(op)
            a = op.attrs
            ivals = {**config._asdict(), "go_backwards": int(bool(a.get("go_backwards"))),
                     "return_sequences": int(bool(a.get("return_sequences"))),
                     "zero_output_for_mask": int(bool(a.get("zero_output_for_mask"))),
                     "stateful": int(bool(a.get("stateful"))),
                     "time_major": int(bool(a.get("time_major")))}
            wid = self.gru_weight(op, config)
            slots = [wid]
            if op.kind == "custom_gru":   # the Keras weights keep records of their own
                program = op.attrs["cell"].program
                slots.append(self.add_weight(program, LAYOUT_CUSTOM_PROGRAM, program.shape,
                                                 "float32"))
            else:
                weight_ids = {part: wid for part in GRU_PARTS}
        else:
            slots = []
            for name in WEIGHT_SLOTS[op.kind]:
                arr = op.weights.get(name)
                slots.append(ABSENT if arr is None else self.plain_weight(
                    arr, f"layer '{op.layer}' weight '{name}'",
                    self.weight_dtype(op.layer, [op.sources.get(name)])))
                if arr is not None:
                    weight_ids[name] = slots[-1]
            if op.kind in ("dense", "activation"):
                ivals["activation"] = _activation_id(op, "activation", "linear")
            if op.kind == "dense":
                ivals["use_bias"] = int(op.weights.get("bias") is not None)
            elif op.kind in ("layer_norm", "batch_norm"):
                ivals = {"center": int(bool(op.attrs.get("center", True))),
                         "scale": int(bool(op.attrs.get("scale", True)))}
                fvals["epsilon"] = float(op.attrs.get("epsilon", 1e-3))
            elif op.kind == "compute_mask":
                fvals["value"] = float(op.attrs.get("value", 0.0))
            elif op.kind == "concatenate":
                ivals["axis"] = self.concat_axis(op)
            elif op.kind == "attention":   # its flags and modes, by slot name
                ivals = {n: int(op.attrs[n]) for n in OP_BY_NAME[op.kind].iattrs}
                fvals = {n: float(op.attrs[n]) for n in OP_BY_NAME[op.kind].fattrs}
            elif op.kind == "conv1d":
                ivals = self.conv1d_attrs(op)
            else:   # the other kinds' attrs, by their registry names (0 when not given)
                named = OP_BY_NAME[op.kind]
                ivals.update({n: int(op.attrs.get(n, 0)) for n in named.iattrs if n not in ivals})
                fvals.update({n: float(op.attrs.get(n, 0.0)) for n in named.fattrs
                              if n not in fvals})
        kind = OP_BY_NAME[op.kind]
        iattr = _slots(ivals, kind.iattrs, N_IATTR, 0)
        fattr = _slots(fvals, kind.fattrs, N_FATTR, 0.0)
        if len(inputs) > MAX_OP_INPUTS:
            raise FastGRUError(f"layer '{op.layer}': {len(inputs)} inputs (at most "
                               f"{MAX_OP_INPUTS})")
        self.op_weight_ids.append(weight_ids)
        in_ids = [self.tensor(t, op) for t in inputs]
        out_ids = [self.tensor(t, op) for t in outputs]
        return OP.pack(OP_IDS[op.kind], self.string(op.layer), len(in_ids), self.list_at(in_ids),
                       len(out_ids), self.list_at(out_ids), len(slots), self.list_at(slots),
                       *iattr, *fattr)

    def conv1d_attrs(self, op: OpSpec) -> dict:
        a = op.attrs
        return {**{k: int(a[k]) for k in ("filters", "kernel_size", "strides", "dilation_rate",
                                          "groups")},
                "padding": CONV1D_PADDINGS.index(a["padding"]),
                "activation": _activation_id(op, "activation", "linear"),
                "use_bias": int(op.weights.get("bias") is not None),
                "input_dim": int(self.spec.tensors[op.inputs[0]].shape[-1])}

    def concat_axis(self, op: OpSpec) -> int:
        axis = int(op.attrs.get("axis", -1))
        if axis >= 0:   # counted with the batch axis from the front: make it negative
            rank = len(self.spec.tensors[op.outputs[0]].shape) + 1
            axis -= rank
        return axis

    def gru_weight(self, op: OpSpec, config: GruConfig) -> int:
        from . import _core   # packing runs the C library's fg_gru_pack
        arrays = {part: op.weights.get(part) for part in GRU_PARTS}
        if not config.use_bias:
            arrays["bias"] = None
        dtype = self.weight_dtype(op.layer, [op.sources.get(k) for k, v in arrays.items()
                                             if v is not None])
        if op.kind == "custom_gru":
            arrays, config = _custom_gru_packing(op, arrays, config)
        # Packing only moves values, so rounding before it equals rounding the packed weight.
        cast = {k: None if v is None else
                round_weight(v, dtype, f"layer '{op.layer}' weight '{k}'")
                for k, v in arrays.items()}
        try:
            packed = _core.gru_pack(config, cast["kernel"], cast["recurrent_kernel"],
                                    cast["bias"])
        except FastGRUError as e:
            raise FastGRUError(f"layer '{op.layer}': {e}") from None
        data = np.frombuffer(packed, dtype=np.float32)
        return self.add_weight(data, LAYOUT_GRU_PACKED, (data.size,), dtype)

    def layer_weight_refs(self, layer, sourced: dict) -> List[dict]:
        """For each Keras weight of `layer`, where the image holds it: the op weight the reader
        made of it (`sourced`, source_refs), or a plain weight record of its own."""
        refs = []
        for k, (name, arr) in enumerate(layer.weights):
            arr = np.asarray(arr, dtype=np.float32)
            ref = sourced.get((layer.name, k))
            if ref is None:
                ref = {"weight": self.plain_weight(arr, f"layer '{layer.name}' weight '{name}'",
                                                   self.weight_dtype(layer.name, [k]))}
            refs.append(dict(ref, name=name, shape=list(arr.shape)))
        return refs

    def source_refs(self) -> Dict[Tuple[str, int], dict]:
        """(layer name, index of its Keras weight) -> the image record an op made of it (the
        first op, for a layer called more than once)."""
        sourced: Dict[Tuple[str, int], dict] = {}
        for i, op in enumerate(self.spec.ops):
            for part, k in op.sources.items():
                wid = self.op_weight_ids[i].get(part)
                if wid is None:
                    continue
                ref = ({"gru": wid, "part": part, "config": config_fields(gru_config(op))}
                       if op.kind in CELLS else {"weight": wid})
                sourced.setdefault((op.layer, k), ref)
        return sourced


# Config fields worth showing in `fastgru inspect`.
_HIGHLIGHT_KEYS = ("units", "activation", "recurrent_activation", "reset_after", "use_bias",
                   "return_sequences", "return_state", "go_backwards", "stateful",
                   "zero_output_for_mask", "merge_mode", "input_dim", "output_dim",
                   "mask_zero", "mask_value", "epsilon", "rate")


def _highlights(config: dict) -> dict:
    """The scalar config fields that say what a layer does, including those of the layer a
    wrapper (Bidirectional, TimeDistributed, RNN) holds."""
    shown = {k: config[k] for k in _HIGHLIGHT_KEYS
             if isinstance(config.get(k), (str, int, float, bool))}
    for wrapped in (config.get("layer"), config.get("cell")):
        if isinstance(wrapped, dict) and isinstance(wrapped.get("config"), dict):
            for k, v in _highlights(wrapped["config"]).items():
                shown.setdefault(k, v)
    return shown


def _joins_along_time(p: "_Packer") -> bool:
    """Whether some Concatenate joins sequences along their time axis (the output is longer
    than its inputs, so lengths cannot all follow one run-time length)."""
    return any(op.kind == "concatenate" and
               len(p.spec.tensors[op.outputs[0]].shape) + 1 + p.concat_axis(op) == 1
               for op in p.spec.ops)


# Op kinds whose output steps are not their input's (pooled, padded, repeated, reshaped) or
# that drop the time axis to a fixed size (keepdims): in a model with one, the lengths fixed by
# the Keras config stay fixed, as a derived length cannot follow the input's run-time length.
_RETIMING_KINDS = frozenset({"global_pool", "pool1d", "reshape", "permute", "repeat_vector",
                             "pad_time", "upsample_time"})
# Op kinds whose output sequence, when its length is left to run time, gets a time axis of its
# own, whose length the executor derives from the input's (fg_model_resolve_timesteps).
_DERIVING_KINDS = frozenset({"pool1d", "pad_time", "upsample_time"})
def carries_state(kind: str, attrs: dict) -> bool:
    """Whether an op has a state slot (model_op_state_floats in C numbers them in op order):
    every recurrent op, and a causal stride-1 conv1d wider than one step, which carries its
    last inputs in a stream. `attrs`: the op's attributes, a conv1d's padding by name."""
    return kind in RECURRENT_KINDS or (
        kind == "conv1d" and attrs["padding"] == "causal" and attrs["strides"] == 1
        and attrs["kernel_size"] > 1)


def _conv1d_changes_length(op: OpSpec) -> bool:
    a = op.attrs
    return op.kind == "conv1d" and (a["strides"] > 1 or (
        a["padding"] == "valid" and (a["kernel_size"] - 1) * a["dilation_rate"] > 0))


def _time_axes(p: "_Packer") -> Dict[str, int]:
    """Which run-time length each sequence tensor's time axis takes: each sequence input
    brings its own (an encoder and a decoder may differ in length); an op's outputs take that
    of its first input that has one. A length fixed by the Keras config is not enforced (as
    Keras itself runs such models on other lengths, and so that any causal model streams one
    step at a time), unless sequences are joined along time or a Conv1D changes their length,
    where fixed lengths stay."""
    spec = p.spec
    keep_fixed = _joins_along_time(p) or any(
        op.kind in _RETIMING_KINDS or _conv1d_changes_length(op) for op in spec.ops)

    def timed(name):
        if name is None:
            return False
        t = spec.tensors[name]
        return (bool(t.shape) and t.shape[0] is None) if keep_fixed else t.has_time_axis
    axes: Dict[str, int] = {}
    for name in spec.inputs:
        if timed(name):
            axes[name] = len(axes)
    if len(axes) > MAX_TIME_AXES:
        raise FastGRUError(f"the model has {len(axes)} sequence inputs; at most "
                           f"{MAX_TIME_AXES} are supported")
    n_axes = len(axes)
    for op in spec.ops:
        axis = next((axes[n] for n in op.inputs if n in axes), 0)
        if op.kind in _DERIVING_KINDS and any(timed(n) for n in op.outputs):
            axis, n_axes = n_axes, n_axes + 1
        for name in op.outputs:
            if timed(name):
                axes[name] = axis
    if n_axes > MAX_TIME_AXES:
        raise FastGRUError(f"the model has {n_axes} time axes (its sequence inputs and the "
                           f"lengths that pooling, padding or upsampling derive); at most "
                           f"{MAX_TIME_AXES} are supported")
    return axes


def _tensor_record(p: _Packer, name: str, time_axis: Optional[int]) -> bytes:
    t = p.spec.tensors[name]
    if t.dtype not in DTYPES:
        raise FastGRUError(f"tensor '{name}': dtype '{t.dtype}' (expected one of {list(DTYPES)})")
    shape = tuple(t.shape)
    if len(shape) > MAX_RANK:
        raise FastGRUError(f"tensor '{name}': per-sample rank {len(shape)} above {MAX_RANK}")
    if any(d is None for d in shape[1:]) or (shape and shape[0] is None and time_axis is None):
        raise FastGRUError(f"tensor '{name}': only the time axis may be None, shape {shape}")
    dims = [int(d) for d in shape[time_axis is not None:]]
    if time_axis is not None:
        dims.insert(0, -1)
    dims += [0] * (MAX_RANK - len(shape))
    return TENSOR.pack(p.string(name), DTYPES[t.dtype], len(shape), time_axis or 0, *dims)


def _io_meta(spec: ModelSpec, names) -> List[dict]:
    return [{"name": n, "shape": list(spec.tensors[n].shape), "dtype": spec.tensors[n].dtype}
            for n in names]


def _jsonable(value):
    """Spec facts as JSON values (numpy scalars, tuples); anything else becomes its repr."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def pack_model(spec: ModelSpec, dtype: str = "float32",
               precision: Optional[dict] = None) -> bytes:
    """The model image of `spec` (see docs/FORMAT.md), its weights stored as `dtype`
    ("float32", "float16" or "bfloat16"). `precision`: the metadata's "precision" entry
    (the measured error of a reduced dtype, fastgru/storage_precision.py)."""
    _check_weight_dtype(dtype)
    p = _Packer(spec, dtype)
    axes = _time_axes(p)
    tensors = b"".join(_tensor_record(p, name, axes.get(name)) for name in spec.tensors)
    p.list_at([p.tensor(n) for n in spec.inputs])
    p.list_at([p.tensor(n) for n in spec.outputs])
    ops = b"".join(p.op_record(op) for op in spec.ops)
    layers = []
    sourced = p.source_refs()
    for layer in spec.layers:
        refs = p.layer_weight_refs(layer, sourced)
        layers.append({
            "name": layer.name, "class_name": layer.class_name,
            "output_shapes": _jsonable(layer.output_shapes),
            "params": int(sum(int(np.prod(r["shape"])) for r in refs)),
            "weights": refs, "highlights": _highlights(layer.config or {}),
        })
    # state slots number the ops that carry state, in op order (model_op_state_floats in C)
    carriers = [op for op in spec.ops if carries_state(op.kind, op.attrs)]
    states = [{"layer": op.layer, "slot": slot, "units": gru_config(op).units, "kind": op.kind}
              for slot, op in enumerate(carriers) if op.attrs.get("stateful")]
    meta = json.dumps({
        "format": "fastgru-image", "name": spec.name, "source": spec.source,
        "source_format": spec.extra.get("format"), "keras_version": spec.keras_version,
        "inputs": _io_meta(spec, spec.inputs), "outputs": _io_meta(spec, spec.outputs),
        "layers": layers, "stateful": bool(states), "states": states,
        "stateful_batch": spec.stateful_batch,
        "extra": _jsonable(spec.extra),
        **({"precision": _jsonable(precision)} if precision else {}),
        **({"output_structure": spec.output_structure} if spec.output_structure else {}),
    }, separators=(",", ":")).encode("utf-8")

    # Layout: header | tensors | ops | weight table | index | strings | metadata | weight data.
    index = struct.pack(f"<{len(p.index)}I", *p.index)
    sections = [tensors, ops, b"\0" * (WEIGHT.size * len(p.weights)), index, bytes(p.strings),
                meta]
    offsets, at = [], HEADER_BYTES
    for blob in sections:
        offsets.append(at)
        at = _align(at + len(blob))
    weight_records, data_at, blobs = [], [], []
    for data, layout, dims, wdtype in p.weights:
        blob = p.weight_bytes(data, wdtype)
        blobs.append(blob)
        data_at.append(at)
        padded = list(dims) + [0] * (MAX_RANK - len(dims))
        weight_records.append(WEIGHT.pack(at, len(blob), WEIGHT_DTYPES[wdtype], layout,
                                          len(dims), *padded, 0))
        at = _align(at + len(blob))
    sections[2] = b"".join(weight_records)

    image = bytearray(at)
    for off, blob in zip(offsets, sections):
        image[off:off + len(blob)] = blob
    for off, blob in zip(data_at, blobs):
        image[off:off + len(blob)] = blob
    features = FEATURE_TIME_MAJOR if any(map(is_time_major, spec.ops)) else 0
    minor = (MINOR_TIME_MAJOR if features else
             MINOR_CUSTOM_GRU if any(op.kind == "custom_gru" for op in spec.ops) else
             MINOR if all(w[3] == "float32" for w in p.weights) else MINOR_16BIT_WEIGHTS)
    header = HEADER.pack(MAGIC, MAJOR, minor, HEADER_BYTES, len(image), 0, features,
                         len(spec.tensors), len(spec.ops), len(p.weights), len(p.index),
                         len(spec.inputs), len(spec.outputs), int(spec.stateful_batch or 0),
                         offsets[0], offsets[1], offsets[2], offsets[3], offsets[4],
                         len(p.strings), offsets[5], len(meta))
    image[:HEADER_BYTES] = header
    struct.pack_into("<I", image, 24, zlib.crc32(memoryview(image)[CRC_FROM:]) & 0xFFFFFFFF)
    return bytes(image)


def is_time_major(op: OpSpec) -> bool:
    """Whether `op` runs along the model's batch axis: a time-major recurrent op (its steps are
    the model's batch rows) or a reverse_time of the batch axis."""
    return bool(op.attrs.get("time_major") if op.kind in RECURRENT_KINDS else
                op.kind == "reverse_time" and op.attrs.get("batch_axis"))


def read_metadata(image) -> dict:
    """The metadata JSON of an image, after checking its magic, version and bounds (the full
    check, checksum included, is the C loader's)."""
    view = memoryview(image).cast("B")
    if len(view) < HEADER_BYTES or bytes(view[:8]) != MAGIC:
        raise FastGRUError("not a fastgru model image (bad magic or shorter than the header)")
    fields = HEADER.unpack_from(view)
    major, minor, total = fields[1], fields[2], fields[4]
    if major != MAJOR:
        raise FastGRUError(f"model image format version {major}.{minor} is not supported "
                           f"(this fastgru reads major version {MAJOR})")
    if total != len(view):
        raise FastGRUError(f"model image: header says {total} bytes, got {len(view)} "
                           f"(truncated?)")
    meta_off, meta_bytes = fields[-2], fields[-1]
    if meta_off < HEADER_BYTES or meta_off + meta_bytes > total:
        raise FastGRUError("model image: the metadata section lies outside the image")
    from .metadata import parse_metadata

    return parse_metadata(view[meta_off:meta_off + meta_bytes])
