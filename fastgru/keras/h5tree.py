"""An HDF5 file as a plain tree: what the readers see instead of h5py objects.

``read_tree`` opens a file with h5py, walks it (optimizer state excepted) and returns plain
``Group`` / ``Dataset`` objects: group keys, attributes, dataset shapes and dtypes, and the
data of every numeric dataset that passes the size checks; ``h5lite.read_tree`` builds the
same tree without h5py, and ``PendingTree`` chooses between them. For a load, h5py's tree
comes without data (``H5pyReader``): a dataset is read, and decompressed, only when a reader
takes it, so data the model does not use is never read, and what is read counts against the
memory cap. ``encode`` / ``decode`` carry such a tree between processes as JSON plus ``.npy``
arrays (never pickle), so the HDF5 library can run in a child process (``isolate.py``) and a
file that crashes it cannot take fastgru down.

Anything h5py fails to read is kept as an error and raised as ``OSError`` when the reader
touches it, so a damaged part the model does not use is as harmless as before.
"""
from __future__ import annotations

import io
import json
import math
import os
import struct

import numpy as np

from ..errors import FastGRUError
from . import isolate

# The readers' bound on one weight (graph.py checks config shapes against it too).
MAX_WEIGHT_ELEMENTS = 1 << 30
MAX_DEPTH = 64
MAX_OBJECTS = 1 << 20
# Optimizer state: never needed, possibly larger than the model (docs/KERAS_FORMATS.md).
SKIPPED_TOP = ("optimizer_weights", "optimizer")


class Failed:
    """A part h5py could not read: raises when used."""

    def __init__(self, message):
        self.message = message

    def raise_(self):
        raise OSError(self.message)


class Deferred:
    """Data not read yet: ``read()`` fetches it (from the h5py child)."""

    def __init__(self, read):
        self.read = read


class Attributes:
    def __init__(self, values):
        self._values = values      # {key: value | Failed}, or a Failed listing

    def _all(self):
        if isinstance(self._values, Failed):
            self._values.raise_()
        return self._values

    def __contains__(self, key):
        return key in self._all()

    def __getitem__(self, key):
        value = self._all()[key]
        if isinstance(value, Failed):
            value.raise_()
        return value

    def get(self, key, default=None):
        return self[key] if key in self._all() else default


class Dataset:
    """Shape, dtype and the data; no attributes (no reader needs a dataset's)."""

    def __init__(self, name, shape, dtype, data):
        self.name, self.shape, self.dtype = name, shape, dtype
        # ndarray, Failed, Deferred (read when taken), or None (not read: too large / not
        # numeric)
        self._data = data

    def __getitem__(self, key):
        if key != ():
            raise TypeError("a plain dataset is read whole, with [()]")
        if isinstance(self._data, Deferred):
            self._data = self._data.read()
        if isinstance(self._data, Failed):
            self._data.raise_()
        if self._data is None:
            raise OSError(f"dataset {self.name} was not read (dtype {self.dtype}, shape {self.shape})")
        return self._data


class Group:
    def __init__(self, name, attrs, children):
        self.name, self.attrs = name, attrs
        self._children = children  # {key: Group | Dataset | Failed} or a Failed listing

    def _items(self):
        if isinstance(self._children, Failed):
            self._children.raise_()
        return self._children

    def keys(self):
        return list(self._items())

    def _find(self, key):
        """The object at ``key``, a name or a relative path ("a/b/c", as h5py takes); None
        where nothing is."""
        node = self
        for part in (p for p in key.split("/") if p):
            items = node._items() if isinstance(node, Group) else {}
            if part not in items:
                return None
            node = items[part]
            if isinstance(node, Failed):
                node.raise_()
        return node

    def __contains__(self, key):
        return self._find(key) is not None

    def __getitem__(self, key):
        node = self._find(key)
        if node is None:
            raise KeyError(f"{key!r} is not in group {self.name}")
        return node

    def get(self, key, default=None):
        node = self._find(key)
        return default if node is None else node


# ---- h5py -> plain tree (runs where h5py is imported: the child process) --------------------
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
        np.lib.format.write_array(out, np.asarray(ds[()]), allow_pickle=False)

    def close(self) -> None:
        if self.h5 is not None:
            self.h5.close()


class ObjectCounter:
    """Bounds a walk (both readers'): link cycles and fan-outs end in a ``FastGRUError``."""

    def __init__(self, where):
        self.where, self.objects = where, 0

    def count(self, name, depth):
        self.objects += 1
        if depth > MAX_DEPTH or self.objects > MAX_OBJECTS:
            raise FastGRUError(f"{self.where}: HDF5 object {name} is nested deeper than {MAX_DEPTH} "
                               f"groups or past {MAX_OBJECTS} objects (a link cycle?)")


DEFERRED = "deferred"   # a tree's placeholder for data read on request (H5pyReader)


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
        if dtype.kind in "biuf" and count <= MAX_WEIGHT_ELEMENTS:
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


# ---- plain tree <-> bytes: JSON for the structure, .npy for numbers -------------------------
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


READERS = ("auto", "lite", "h5py")


def reader_mode() -> str:
    """``FASTGRU_HDF5_READER``: auto (the built-in reader, h5py for files outside its subset),
    lite (never h5py) or h5py (never the built-in reader)."""
    mode = os.environ.get("FASTGRU_HDF5_READER", "") or "auto"
    if mode not in READERS:
        raise FastGRUError(f"FASTGRU_HDF5_READER={mode!r} is not one of {', '.join(READERS)}")
    return mode


def hdf5_bytes(path: str, in_archive: bool) -> bytes:
    """The HDF5 data of a Keras file: the file itself, or a .keras archive's model.weights.h5."""
    if in_archive:
        from .archive import read_weights

        return read_weights(path)
    from .._core import check_memory_cap

    with open(path, "rb") as f:
        check_memory_cap(os.fstat(f.fileno()).st_size, f"{path}: the HDF5 file")
        return f.read()


class PendingTree:
    """The plain tree of a Keras file's HDF5 data (the file itself, or a .keras archive's
    model.weights.h5). The built-in reader (``h5lite``) reads it in this process; files
    outside its subset go to h5py, in a child process (``isolate``) unless isolation is off.
    With ``FASTGRU_HDF5_READER=h5py`` the child starts at once, so that its ``import h5py``
    overlaps the caller's own work (config, imports)."""

    def __init__(self, path: str):
        self.path = path
        self._mode = reader_mode()
        self._bytes = self._archive = self._tree = None
        self._h5py = self._child = None
        if self._mode == "h5py":
            self._start_h5py()

    def _start_h5py(self):
        self._h5py = H5pyReader(self._h5py_source, self.where)
        if isolate.enabled():
            self._child = isolate.Child(self._h5py.tree, self._h5py.dataset)

    def _is_archive(self) -> bool:
        # not functools.cached_property: in Python 3.11 it holds a lock shared by all
        # instances, which a child forked while another thread holds it would wait on forever
        if self._archive is None:
            from .archive import is_archive

            self._archive = is_archive(self.path)
        return self._archive

    def _data(self) -> bytes:
        if self._bytes is None:
            self._bytes = hdf5_bytes(self.path, self._is_archive())
        return self._bytes

    def _h5py_source(self):
        if self._bytes is None and not self._is_archive():   # h5py reads only what it needs
            return self.path
        return io.BytesIO(self._data())

    def _tree_bytes(self) -> bytes:
        if self._child is not None:
            return self._child.result(self.where)
        out = io.BytesIO()
        self._h5py.tree(out)
        return out.getvalue()

    def _dataset(self, name: str) -> np.ndarray:
        request = name.encode("utf-8", "surrogateescape")
        if self._child is not None:
            data = io.BytesIO(self._child.ask(request, self.where))
        else:
            data = io.BytesIO()
            self._h5py.dataset(request, data)
            data.seek(0)
        return np.lib.format.read_array(data, allow_pickle=False)

    def _read_lite(self):
        """The tree, or None where the file is outside the built-in reader's subset."""
        from . import h5lite

        try:
            tree = h5lite.read_tree(self._data(), self.where)
        except h5lite.Unsupported as e:
            if self._mode == "lite":
                raise FastGRUError(f"{self.where}: outside the HDF5 subset of fastgru's own reader "
                                   f"({e}); FASTGRU_HDF5_READER=auto reads it with h5py") from None
            return None
        self._bytes = None   # the tree holds copies: a large file's bytes go now, not after load
        return tree

    @property
    def where(self) -> str:
        return f"{self.path}: model.weights.h5" if self._is_archive() else self.path

    def tree(self) -> Group:
        if self._tree is None and self._mode != "h5py":
            self._tree = self._read_lite()
        if self._tree is None:
            if self._h5py is None:
                self._start_h5py()
            self._tree = decode(self._tree_bytes(), self._dataset)
        return self._tree

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
        elif self._h5py is not None:
            self._h5py.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
