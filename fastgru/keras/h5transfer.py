"""A plain tree (``h5tree.py``) as bytes and back: JSON for the structure, ``.npy`` for
numbers (never pickle), so the HDF5 library can run in a child process (``isolate.py``) and a
file that crashes it cannot take fastgru down.
"""
from __future__ import annotations

import io
import json
import struct

import numpy as np

from .h5tree import DEFERRED, Attributes, Dataset, Deferred, Failed, Group

MAGIC = b"FGH5TREE"


def encode(root: Group, out) -> None:
    """Write ``root`` to the binary file ``out``."""
    arrays: list = []
    text = json.dumps(_enc_node(root, arrays)).encode()
    out.write(MAGIC + struct.pack("<Q", len(text)) + text)
    for array in arrays:
        np.lib.format.write_array(out, array, allow_pickle=False)


def decode(payload: bytes, fetch=None) -> Group:
    """The tree ``encode`` wrote; ``fetch(name)`` reads a deferred dataset's data."""
    buf = io.BytesIO(payload)
    if buf.read(len(MAGIC)) != MAGIC:
        raise OSError("the HDF5 reader process sent no tree")
    (size,) = struct.unpack("<Q", buf.read(8))
    structure = json.loads(buf.read(size))
    arrays: list = []

    def array(index):
        while len(arrays) <= index:
            arrays.append(np.lib.format.read_array(buf, allow_pickle=False))
        return arrays[index]

    return _dec_node(structure, array, fetch)


def _enc_node(node, arrays):
    if isinstance(node, Failed):
        return {"f": node.message}
    if isinstance(node, Dataset):
        data = node._data
        return {"d": node.name, "shape": list(node.shape), "dtype": node.dtype.str,
                "v": data if data is None or data is DEFERRED else _enc_value(data, arrays)}
    attrs = node.attrs._values
    enc_attrs = ({"f": attrs.message} if isinstance(attrs, Failed)
                 else {"v": {k: _enc_value(v, arrays) for k, v in attrs.items()}})
    kids = node._children
    return {"g": node.name, "a": enc_attrs,
            "c": _enc_value(kids, arrays) if isinstance(kids, Failed)
            else {k: _enc_node(v, arrays) for k, v in kids.items()}}


def _enc_value(value, arrays):
    if isinstance(value, Failed):
        return {"f": value.message}
    if isinstance(value, str):
        return {"s": value}
    if isinstance(value, bytes):
        return {"b": value.decode("latin-1")}
    array = np.asarray(value)
    if array.dtype.kind in "OSU":   # text arrays travel as JSON lists, never as object arrays
        return {"o": [_enc_value(v, arrays) for v in array.flat], "shape": list(array.shape)}
    arrays.append(array)
    return {"n": len(arrays) - 1, "scalar": not isinstance(value, np.ndarray)}


def _dec_node(enc, array, fetch):
    if "f" in enc:
        return Failed(enc["f"])
    if "d" in enc:
        name, value = enc["d"], enc["v"]
        if value == DEFERRED:
            if fetch is None:
                raise OSError(f"dataset {name} is deferred, but no reader serves it")
            value = Deferred(lambda: fetch(name))
        elif value is not None:
            value = _dec_value(value, array)
        return Dataset(name, tuple(enc["shape"]), np.dtype(enc["dtype"]), value)
    attrs = enc["a"]
    attrs = Attributes(Failed(attrs["f"]) if "f" in attrs
                       else {k: _dec_value(v, array) for k, v in attrs["v"].items()})
    kids = enc["c"]
    return Group(enc["g"], attrs, Failed(kids["f"]) if "f" in kids
                 else {k: _dec_node(v, array, fetch) for k, v in kids.items()})


def _dec_value(enc, array):
    if "f" in enc:
        return Failed(enc["f"])
    if "s" in enc:
        return enc["s"]
    if "b" in enc:
        return enc["b"].encode("latin-1")
    if "o" in enc:
        items = np.empty(len(enc["o"]), dtype=object)
        items[:] = [_dec_value(v, array) for v in enc["o"]]
        return items.reshape(enc["shape"])
    value = array(enc["n"])
    return value[()] if enc["scalar"] else value
