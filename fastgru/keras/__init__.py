"""Keras file readers: any Keras 2 / Keras 3 GRU model file -> ``fastgru.spec.ModelSpec``.

HDF5 data is read by fastgru's own reader (``h5lite.py``), or, for files outside its subset,
by h5py in a child process (``h5source.py``, ``h5walk.py``, ``isolate.py``); the parent never
imports h5py, so ``import fastgru`` stays light and a crash in HDF5 cannot kill it.
"""
from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from ..errors import FastGRUError
from .h5source import PendingTree

if TYPE_CHECKING:
    from ..spec import ModelSpec

__all__ = ["read_model"]

# What damaged bytes still raise past the readers' own checks: OSError for a part HDF5 could
# not read (h5py's errors arrive as OSError, from the child or ``h5source._in_process``),
# EOFError / struct.error for a truncated transfer or array. Anything else is a bug in fastgru
# and surfaces as itself.
DAMAGED_FILE_ERRORS = (OSError, EOFError, struct.error)


def read_model(path, *, config=None, custom_objects=None) -> ModelSpec:
    """Read a Keras model file (format detected from its content) into a ModelSpec.

    ``config`` is needed for weights-only files: a path to ``model.to_json()`` output, a JSON
    string or a dict. ``custom_objects`` maps custom class names (or ``registered_name``s such
    as ``"my_package>MyGRU"``) to a known kind: ``fastgru.GRU``, ``fastgru.Bidirectional`` or
    a Keras class name string like ``"GRU"``.
    """
    try:
        # With FASTGRU_HDF5_READER=h5py the reader starts first: it imports h5py while this
        # process imports the readers.
        with PendingTree(os.fspath(path)) as hdf5_data:
            return _read(path, config, custom_objects, hdf5_data)
    except FastGRUError:
        raise
    except DAMAGED_FILE_ERRORS as e:
        raise FastGRUError(f"{os.fspath(path)}: damaged or unreadable file "
                           f"({type(e).__name__}: {e})") from e


def _read(path, config, custom_objects, hdf5_data) -> ModelSpec:
    from .classes import ClassResolver
    from .config import normalise
    from .detect import read_source
    from .graph import GraphBuilder
    from .translators import TRANSLATORS, input_count_error
    from .nested import flatten

    source = read_source(path, config, hdf5_data)
    where = os.fspath(path)
    graph = flatten(normalise(source.config, where), where)
    resolver = ClassResolver(TRANSLATORS, custom_objects, where)
    resolver.check_all(graph.layers)

    def translate(builder, layer, call, inputs, states, mask):
        kind = resolver(layer, layer.class_name, layer.registered_name)
        if kind not in TRANSLATORS:
            builder.fail(layer.name, f"a {kind} cannot be used as a top-level layer")
        wrong_count = input_count_error(kind, len(inputs))
        if wrong_count:
            builder.fail(layer.name, wrong_count)
        return TRANSLATORS[kind](builder, layer, call, inputs, states, mask)

    builder = GraphBuilder(graph, source.weights_for(graph.saveables, where), source.keras_version,
                           where, translate, resolver)
    spec = builder.build()
    spec.extra.update(source.extra, format=source.format)
    return spec
