"""h5py -> plain tree (``h5tree.py``); runs where h5py is imported: the child process
(``isolate.py``, entry ``serve``), or this one with isolation off.

For a load, h5py's tree comes without data (``H5pyReader``): a dataset is read only when a
reader takes it, so data the model does not use is never read, and what is read counts
against the memory cap. Anything h5py fails to read is kept as ``Failed``.
"""
from __future__ import annotations

import io
import json
import math

import numpy as np

from ..errors import FastGRUError
from .h5transfer import encode, write_array
from .h5tree import (DEFERRED, MAX_WEIGHT_ELEMENTS, SKIPPED_TOP, Attributes, Dataset, Failed,
                     Group, ObjectCounter, is_weight_dtype)


def _open(h5py, source, where):
    # OverflowError: h5py's file-object driver, on offsets past 2**63 in a damaged superblock
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError, OverflowError) as e:
        raise FastGRUError(f"{where}: damaged or truncated HDF5 file ({e})") from None


def read_tree(source, where: str) -> Group:
    """Open ``source`` (a path or a file object) with h5py and return its plain tree, with
    the data of every dataset that passes the size checks."""
    import h5py

    with _open(h5py, source, where) as h5:
        return _Walker(h5py, where).group(h5, 0)


class H5pyReader:
    """h5py where it runs (the child process, or this one with isolation off): ``tree``
    writes the encoded tree with each readable dataset ``DEFERRED``, ``dataset`` then writes
    one dataset's data as ``.npy`` when a reader asks for it. Before each read, the bytes read
    so far plus the dataset's decoded size are checked against the memory cap."""

    def __init__(self, source, where):
        self.source, self.where = source, where   # source() -> a path or a file object
        self.h5, self.read_bytes = None, 0

    def tree(self, out) -> None:
        import h5py

        self.h5 = _open(h5py, self.source(), self.where)
        encode(_Walker(h5py, self.where, deferred=True).group(self.h5, 0), out)

    def dataset(self, name: bytes, out) -> None:
        from .._core import check_memory_cap

        ds = self.h5[name.decode("utf-8", "surrogateescape")]
        shape, dtype = tuple(int(d) for d in ds.shape), ds.dtype
        self.read_bytes += math.prod(shape) * dtype.itemsize
        check_memory_cap(self.read_bytes, f"{self.where}: the HDF5 datasets read, up to "
                                          f"{ds.name} (shape {shape}, {dtype}),")
        write_array(out, np.asarray(ds[()]))

    def close(self) -> None:
        if self.h5 is not None:
            self.h5.close()


def source_argument(path: str, where: str, data=None) -> bytes:
    """``serve``'s argument: the file (or its HDF5 bytes, where this process already has
    them) and the name errors give it."""
    head = json.dumps({"path": path, "where": where, "bytes": data is not None}).encode()
    return head + b"\n" + (data or b"")


def serve(argument: bytes, out):
    """The child process's entry (``isolate.Child``): write the file's tree as
    ``H5pyReader.tree`` does, then serve its datasets."""
    head, data = argument.split(b"\n", 1)
    head = json.loads(head)

    def source():
        if head["bytes"]:
            return io.BytesIO(data)
        from .archive import is_archive, read_weights   # a .keras archive's model.weights.h5

        return io.BytesIO(read_weights(head["path"])) if is_archive(head["path"]) else head["path"]

    reader = H5pyReader(source, head["where"])
    reader.tree(out)
    return reader.dataset


class _Walker:
    def __init__(self, h5py, where, deferred=False):
        self.h5py, self.counter, self.deferred = h5py, ObjectCounter(where), deferred

    def group(self, g, depth):
        self.counter.count(g.name, depth)
        try:
            keys = list(g.keys())
        except Exception as e:  # h5py raises a zoo of errors on damaged data
            return Group(g.name, self.attrs(g), Failed(f"cannot list group {g.name} ({e})"))
        children = {}
        for key in keys:
            if depth == 0 and key in SKIPPED_TOP:
                continue
            children[key] = self.child(g, key, depth + 1)
        return Group(g.name, self.attrs(g), children)

    def child(self, g, key, depth):
        h5py = self.h5py
        try:
            if isinstance(g.get(key, getlink=True), h5py.ExternalLink):
                return Failed(f"{g.name}/{key} is a link to another file; not followed")
            obj = g[key]
        except Exception as e:
            return Failed(f"cannot open {g.name}/{key} ({e})")
        if isinstance(obj, h5py.Group):
            return self.group(obj, depth)
        if isinstance(obj, h5py.Dataset):
            self.counter.count(obj.name, depth)
            return self.dataset(obj)
        return Failed(f"{g.name}/{key} is neither a group nor a dataset")

    def dataset(self, ds):
        try:
            shape, dtype = tuple(int(d) for d in ds.shape), ds.dtype
        except Exception as e:
            return Failed(f"cannot read dataset {ds.name}'s header ({e})")
        count = math.prod(shape)   # Python ints: no overflow on hostile shapes
        data = None
        # sizes checked BEFORE reading: only numbers, only what a weight may hold
        if is_weight_dtype(dtype) and count <= MAX_WEIGHT_ELEMENTS:
            if self.deferred:
                return Dataset(ds.name, shape, dtype, DEFERRED)
            try:
                data = np.asarray(ds[()])
            except Exception as e:
                data = Failed(f"cannot read dataset {ds.name} ({e})")
        return Dataset(ds.name, shape, dtype, data)

    def attrs(self, obj):
        try:
            keys = list(obj.attrs.keys())
        except Exception as e:
            return Attributes(Failed(f"cannot list the attributes of {obj.name} ({e})"))
        values = {}
        for key in keys:
            try:
                values[key] = _plain_value(obj.attrs[key])
            except Exception as e:
                values[key] = Failed(f"cannot read attribute {key!r} of {obj.name} ({e})")
        return Attributes(values)


def _plain_value(value):
    """An attribute as h5py gives it, kept only if it is text or numbers."""
    if isinstance(value, (str, bytes)):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "biuf":
        return value
    if array.dtype.kind in "OSU" and all(isinstance(v, (str, bytes)) for v in array.flat):
        return array
    raise TypeError(f"unsupported attribute type {array.dtype}")
