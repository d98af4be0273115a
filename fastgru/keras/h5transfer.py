"""A plain tree (``h5tree.py``) as bytes and back: JSON for the structure, arrays as a JSON
header (numpy's dtype description, shape) and their raw bytes (never pickle), so the HDF5
library can run in a child process (``isolate.py``) and a file that crashes it cannot take
fastgru down. Not ``.npy``: numpy parses its header with ``ast.literal_eval``, whose compiler
CPython 3.11 does not make safe for several threads at once (a load from a thread pool could
fail with "SystemError: AST constructor recursion depth mismatch").
"""
from __future__ import annotations

import io
import json
import math
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
        write_array(out, array)


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
            arrays.append(read_array(buf))
        return arrays[index]

    return _dec_node(structure, array, fetch)


_SIZE = struct.Struct("<Q")


def write_array(out, array) -> None:
    """One array: header bytes, header (JSON: dtype description, shape), data bytes, data."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"an array of Python objects ({array.dtype}) is not sent")
    head = json.dumps({"descr": np.lib.format.dtype_to_descr(array.dtype),
                       "shape": list(array.shape)}).encode()
    out.write(_SIZE.pack(len(head)) + head + _SIZE.pack(array.nbytes))
    out.write(array.tobytes())


def read_array(buf) -> np.ndarray:
    """The array ``write_array`` wrote; OSError where the bytes do not hold one."""
    try:
        (size,) = _SIZE.unpack(buf.read(_SIZE.size))
        head = json.loads(buf.read(size))
        descr = head["descr"]
        dtype = np.lib.format.descr_to_dtype(
            [tuple(field) for field in descr] if isinstance(descr, list) else descr)
        shape = tuple(int(d) for d in head["shape"])
        (nbytes,) = _SIZE.unpack(buf.read(_SIZE.size))
    except (struct.error, ValueError, TypeError, KeyError) as exc:
        raise OSError(f"the HDF5 reader process sent a damaged array header ({exc})") from None
    if dtype.hasobject:
        raise OSError(f"the HDF5 reader process sent an array of Python objects ({dtype}), "
                      "which is never unpickled")
    if any(d < 0 for d in shape) or nbytes != math.prod(shape) * dtype.itemsize:
        raise OSError(f"the HDF5 reader process sent an array of {nbytes} bytes for shape "
                      f"{shape}, dtype {dtype}")
    if dtype.itemsize == 0:
        return np.zeros(shape, dtype)
    data = bytearray(nbytes)   # writable, as numpy's own reader returns it
    got = buf.readinto(data)
    if got != nbytes:
        raise OSError(f"the HDF5 reader process sent {got} of an array's {nbytes} bytes")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


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
