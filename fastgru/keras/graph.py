"""Walk a normalised Keras graph and emit ModelSpec ops.

Calls (inbound nodes) run in dependency order, so shared layers called twice and configs whose
layer list is not topologically sorted both work. Masks follow the Keras version's rules
(docs/KERAS_FORMATS.md §§8 and 12): a Keras 3 functional config names each consumer's mask
(``mask`` kwarg) and records the ops that compute it (NotEqual, Any, logical ops, ...), which
are translated here; everywhere else (tf-keras, Sequential models) masks travel implicitly with
the tensors, as ``Value.mask``, by the per-layer rules in ``translate.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import FastGRUError
from ..spec import CELLS, LayerInfo, ModelSpec, OpSpec, TensorSpec, weight
from .config import ModelGraph, TensorRef
from .hdf5 import MAX_WEIGHT_ELEMENTS

MAX_DIM = 1 << 24
# Layer classes whose positional tensor arguments after the sequence are initial states.
RNN_CLASSES = frozenset({"GRU", "LSTM", "SimpleRNN", "RNN", "Bidirectional"})


@dataclass
class Value:
    """A tensor flowing through the graph: its spec name, per-sample shape and dtype, and the
    name of the bool (B, T) mask Keras attaches to it (propagation rules of section 12)."""
    name: str
    shape: tuple
    dtype: str
    mask: Optional[str] = None


@dataclass
class BoolExpr:
    """A Keras 3 mask-op result. ``mask`` = a (B, T) mask (None = all true); ``ne`` =
    elementwise x != value; ``expanded`` = mask[..., None]; ``ones`` / ``zeros`` = all-true /
    all-false like a tensor; ``feat`` = mask broadcast over the last axis; ``cat`` = feats
    concatenated on the last axis (what Concatenate's compute_mask builds)."""
    kind: str
    mask: Optional[str] = None
    value: Optional[Value] = None
    const: float = 0.0
    parts: tuple = ()


class GraphBuilder:
    def __init__(self, graph: ModelGraph, weights: dict, keras_version: int, source: str,
                 translate, resolve_class):
        self.graph = graph
        self.weights = weights
        self.keras_version = keras_version
        self.source = source
        self.translate = translate              # (builder, layer, call, inputs, states, mask) -> [Value]
        self.resolve_class = resolve_class
        self.tensors: dict = {}
        self.ops: list = []
        self.values: dict = {}                  # TensorRef -> Value | BoolExpr | None
        self.infos: dict = {}                   # layer name -> LayerInfo
        self._read: dict = {}                   # layer name -> [(label, ndarray)]
        # layer name -> the dtype the file stores each of its weights in, where one is 16-bit
        self.stored_dtypes: dict = {}
        self.layer_dtypes: dict = {}            # layer name -> a 16-bit dtype policy name
        self._masks: dict = {}                  # (tensor name, value) -> mask tensor name
        self.stateful_batch: Optional[int] = None
        self.stateful = False

    # ---- messages and limits ------------------------------------------------------------
    def fail(self, layer_name, message):
        raise FastGRUError(f"{self.source}: layer {layer_name!r}: {message}")

    def dim(self, layer_name, field, value, minimum=1):
        """A size from the config, checked before anything is allocated from it."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(layer_name, f"{field} must be an integer, found {value!r}")
        if value < minimum or value > MAX_DIM:
            self.fail(layer_name, f"{field}={value} is outside [{minimum}, {MAX_DIM}]")
        return value

    def flag(self, layer_name, cfg, key, default):
        value = cfg.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(layer_name, f"{key} must be true or false, found {value!r}")
        return value

    def number(self, layer_name, cfg, key, default):
        value = cfg.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(layer_name, f"{key} must be a number, found {value!r}")
        return float(value)

    def section(self, layer_name, value, field) -> dict:
        """A nested config object (a cell, a wrapped layer), which must be a JSON object."""
        if not isinstance(value, dict):
            self.fail(layer_name, f"{field} should be a JSON object, found {str(value)[:60]}")
        return value

    # ---- tensors and ops ----------------------------------------------------------------
    def new_tensor(self, hint, dtype, shape) -> str:
        name, n = hint, 1
        while name in self.tensors:
            n += 1
            name = f"{hint}#{n}"
        self.tensors[name] = TensorSpec(name, dtype, tuple(shape))
        return name

    def value(self, hint, dtype, shape, mask=None) -> Value:
        return Value(self.new_tensor(hint, dtype, shape), tuple(shape), dtype, mask)

    def add_op(self, kind, layer, inputs, outputs, attrs=None, weights=None):
        weights = weights or {}
        read = [array for _, array in self._read.get(layer, [])]
        # which Keras weight of the layer each op weight is (the arrays layer_weights handed out)
        sources = {k: next(i for i, array in enumerate(read) if _same_data(array, v))
                   for k, v in weights.items() if any(_same_data(array, v) for array in read)}
        self.ops.append(OpSpec(kind, layer, list(inputs), list(outputs), dict(attrs or {}),
                               {k: weight(v) for k, v in weights.items()}, sources))

    def compute_mask(self, layer, x: Value, value) -> str:
        """The (B, T) mask ``any(x != value, -1)`` (float) or ``x != value`` (ids), made once."""
        key = (x.name, float(value))
        if key not in self._masks:
            time_shape = x.shape[:1]
            m = self.new_tensor(f"{layer}/mask", "bool", time_shape)
            self.add_op("compute_mask", layer, [x.name], [m], {"value": float(value)})
            self._masks[key] = m
        return self._masks[key]

    def mask_and(self, layer, masks) -> Optional[str]:
        """tf-keras merges AND their masks; a missing mask (all true) drops out."""
        return self._combine("mask_and", layer, [m for m in masks if m is not None])

    def mask_or(self, layer, masks) -> Optional[str]:
        """Keras 3 merges OR their masks; a missing mask means all true, so the OR is too."""
        if any(m is None for m in masks):
            return None
        return self._combine("mask_or", layer, masks)

    def _combine(self, kind, layer, masks) -> Optional[str]:
        distinct = list(dict.fromkeys(masks))
        if len(distinct) <= 1:
            return distinct[0] if distinct else None
        key = (kind,) + tuple(distinct)
        if key not in self._masks:
            m = self.new_tensor(f"{layer}/mask", "bool", self.tensors[distinct[0]].shape)
            self.add_op(kind, layer, distinct, [m])
            self._masks[key] = m
        return self._masks[key]

    # ---- weights ------------------------------------------------------------------------
    def layer_weights(self, layer, expected) -> list:
        """The layer's arrays in Keras order, after checking count and shapes against
        ``expected`` = [(label, shape)]. Read once; a shared layer's later calls must agree."""
        if layer.name in self._read:
            got = self._read[layer.name]
            for (label, shape), (_, array) in zip(expected, got):
                if tuple(array.shape) != tuple(shape):
                    self.fail(layer.name, f"called again with an input that needs {label} of "
                                          f"shape {tuple(shape)}, but its weight has {array.shape}")
            return [a for _, a in got]
        for label, shape in expected:
            count = 1
            for d in shape:
                count *= int(d)
            if count > MAX_WEIGHT_ELEMENTS:
                self.fail(layer.name, f"weight {label} would have shape {tuple(shape)}, more than "
                                      f"{MAX_WEIGHT_ELEMENTS} elements")
        refs = self.weights.get(layer.name, [])
        if len(refs) != len(expected):
            found = ", ".join(f"{r.path} {r.shape}" for r in refs) or "none"
            self.fail(layer.name, f"expected {len(expected)} weights "
                                  f"({', '.join(label for label, _ in expected)}), found "
                                  f"{len(refs)} in the file: {found}")
        arrays = []
        layer_dtype = _dtype_name(layer.config.get("dtype", "float32"))
        for (label, shape), ref in zip(expected, refs):
            if tuple(ref.shape) != tuple(shape):
                self.fail(layer.name, f"weight {label} ({ref.path}) has shape {tuple(ref.shape)}, "
                                      f"expected {tuple(shape)} from the config")
            arrays.append((label, ref.read(f"{self.source}: layer {layer.name!r}", layer_dtype)))
        self._read[layer.name] = arrays
        stored = [ref.stored_dtype() for ref in refs]
        if any(d != "float32" for d in stored):   # kept 16-bit in the image (format.py)
            self.stored_dtypes[layer.name] = stored
        if layer_dtype in COMPUTED_16BIT:
            self.layer_dtypes[layer.name] = layer_dtype
        return [a for _, a in arrays]

    # ---- the walk -----------------------------------------------------------------------
    def build(self) -> ModelSpec:
        g = self.graph
        by_name = {layer.name: layer for layer in g.layers}
        for ref in g.inputs:
            layer = by_name.get(ref.layer)
            if layer is None or layer.class_name != "InputLayer":
                raise FastGRUError(f"{self.source}: model input {ref.layer!r} is not an InputLayer")
            self.values[TensorRef(ref.layer, 0, 0)] = self._input(layer)
        pending = [(layer, i, call) for layer in g.layers for i, call in enumerate(layer.calls)]
        while pending:
            waiting = []
            for layer, i, call in pending:
                needed = (list(call.inputs) + list(call.initial_state) + list(call.tensor_kwargs.values())
                          + ([call.mask] if call.mask else []))
                if all(r in self.values for r in needed):
                    self._run_call(layer, i, call)
                else:
                    waiting.append((layer, i, call))
            if len(waiting) == len(pending):
                layer, i, call = waiting[0]
                missing = [r for r in list(call.inputs) + list(call.initial_state)
                           + list(call.tensor_kwargs.values()) if r not in self.values]
                raise FastGRUError(f"{self.source}: layer {layer.name!r} (call {i}) needs "
                                   f"{', '.join(f'{r.layer}[{r.node}][{r.index}]' for r in missing) or 'a mask'}, "
                                   f"which no layer produces (broken or cyclic graph)")
            pending = waiting
        outputs = []
        for ref in g.outputs:
            v = self.values.get(ref)
            if not isinstance(v, Value):
                raise FastGRUError(f"{self.source}: model output {ref.layer}[{ref.node}][{ref.index}] "
                                   f"is not produced by any layer")
            outputs.append(v.name)
        infos = [self.infos[layer.name] for layer in g.layers
                 if layer.in_model_layers and not layer.is_op and layer.name in self.infos]
        inputs = [self.values[TensorRef(r.layer, 0, 0)].name for r in g.inputs]
        ops = self._live_ops(outputs)
        used = set(inputs) | set(outputs)
        for op in ops:
            used.update(t for t in op.inputs + op.outputs if t is not None)
        tensors = {k: v for k, v in self.tensors.items() if k in used}
        return ModelSpec(name=g.name, keras_version=self.keras_version, source=self.source,
                         inputs=inputs, outputs=outputs, tensors=tensors, ops=ops, layers=infos,
                         stateful_batch=self.stateful_batch if self.stateful else None,
                         extra=self._precision_facts(), output_structure=g.output_structure)

    def _precision_facts(self) -> dict:
        """What inspect says about 16-bit layers, and format.py's per-weight stored dtypes."""
        facts = {}
        if self.stored_dtypes:
            facts["stored_weight_dtypes"] = self.stored_dtypes
        if self.layer_dtypes:
            facts["layer_dtypes"] = self.layer_dtypes
        return facts

    def _live_ops(self, outputs):
        """Ops the outputs depend on. Masks no consumer uses (an Embedding's mask before a
        layer that ignores it) and branches that lead nowhere are dropped. Stateful GRUs stay:
        their carried state is observable on the next call."""
        needed = set(outputs)
        live = []
        for op in reversed(self.ops):
            stateful = op.kind in (*CELLS, "custom_gru") and op.attrs.get("stateful")
            if stateful or any(t in needed for t in op.outputs if t is not None):
                live.append(op)
                needed.update(t for t in op.inputs if t is not None)
        return live[::-1]

    def _input(self, layer) -> Value:
        cfg = layer.config
        if cfg.get("sparse") or cfg.get("ragged"):
            self.fail(layer.name, "sparse or ragged inputs are not supported")
        shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
        if not isinstance(shape, list) or len(shape) < 2:
            self.fail(layer.name, f"input shape {shape!r} is not (batch, ...) with at least one axis")
        per_sample = []
        for i, d in enumerate(shape[1:]):
            per_sample.append(None if d is None else self.dim(layer.name, f"batch_shape[{i + 1}]", d))
        if shape[0] is not None:
            batch = self.dim(layer.name, "batch_shape[0]", shape[0])
            if self.stateful_batch not in (None, batch):
                self.fail(layer.name, f"batch size {batch} differs from another input's {self.stateful_batch}")
            self.stateful_batch = batch
        dtype = _dtype_name(cfg.get("dtype", "float32"))
        kind = "int32" if dtype.startswith(("int", "uint")) else "float32"
        if not (dtype.startswith(("int", "uint", "float", "bfloat"))):
            self.fail(layer.name, f"input dtype {dtype!r} is not supported")
        v = Value(self.new_tensor(layer.name, kind, per_sample), tuple(per_sample), kind)
        self.infos[layer.name] = LayerInfo(layer.name, layer.class_name, layer.config, [],
                                           [tuple(per_sample)])
        return v

    def _run_call(self, layer, index, call):
        if layer.class_name == "InputLayer":
            return
        args = [self.values[r] for r in call.inputs]
        if layer.is_op:
            results = [self._mask_op(layer, call, args)]
        else:
            inputs = [self._need_value(layer, a) for a in args]
            states = [self._need_value(layer, self.values[r]) for r in call.initial_state]
            if (not states and len(inputs) > 1 and self.resolve_class(
                    layer, layer.class_name, layer.registered_name) in RNN_CLASSES):
                inputs, states = inputs[:1], inputs[1:]     # initial states passed positionally
            # The mask the call consumes: the one a Keras 3 node names, else the input's mask
            # (Value.mask, which follows Keras' propagation rules). Keras 3 fills it in only for
            # a call with a single tensor argument, so a GRU given initial_state loses it
            # (quirk 14.1); tf-keras keeps it.
            if call.mask is not None:
                mask = self._concrete_mask(layer, self.values[call.mask])
            elif call.explicit_mask and (states or len(inputs) != 1):
                mask = None
            else:
                mask = inputs[0].mask if inputs else None
            results = self.translate(self, layer, call, inputs, states, mask)
            if layer.name not in self.infos:
                self.infos[layer.name] = LayerInfo(
                    layer.name, layer.class_name, layer.config,
                    [(label, array) for label, array in self._read.get(layer.name, [])],
                    [v.shape for v in results])
        for i, v in enumerate(results):
            self.values[TensorRef(layer.name, index, i)] = v

    def keyword_tensor(self, layer, call, name) -> Optional[Value]:
        """The tensor passed as keyword argument `name` of the call, or None."""
        ref = call.tensor_kwargs.get(name)
        return None if ref is None else self._need_value(layer, self.values[ref])

    def _need_value(self, layer, v):
        if not isinstance(v, Value):
            self.fail(layer.name, "receives a mask expression where a tensor was expected")
        return v

    # ---- Keras 3 mask ops ---------------------------------------------------------------
    def _concrete_mask(self, layer, v) -> Optional[str]:
        if isinstance(v, Value) and v.dtype == "bool":
            return v.name
        if isinstance(v, BoolExpr) and v.kind == "mask":
            return v.mask
        self.fail(layer.name, "its mask argument is not a (batch, time) boolean mask")

    def _mask_op(self, layer, call, args):
        """Translate one Keras 3 ops node (they only appear to compute masks)."""
        op = layer.class_name
        cfg = {**layer.config, **call.op_kwargs}
        if not args:
            self.fail(layer.name, f"Keras op node {op!r} has no tensor argument")
        if op == "NotEqual":
            if len(args) != 1 or len(call.consts) != 1 or not isinstance(args[0], Value):
                self.fail(layer.name, "NotEqual op: expected a tensor and a constant")
            x, value = args[0], call.consts[0]
            if not isinstance(value, (int, float)):
                self.fail(layer.name, f"NotEqual op: constant {value!r} is not a number")
            if x.dtype == "int32" and len(x.shape) == 1:
                return Value(self.compute_mask(layer.name, x, value), x.shape, "bool")
            return BoolExpr("ne", value=x, const=float(value))
        if op in ("Any", "All"):
            if cfg.get("axis") not in (-1, [-1]) or cfg.get("keepdims"):
                self.fail(layer.name, f"{op} op over axis {cfg.get('axis')!r} is not a mask reduction")
            x = args[0]
            if isinstance(x, BoolExpr) and x.kind == "ne" and op == "Any":
                return Value(self.compute_mask(layer.name, x.value, x.const), x.value.shape[:1], "bool")
            if isinstance(x, BoolExpr) and x.kind == "cat":
                masks = [p.mask for p in x.parts]
                combined = self.mask_or(layer.name, masks) if op == "Any" else self.mask_and(layer.name, masks)
                return BoolExpr("mask", mask=combined)
        if op == "ConvertToTensor" and len(args) == 1:   # Attention's compute_mask wraps the mask
            return args[0]
        if op == "ExpandDims" and cfg.get("axis") == -1:
            return BoolExpr("expanded", mask=self._concrete_mask(layer, args[0]))
        if op in ("OnesLike", "ZerosLike") and isinstance(args[0], Value):
            return BoolExpr("ones" if op == "OnesLike" else "zeros")
        if op in ("LogicalOr", "LogicalAnd") and len(args) == 2:
            kinds = {a.kind if isinstance(a, BoolExpr) else "value" for a in args}
            if kinds == {"expanded", "zeros"} and op == "LogicalOr":
                expanded = next(a for a in args if a.kind == "expanded")
                return BoolExpr("feat", mask=expanded.mask)
            masks = [self._concrete_mask(layer, a) for a in args]
            combined = self.mask_or(layer.name, masks) if op == "LogicalOr" else self.mask_and(layer.name, masks)
            return BoolExpr("mask", mask=combined)
        if op == "Concatenate" and cfg.get("axis") == -1:
            parts = []
            for a in args:
                if isinstance(a, BoolExpr) and a.kind == "feat":
                    parts.append(a)
                elif isinstance(a, BoolExpr) and a.kind == "ones":
                    parts.append(BoolExpr("feat", mask=None))
                else:
                    break
            else:
                return BoolExpr("cat", parts=tuple(parts))
        self.fail(layer.name, f"Keras op node {op!r} (config {cfg}) is not a mask computation "
                              f"fastgru understands")


# The dtype policies under which Keras computes a layer in 16 bits (fastgru: float32).
COMPUTED_16BIT = ("float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
def _same_data(array, v) -> bool:
    """`v` is the Keras weight `array` or a reshaped view of it (MultiHeadAttention's
    projection kernels run as dense kernels)."""
    return v is array or (v.base is array and v.size == array.size)


def _dtype_name(dtype) -> str:
    if isinstance(dtype, dict):             # Keras 3 DTypePolicy, tf-keras Policy
        config = dtype.get("config")
        dtype = config.get("name", "float32") if isinstance(config, dict) else "float32"
    return str(dtype)
