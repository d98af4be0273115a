"""``fastgru run``'s files: .npy / .npz inputs read with their headers checked first, and the
outputs written as .npy (one output) or .npz named by the model's output names.

A .npy header states the array's shape and dtype; a hostile one can claim gigabytes that the
file does not hold, so the claim is checked against the bytes really there before numpy
allocates anything. Object arrays (pickles) are refused: nothing from a file is executed.
"""
from __future__ import annotations

import os
import zipfile
from typing import BinaryIO, Dict, List, Tuple

import numpy as np

from .errors import FastGRUError
from .output_file import replaced_atomically

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")    # a zip with members / an empty zip


def _read_npy(f: BinaryIO, available: int, where: str) -> np.ndarray:
    """One .npy stream holding `available` bytes, header included."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise FastGRUError(f"{where}: .npy format version {version} is not supported "
                               f"(np.save writes 1.0 or 2.0)")
    except ValueError as exc:
        raise FastGRUError(f"{where}: not a valid .npy header ({exc})") from None
    if dtype.hasobject:
        raise FastGRUError(f"{where}: holds Python objects (a pickle), which fastgru never "
                           f"loads; save numbers")
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = available - f.tell()
    if claimed > held:
        raise FastGRUError(f"{where}: the header claims shape {shape} {dtype} ({claimed} "
                           f"bytes) but the file holds {held} bytes of data")
    raw = f.read(claimed)
    if len(raw) != claimed:
        raise FastGRUError(f"{where}: the data ends after {len(raw)} of {claimed} bytes")
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _kind(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(6)
    except FileNotFoundError:
        raise FastGRUError(f"{path}: no such input file") from None
    except OSError as exc:
        raise FastGRUError(f"{path}: cannot be read ({exc.strerror})") from None


def read_inputs(path: str) -> List[Tuple[str, np.ndarray]]:
    """(name, array) for each array of a .npy (named after the file) or .npz file."""
    head = _kind(path)
    if head == NPY_MAGIC:
        with open(path, "rb") as f:
            return [(os.path.basename(path), _read_npy(f, os.fstat(f.fileno()).st_size, path))]
    if head[:4] not in ZIP_MAGICS:
        raise FastGRUError(f"{path}: not a .npy or .npz file (it starts with {head!r}); "
                           f"fastgru run reads NumPy arrays saved with np.save / np.savez")
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = []
            for info in archive.infolist():
                where = f"{path}: member {info.filename!r}"
                with archive.open(info) as f:
                    arrays.append((info.filename[:-4] if info.filename.endswith(".npy")
                                   else info.filename, _read_npy(f, info.file_size, where)))
            return arrays
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise FastGRUError(f"{path}: not a readable .npz file ({exc})") from None


def output_path(path: str, n_outputs: int) -> str:
    """The file `write_outputs` writes: -o as given when it ends in .npy (one output) or .npz,
    else with that extension added, as np.save / np.savez do."""
    if os.path.isdir(path):
        raise FastGRUError(f"{path}: is a folder; name the file to write")
    extension = ".npy" if n_outputs == 1 and not path.endswith(".npz") else ".npz"
    return path if path.endswith(extension) else path + extension


def write_outputs(path: str, outputs: Dict[str, np.ndarray]) -> str:
    """Write the named outputs to `path` (see output_path); returns the path written."""
    real = output_path(path, len(outputs))
    with replaced_atomically(real) as f:
        if real.endswith(".npy"):
            np.lib.format.write_array(f, next(iter(outputs.values())), allow_pickle=False)
        else:
            _write_npz(f, outputs)
    return real


def _write_npz(f: BinaryIO, outputs: Dict[str, np.ndarray]) -> None:
    """The members np.savez writes, for any output name (np.savez(**outputs) would clash with
    its own argument names)."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in outputs.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
