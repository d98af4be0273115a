"""Which reader builds a Keras file's plain tree (``h5tree.py``): fastgru's own (``h5lite``)
in this process, or, for files outside its subset, h5py (``h5walk``) in a child process
(``isolate``); ``FASTGRU_HDF5_READER`` can force either.
"""
from __future__ import annotations

import io
import os

import numpy as np

from ..errors import FastGRUError
from . import isolate
from .h5transfer import decode, read_array
from .h5tree import Group
from .h5walk import H5pyReader, source_argument

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


def _in_process(write) -> io.BytesIO:
    """What ``write(out)`` wrote, with h5py in this process (isolation off). An error other
    than a ``FastGRUError`` comes out as ``OSError``, as the child reports it (``isolate.py``):
    h5py raises a zoo of exception types on damaged data."""
    out = io.BytesIO()
    try:
        write(out)
    except FastGRUError:
        raise
    except Exception as e:
        raise OSError(f"{type(e).__name__}: {e}") from e
    out.seek(0)
    return out


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
        if isolate.enabled():
            self._child = isolate.Child("fastgru.keras.h5walk:serve", source_argument(
                self.path, self.where, self._bytes), serve=True)
        else:
            self._h5py = H5pyReader(self._h5py_source, self.where)

    def _is_archive(self) -> bool:
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
        return _in_process(self._h5py.tree).getvalue()

    def _dataset(self, name: str) -> np.ndarray:
        request = name.encode("utf-8", "surrogateescape")
        if self._child is not None:
            data = io.BytesIO(self._child.ask(request, self.where))
        else:
            data = _in_process(lambda out: self._h5py.dataset(request, out))
        return read_array(data)

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
            if self._h5py is None and self._child is None:
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
