"""Find each layer's weights in the two HDF5 layouts Keras writes.

* the Keras 3 "vars tree" (``.keras`` archives, ``.weights.h5``, tf-keras ``.keras``): groups
  keyed by snake_case class name + ``_n`` in ``model.layers`` order, arrays at ``vars/<i>``,
  child layers as sub-groups (docs/KERAS_FORMATS.md §§2, 3, 7);
* the "weight_names" layout (legacy / tf-keras ``.h5``, tf-keras ``save_weights``): groups keyed
  by layer name whose ``weight_names`` attribute gives the order (sections 4-6). h5py lists
  datasets alphabetically, so groups are never iterated for order.

Arrays are returned as ``WeightRef`` handles over ``h5tree`` datasets: callers check the shape
against the config before taking the data (read by the child process only where its size and
dtype allow). Optimizer state is never read.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import FastGRUError
from .h5tree import MAX_WEIGHT_ELEMENTS, OPAQUE_16, Dataset, Group


@dataclass
class WeightRef:
    path: str                   # where it sits in the file, for messages
    shape: tuple
    dataset: Dataset            # h5tree's: read in full, or not (too large, not numbers, damaged)

    def stored_dtype(self) -> str:
        """What the file stores: float16, bfloat16 (opaque 2-byte values) or float32 (any
        other numbers, which are read as float32)."""
        dtype = self.dataset.dtype
        if dtype == OPAQUE_16:
            return "bfloat16"
        return "float16" if dtype.kind == "f" and dtype.itemsize == 2 else "float32"

    def read(self, where: str, layer_dtype: str) -> np.ndarray:
        """The weight as float32 (exact for 16-bit ones); ``layer_dtype``, the layer's dtype
        policy name, tells what opaque 2-byte values are."""
        count = math.prod(self.shape)
        if count > MAX_WEIGHT_ELEMENTS:
            raise FastGRUError(f"{where}: weight {self.path!r} has shape {self.shape}, more than "
                               f"{MAX_WEIGHT_ELEMENTS} elements")
        dtype = self.dataset.dtype
        if dtype == OPAQUE_16 and layer_dtype != "bfloat16":
            raise FastGRUError(f"{where}: weight {self.path!r} holds opaque 2-byte values, "
                               f"which Keras writes for bfloat16, but the layer's dtype is "
                               f"{layer_dtype!r}")
        if dtype.kind not in "fiu" and dtype != OPAQUE_16:
            raise FastGRUError(f"{where}: weight {self.path!r} has dtype {dtype}, "
                               f"expected numbers")
        try:
            data = np.asarray(self.dataset[()])
        except OSError as e:  # a part of the file HDF5 could not read
            raise FastGRUError(f"{where}: cannot read weight {self.path!r} ({e})") from None
        if dtype == OPAQUE_16:   # bfloat16: the high half of a float32, little-endian
            return (np.ascontiguousarray(data).view("<u2").astype(np.uint32) << 16).view(np.float32)
        return data.astype(np.float32, copy=False)


def snake_case(class_name: str) -> str:
    """Keras' ``naming.to_snake_case`` (the .keras weight group key of a class)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_dataset(obj):
    return isinstance(obj, Dataset)


def _is_group(obj):
    return isinstance(obj, Group)


# Child groups of a layer in the order Keras walks them (``layer.weights`` order); the rest
# follow by name and numeric suffix.
_CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer", "cells")
# The config entry that describes each named child group: Bidirectional's inner layers and
# RNN's cell (a {class_name, config} entry), StackedRNNCells' cells (a list of them).
_CHILD_CONFIG = {"cell": "cell", "forward_layer": "layer", "backward_layer": "backward_layer",
                 "layer": "layer", "cells": "cells"}


def _child_key(name):
    if name in _CHILD_ORDER:
        return (0, _CHILD_ORDER.index(name), "", 0)
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return (1, 0, m.group(1), int(m.group(2) or 0))


def _container_keys(entries):
    """The group keys Keras gives the saveables of a list attribute (StackedRNNCells' cells):
    snake_case class name, ``_<n>`` from the second of a class on, in list order."""
    counts: dict = {}
    keys = []
    for entry in entries:
        cls = entry.get("class_name") if isinstance(entry, dict) else None
        if not isinstance(cls, str):
            return None
        base = snake_case(cls.rsplit(">", 1)[-1])
        n = counts[base] = counts.get(base, -1) + 1
        keys.append((base if n == 0 else f"{base}_{n}", entry.get("config")))
    return keys


def _ordered_children(group, config):
    """(child key, its config or None) in ``layer.weights`` order. A list container (config: a
    list) is ordered by its config, not by name: StackedRNNCells([LSTMCell, GRUCell]) stores
    lstm_cell after gru_cell but runs it first."""
    children = [k for k in group.keys() if k != "vars" and _is_group(group[k])]
    if isinstance(config, list):
        keys = _container_keys(config)
        if keys is not None and sorted(k for k, _ in keys) == sorted(children):
            return keys
    config = config if isinstance(config, dict) else {}
    ordered = []
    for k in sorted(children, key=_child_key):
        entry = config.get(_CHILD_CONFIG.get(k, ""))
        ordered.append((k, entry.get("config") if isinstance(entry, dict) else entry))
    return ordered


def _tree_collect(group, path, out, config=None):
    """Arrays of one saveable and its children, in ``layer.weights`` order (``config``: the
    saveable's Keras config, which orders list containers)."""
    vars_group = group.get("vars")
    if vars_group is not None and _is_group(vars_group):
        keys = sorted((k for k in vars_group.keys() if k.isdigit()), key=int)
        for k in keys:
            ds = vars_group[k]
            if _is_dataset(ds):
                out.append(WeightRef(f"{path}/vars/{k}", tuple(ds.shape), ds))
    for k, child_config in _ordered_children(group, config):
        _tree_collect(group[k], f"{path}/{k}", out, child_config)


def tree_weights(root, saveables, where: str) -> dict:
    """Keras 3 vars tree -> {layer name: [WeightRef]} for ``saveables`` (KerasLayer in
    ``model.layers`` order; a nested model's layers sit under its group's ``layers``)."""
    top = root.get("layers")
    if top is None or not _is_group(top):
        raise FastGRUError(f"{where}: no 'layers' group in the weights file; not a Keras 3 weights tree")
    result: dict = {}
    _tree_layers(top, "layers", saveables, where, result)
    return result


def _tree_layers(top, path, saveables, where, result):
    counts: dict = {}
    for layer in saveables:
        base = snake_case(layer.class_name)
        n = counts.get(base, -1) + 1
        counts[base] = n
        key = base if n == 0 else f"{base}_{n}"
        group = top.get(key)
        if group is None or not _is_group(group):
            continue                       # weightless layers may have no group
        vars_group = group.get("vars")
        stored_name = vars_group.attrs.get("name") if vars_group is not None else None
        if isinstance(stored_name, bytes):
            stored_name = stored_name.decode("utf-8", "replace")
        if stored_name is not None and stored_name != layer.local_name:
            raise FastGRUError(f"{where}: weight group '{path}/{key}' belongs to layer {stored_name!r}, "
                               f"but the config puts layer {layer.local_name!r} there; config and "
                               f"weights do not describe the same model")
        if layer.nested is not None:
            inner = group.get("layers")
            if inner is not None and _is_group(inner):
                _tree_layers(inner, f"{path}/{key}/layers", layer.nested.saveables, where, result)
            continue
        refs: list = []
        _tree_collect(group, f"{path}/{key}", refs, layer.config)
        result[layer.name] = refs


def named_weights(root, saveables, where: str) -> dict:
    """``weight_names`` layout -> {layer name: [WeightRef]}; ``root`` holds one group per
    top-level layer. A nested model's group lists all its layers' weights, each named
    ``[<model>/]<layer>/...``, and they are shared out by that layer name."""
    result: dict = {}
    for layer in saveables:
        group = root.get(layer.name)
        if group is None or not _is_group(group):
            continue
        names = group.attrs.get("weight_names", None)
        if names is None:
            raise FastGRUError(f"{where}: group {layer.name!r} has no 'weight_names' attribute")
        if not (isinstance(names, np.ndarray) and names.ndim == 1):
            raise FastGRUError(f"{where}: group {layer.name!r}: 'weight_names' is not a list of "
                               f"names ({type(names).__name__} {np.shape(names)})")
        refs = []
        for raw in names:
            if not isinstance(raw, (bytes, str)):
                raise FastGRUError(f"{where}: group {layer.name!r}: 'weight_names' holds "
                                   f"{type(raw).__name__} {raw!r}, not a name")
            name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            ds = group.get(name)
            if ds is None or not _is_dataset(ds):
                raise FastGRUError(f"{where}: layer {layer.name!r} lists weight {name!r} but the file "
                                   f"has no such dataset")
            refs.append((name, WeightRef(f"{group.name}/{name}", tuple(ds.shape), ds)))
        if layer.nested is None:
            result[layer.name] = [ref for _, ref in refs]
        else:
            _share_out(layer, refs, where, result)
    return result


def _leaves(layer):
    for sub in layer.nested.saveables:
        if sub.nested is None:
            yield sub
        else:
            yield from _leaves(sub)


def _share_out(model_layer, refs, where, result):
    by_local = {leaf.local_name: leaf for leaf in _leaves(model_layer)}
    for name, ref in refs:
        owner = next((by_local[part] for part in name.split("/") if part in by_local), None)
        if owner is None:
            raise FastGRUError(f"{where}: nested model {model_layer.name!r}: weight {name!r} names "
                               f"none of its layers")
        result.setdefault(owner.name, []).append(ref)
