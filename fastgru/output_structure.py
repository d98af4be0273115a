"""Nested model outputs, as Keras returns them: a Functional model's outputs may be any nest of
lists and dicts (``Model(x, {"seq": y, "last": h})``, or an RNN of stacked LSTM cells whose
``return_state`` gives each LSTM cell's ``[h, c]`` as a list among the states). The image runs
the flat outputs in Keras' flatten order (lists in order, dicts by sorted key); the structure is
kept in the metadata as the same nest with each output's flat index at its leaf, and
``predict`` rebuilds it."""
from __future__ import annotations

from typing import Any, List, Optional

from .errors import FastGRUError

MAX_DEPTH = 32


def indices_nest(value, is_leaf, take, where: str, depth: int = 0):
    """Walks a nest of lists and dicts (dict keys must be strings) in Keras' flatten order,
    calling ``take(leaf)`` -> flat index on each leaf; returns the nest of indices."""
    if depth > MAX_DEPTH:
        raise FastGRUError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if is_leaf(value):
        return take(value)
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        return {k: indices_nest(value[k], is_leaf, take, f"{where}[{k!r}]", depth + 1)
                for k in sorted(value)}
    if isinstance(value, list) and value:
        return [indices_nest(v, is_leaf, take, f"{where}[{i}]", depth + 1)
                for i, v in enumerate(value)]
    raise FastGRUError(f"{where}: expected a tensor reference [layer, node, index], or a "
                       f"non-empty list or string-keyed dict of them, found {str(value)[:80]}")


def is_plain(structure) -> bool:
    """A single output or a flat list: what predict returns without a structure."""
    return isinstance(structure, int) or (
        isinstance(structure, list) and all(isinstance(i, int) for i in structure))


def checked(structure: Any, n_outputs: int, where: str = "model image: output_structure"):
    """The metadata's structure, checked: each flat output index at exactly one leaf."""
    if structure is None:
        return None
    seen: List[int] = []

    def take(leaf):
        seen.append(leaf)
        return leaf
    indices_nest(structure, lambda v: isinstance(v, int) and not isinstance(v, bool), take,
                 where)
    if sorted(seen) != list(range(n_outputs)):
        raise FastGRUError(f"{where}: its leaves {sorted(seen)[:16]} are not each of the "
                           f"{n_outputs} outputs once")
    return structure


def rebuild(structure: Optional[Any], outputs: list):
    """predict's result: Keras' structure, or one array for one output, else a list."""
    if structure is None:
        return outputs[0] if len(outputs) == 1 else outputs
    return _fill(structure, outputs)


def _fill(structure, outputs):
    if isinstance(structure, int):
        return outputs[structure]
    if isinstance(structure, dict):
        return {k: _fill(v, outputs) for k, v in structure.items()}
    return [_fill(v, outputs) for v in structure]


def flatten(result) -> list:
    """A predict result as its flat list of arrays, in Keras' flatten order."""
    if isinstance(result, dict):
        return [a for k in sorted(result) for a in flatten(result[k])]
    if isinstance(result, (list, tuple)):
        return [a for v in result for a in flatten(v)]
    return [result]
