"""An HDF5 file as a plain tree: what the readers see instead of h5py objects.

``Group`` / ``Dataset`` / ``Attributes`` hold group keys, attributes, dataset shapes and dtypes,
and the data of every numeric dataset that passes the size checks. Two readers build them:
``h5walk.py`` (h5py) and ``h5lite.py`` (fastgru's own); ``h5source.py`` chooses between them.
A dataset's data may be ``Deferred``: read, and decompressed, only when a reader takes it.

Anything that could not be read is kept as ``Failed`` and raised as ``OSError`` when the reader
touches it, so a damaged part the model does not use is as harmless as before.
"""
from __future__ import annotations

import numpy as np

from ..errors import FastGRUError

# The readers' bound on one weight (graph.py checks config shapes against it too).
MAX_WEIGHT_ELEMENTS = 1 << 30
MAX_DEPTH = 64
MAX_OBJECTS = 1 << 20
# Optimizer state: never needed, possibly larger than the model (docs/KERAS_FORMATS.md).
SKIPPED_TOP = ("optimizer_weights", "optimizer")
# Keras 3 and tf-keras store bfloat16 weights as opaque 2-byte values (h5py: |V2); the
# layer's dtype says what they are (hdf5.WeightRef.read).
OPAQUE_16 = np.dtype("V2")


def is_weight_dtype(dtype) -> bool:
    """Whether a dataset of this dtype may be a weight, and is read: numbers, or opaque
    2-byte values."""
    return dtype.kind in "biuf" or dtype == OPAQUE_16


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
