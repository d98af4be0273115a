"""Inline models used as layers (a Sequential encoder inside a functional model, ...).

Each nested model's layers join the outer graph under ``<nested name>/<layer name>``; the
nested model's inputs become the tensors it was called on and its outputs stand for the
layer's outputs. ``ModelGraph.saveables`` keeps the nesting, which the weights files follow.
tf-keras numbers the calls of a nested model from 1 (node 0 is its own construction), so any
node index of a nested model means its one call.
"""
from __future__ import annotations

from dataclasses import replace

from ..errors import FastGRUError
from .config import ModelGraph, TensorRef


def flatten(graph: ModelGraph, where: str) -> ModelGraph:
    if not any(layer.nested for layer in graph.layers):
        return graph
    mapping = {}           # nested layer name -> its inner output refs (already prefixed)
    layers = []
    for layer in graph.layers:
        if layer.nested is None:
            layers.append(layer)
            continue
        if len(layer.calls) != 1:
            raise FastGRUError(f"{where}: nested model {layer.name!r} is called {len(layer.calls)} "
                               f"times; fastgru inlines a nested model called once")
        call = layer.calls[0]
        if call.mask is not None or call.initial_state:
            raise FastGRUError(f"{where}: nested model {layer.name!r} is called with a mask or "
                               f"initial states, which fastgru does not support")
        inner = flatten(layer.nested, f"{where}: nested model {layer.name!r}")
        if len(call.inputs) != len(inner.inputs):
            raise FastGRUError(f"{where}: nested model {layer.name!r} takes {len(inner.inputs)} "
                               f"inputs but is called with {len(call.inputs)}")
        prefix = f"{layer.name}/"
        bound = {ref.layer: outer for ref, outer in zip(inner.inputs, call.inputs)}

        def inner_ref(ref, bound=bound, prefix=prefix):
            return bound[ref.layer] if ref.layer in bound else TensorRef(prefix + ref.layer, ref.node, ref.index)

        for sub in inner.layers:
            if sub.class_name == "InputLayer" and sub.name in bound:
                continue
            sub.name = prefix + sub.name
            sub.calls = [_remap(c, inner_ref) for c in sub.calls]
            layers.append(sub)
        mapping[layer.name] = [inner_ref(r) for r in inner.outputs]
        layer.nested = replace(inner, layers=[], inputs=[], outputs=[])

    def outer_ref(ref):
        if ref.layer in mapping:
            outputs = mapping[ref.layer]
            if ref.index >= len(outputs):
                raise FastGRUError(f"{where}: nested model {ref.layer!r} has no output {ref.index}")
            return outputs[ref.index]
        return ref

    for layer in layers:
        layer.calls = [_remap(c, outer_ref) for c in layer.calls]
    return replace(graph, layers=layers, outputs=[outer_ref(r) for r in graph.outputs])


def _remap(call, fn):
    return replace(call, inputs=[fn(r) for r in call.inputs],
                   mask=fn(call.mask) if call.mask is not None else None,
                   initial_state=[fn(r) for r in call.initial_state])
