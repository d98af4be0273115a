"""Recognise a Keras file by its content (docs/KERAS_FORMATS.md §1) and open it.

``read_source`` returns a ``Source``: the model config, the Keras major version whose rules
apply, and a function giving each layer's weights. The HDF5 data comes as a plain tree
(``h5tree.py``), read by fastgru's own reader or, outside its subset, by h5py in a child process
(unless FASTGRU_HDF5_ISOLATION=0) so that a file crashing the HDF5 library cannot crash us;
weights are only handed out after the readers check their shapes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from ..errors import FastGRUError, FastGRUFileNotFoundError
from . import hdf5
from .archive import ZIP_MAGIC, read_archive
from .config import config_keras_version, load_config_argument, parse_json
from .h5source import PendingTree

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass
class Source:
    path: str
    format: str                     # keras3-archive | tf-keras-archive | keras3-h5 | tf-keras-h5 | ...
    keras_version: int
    config: dict
    weights_for: Callable           # (saveables, where) -> {layer name: [WeightRef]}
    extra: dict = field(default_factory=dict)


def _major(version, where) -> int:
    text = version.decode() if isinstance(version, bytes) else str(version)
    if text[:2] in ("2.", "3."):
        return int(text[0])
    raise FastGRUError(f"{where}: keras_version {text!r} is not supported (Keras 2.x or 3.x)")


def read_source(path, config, hdf5_data: PendingTree) -> Source:
    """``hdf5_data``: the file's HDF5 data, read when first asked for."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FastGRUFileNotFoundError(f"model file {path!r} does not exist")
    if os.path.isdir(path):
        raise FastGRUError(f"{path}: is a directory (a TensorFlow SavedModel?); fastgru reads "
                           f".keras and .h5 files")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(ZIP_MAGIC):
        _refuse_config(path, config, "a .keras archive")
        return _archive_source(path, hdf5_data)
    if head == HDF5_MAGIC:
        return _hdf5_source(path, config, hdf5_data)
    if not head:
        raise FastGRUError(f"{path}: the file is empty")
    raise FastGRUError(f"{path}: not a Keras model file (neither a .keras zip archive nor HDF5; "
                       f"starts with {head!r})")


def _archive_source(path, hdf5_data):
    metadata, config = read_archive(path)
    version = _major(metadata.get("keras_version", ""), f"{path}: metadata.json")
    h5 = hdf5_data.tree()
    return Source(path, "keras3-archive" if version == 3 else "tf-keras-archive", version, config,
                 lambda saveables, where: hdf5.tree_weights(h5, saveables, where),
                 {"keras_version_string": metadata.get("keras_version")})


def _hdf5_source(path, config, hdf5_data):
    h5 = hdf5_data.tree()
    attrs = h5.attrs
    if "model_config" in attrs:
        _refuse_config(path, config, "a full-model HDF5 file")
        version = _major(attrs.get("keras_version", ""), path)
        raw = attrs["model_config"]
        model_config = parse_json(raw if isinstance(raw, (bytes, str)) else bytes(raw),
                                  f"{path}: model_config")
        if "model_weights" not in h5:
            raise FastGRUError(f"{path}: full-model HDF5 without a 'model_weights' group")
        root = h5["model_weights"]
        fmt = "keras3-legacy-h5" if version == 3 else "tf-keras-h5"
        return Source(path, fmt, version, model_config,
                      lambda saveables, where: hdf5.named_weights(root, saveables, where),
                      {"keras_version_string": _text(attrs.get("keras_version"))})
    if "layer_names" in attrs:
        version = _major(attrs.get("keras_version", "2."), path)
        model_config = _required_config(path, config)
        return Source(path, "tf-keras-weights-h5" if version == 2 else "keras3-legacy-weights-h5",
                      version, model_config,
                      lambda saveables, where: hdf5.named_weights(h5, saveables, where),
                      {"keras_version_string": _text(attrs.get("keras_version"))})
    if "layers" in h5 and "vars" in h5:
        model_config = _required_config(path, config)
        return Source(path, "keras3-weights-h5", config_keras_version(model_config), model_config,
                      lambda saveables, where: hdf5.tree_weights(h5, saveables, where))
    raise FastGRUError(f"{path}: an HDF5 file but not a Keras model (no model_config, "
                       f"layer_names or layers/vars groups)")


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _refuse_config(path, config, what):
    """config= is for weights-only files; a file with its own config would silently ignore it."""
    if config is not None:
        raise FastGRUError(f"{path}: {what} carries its own config; do not pass config= "
                           f"(it is only for weights-only files)")


def _required_config(path, config):
    if config is None:
        raise FastGRUError(f"{path}: a weights-only file holds no architecture; pass "
                           f"config= (model.to_json() output: a path, a JSON string or a dict)")
    return load_config_argument(config)
