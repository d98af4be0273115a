"""Hand-built ModelSpecs for the model tests (their reference outputs come from the float64
numpy interpreter in tests/spec_reference.py, which never calls fastgru's C code)."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from fastgru.spec import LayerInfo, ModelSpec, OpSpec, TensorSpec


class SpecBuilder:
    """Grow a ModelSpec op by op; every op's layer gets a LayerInfo with its weights."""

    def __init__(self, name: str = "model", rng: Optional[np.random.Generator] = None):
        self.name = name
        self.rng = rng or np.random.default_rng(0)
        self.tensors: Dict[str, TensorSpec] = {}
        self.ops: List[OpSpec] = []
        self.layers: Dict[str, LayerInfo] = {}
        self.inputs: List[str] = []
        self.outputs: List[str] = []

    def tensor(self, name, shape, dtype="float32"):
        self.tensors[name] = TensorSpec(name, dtype, tuple(shape))
        return name

    def input(self, name, shape, dtype="float32"):
        self.inputs.append(self.tensor(name, shape, dtype))
        self.layers[name] = LayerInfo(name, "InputLayer", {}, [], [tuple(shape)])
        return name

    def op(self, kind, layer, inputs, outputs, attrs=None, weights=None, class_name=None):
        """outputs: [(name, shape, dtype?) or None]."""
        names = []
        for out in outputs:
            if out is None:
                names.append(None)
                continue
            names.append(self.tensor(*out))
        op = OpSpec(kind, layer, list(inputs), names, dict(attrs or {}), dict(weights or {}))
        self.ops.append(op)
        info = self.layers.setdefault(layer, LayerInfo(layer, class_name or kind, {}, [], []))
        order = ("kernel", "recurrent_kernel", "bias", "embeddings", "gamma", "beta",
                 "moving_mean", "moving_variance")
        for k in order:
            if op.weights.get(k) is not None:
                op.sources[k] = len(info.weights)
                info.weights.append((k, op.weights[k]))
        info.output_shapes += [self.tensors[n].shape for n in names if n is not None]
        return names[0] if len(names) == 1 else names

    def w(self, *shape, scale=1.0):
        fan_in = shape[0] if len(shape) > 1 else 1
        return (scale * self.rng.uniform(-1, 1, shape) / np.sqrt(fan_in)).astype(np.float32)

    def gru(self, layer, x, units, *, mask=None, h0=None, state_out=False, reset_after=True,
            use_bias=True, return_sequences=False, go_backwards=False, stateful=False,
            zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
            class_name="GRU"):
        f = self.tensors[x].shape[-1]
        t = self.tensors[x].shape[0]
        weights = {"kernel": self.w(f, 3 * units), "recurrent_kernel": self.w(units, 3 * units)}
        if use_bias:
            weights["bias"] = self.w(*((2, 3 * units) if reset_after else (3 * units,)),
                                     scale=0.3)
        y = (f"{layer}/y", (t, units) if return_sequences else (units,))
        h = (f"{layer}/h", (units,)) if state_out else None
        attrs = dict(units=units, activation=activation, recurrent_activation=recurrent_activation,
                     reset_after=reset_after, use_bias=use_bias, go_backwards=go_backwards,
                     return_sequences=return_sequences, zero_output_for_mask=zero_output_for_mask,
                     stateful=stateful)
        y, h = self.op("gru", layer, [x, mask, h0], [y, h], attrs, weights, class_name)
        return (y, h) if state_out else y

    def dense(self, layer, x, units, activation="linear", use_bias=True):
        shape = self.tensors[x].shape
        weights = {"kernel": self.w(shape[-1], units)}
        if use_bias:
            weights["bias"] = self.w(units, scale=0.3)
        return self.op("dense", layer, [x], [(f"{layer}/y", shape[:-1] + (units,))],
                       {"activation": activation}, weights, "Dense")

    def same(self, kind, layer, inputs, attrs=None, weights=None, dtype="float32",
             class_name=None):
        """An op whose output has its first input's shape."""
        shape = self.tensors[inputs[0]].shape
        return self.op(kind, layer, inputs, [(f"{layer}/y", shape, dtype)], attrs, weights,
                       class_name)

    def spec(self, outputs, stateful_batch=None) -> ModelSpec:
        return ModelSpec(self.name, 3, "tests", list(self.inputs), list(outputs),
                         dict(self.tensors), list(self.ops), list(self.layers.values()),
                         stateful_batch=stateful_batch, extra={"format": "hand-built"})
