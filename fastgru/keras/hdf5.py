"""Find each layer's weights in the two HDF5 layouts Keras writes.

* the Keras 3 "vars tree" (``.keras`` archives, ``.weights.h5``, tf-keras ``.keras``): groups
  keyed by snake_case class name + ``_n`` in ``model.layers`` order, arrays at ``vars/<i>``,
  child layers as sub-groups (KERAS_FORMATS.md sections 2, 3, 7);
* the "weight_names" layout (legacy / tf-keras ``.h5``, tf-keras ``save_weights``): groups keyed
  by layer name whose ``weight_names`` attribute gives the order (sections 4-6). h5py lists
  datasets alphabetically, so groups are never iterated for order.

Arrays are returned as ``WeightRef`` handles: their shape is known without reading, so callers
check it against the config before any data is loaded. Optimizer state is never touched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FastGRUError

MAX_WEIGHT_ELEMENTS = 1 << 30


@dataclass
class WeightRef:
    path: str                   # where it sits in the file, for messages
    shape: tuple
    dataset: Any

    def read(self, where: str) -> np.ndarray:
        count = int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1
        if count > MAX_WEIGHT_ELEMENTS:
            raise FastGRUError(f"{where}: weight {self.path!r} has shape {self.shape}, more than "
                               f"{MAX_WEIGHT_ELEMENTS} elements")
        try:
            array = np.asarray(self.dataset[()])
        except Exception as e:  # h5py raises a zoo of errors on damaged data
            raise FastGRUError(f"{where}: cannot read weight {self.path!r} ({e})") from None
        if array.dtype.kind not in "fiu":
            raise FastGRUError(f"{where}: weight {self.path!r} has dtype {array.dtype}, expected numbers")
        return array


def snake_case(class_name: str) -> str:
    """Keras' ``naming.to_snake_case`` (the .keras weight group key of a class)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_dataset(obj):
    import h5py
    return isinstance(obj, h5py.Dataset)


def _is_group(obj):
    import h5py
    return isinstance(obj, h5py.Group)


# Child groups of a layer in the order Keras walks them (``layer.weights`` order); the rest
# (StackedRNNCells' gru_cell, gru_cell_1, ...) follow by their numeric suffix.
_CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer", "cells")


def _child_key(name):
    if name in _CHILD_ORDER:
        return (0, _CHILD_ORDER.index(name), "", 0)
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return (1, 0, m.group(1), int(m.group(2) or 0))


def _tree_collect(group, path, out):
    """Arrays of one saveable and its children, in ``layer.weights`` order."""
    vars_group = group.get("vars")
    if vars_group is not None and _is_group(vars_group):
        keys = sorted((k for k in vars_group.keys() if k.isdigit()), key=int)
        for k in keys:
            ds = vars_group[k]
            if _is_dataset(ds):
                out.append(WeightRef(f"{path}/vars/{k}", tuple(ds.shape), ds))
    children = [k for k in group.keys() if k != "vars" and _is_group(group[k])]
    for k in sorted(children, key=_child_key):
        _tree_collect(group[k], f"{path}/{k}", out)


def tree_weights(root, layers, where: str) -> dict:
    """Keras 3 vars tree -> {layer name: [WeightRef]} for ``layers`` (KerasLayer, model order)."""
    top = root.get("layers")
    if top is None or not _is_group(top):
        raise FastGRUError(f"{where}: no 'layers' group in the weights file; not a Keras 3 weights tree")
    counts: dict = {}
    result = {}
    for layer in layers:
        if layer.is_op or not layer.in_model_layers:
            continue
        base = snake_case(layer.class_name)
        n = counts.get(base, -1) + 1
        counts[base] = n
        key = base if n == 0 else f"{base}_{n}"
        group = top.get(key)
        if group is None or not _is_group(group):
            result[layer.name] = []        # weightless layers may have no group
            continue
        vars_group = group.get("vars")
        stored_name = vars_group.attrs.get("name") if vars_group is not None else None
        if isinstance(stored_name, bytes):
            stored_name = stored_name.decode("utf-8", "replace")
        if stored_name is not None and stored_name != layer.name:
            raise FastGRUError(f"{where}: weight group 'layers/{key}' belongs to layer {stored_name!r}, "
                               f"but the config puts layer {layer.name!r} there; config and weights "
                               f"do not describe the same model")
        refs: list = []
        _tree_collect(group, f"layers/{key}", refs)
        result[layer.name] = refs
    return result


def named_weights(root, layers, where: str) -> dict:
    """``weight_names`` layout -> {layer name: [WeightRef]}; ``root`` holds one group per layer."""
    result = {}
    for layer in layers:
        if layer.is_op:
            continue
        group = root.get(layer.name)
        if group is None or not _is_group(group):
            result[layer.name] = []
            continue
        names = group.attrs.get("weight_names", None)
        if names is None:
            raise FastGRUError(f"{where}: group {layer.name!r} has no 'weight_names' attribute")
        refs = []
        for raw in list(names):
            name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            ds = group.get(name)
            if ds is None or not _is_dataset(ds):
                raise FastGRUError(f"{where}: layer {layer.name!r} lists weight {name!r} but the file "
                                   f"has no such dataset")
            refs.append(WeightRef(f"{group.name}/{name}", tuple(ds.shape), ds))
        result[layer.name] = refs
    return result
