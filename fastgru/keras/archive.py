"""The ``.keras`` zip archive (Keras 3 and tf-keras): metadata, config and the inner weights file.

Member sizes are checked from the zip directory before anything is decompressed, against the
limits below and the memory cap (FASTGRU_MAX_BYTES), and a member is decompressed into a buffer
of its declared size, never more, so a hostile archive cannot make us allocate past them.
"""
from __future__ import annotations

from .._core import check_memory_cap
from ..errors import FastGRUError
from .config import MAX_JSON_BYTES, parse_json

MAX_WEIGHTS_BYTES = 16 << 30
# Keras stores members uncompressed; a compressed member may expand at most this much (zip bombs).
MAX_EXPANSION = 100
EXPANSION_SLACK = 1 << 20
REQUIRED = ("metadata.json", "config.json", "model.weights.h5")
ZIP_MAGIC = b"PK\x03\x04"
LIMITS = {"metadata.json": MAX_JSON_BYTES, "config.json": MAX_JSON_BYTES,
          "model.weights.h5": MAX_WEIGHTS_BYTES}


def is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(len(ZIP_MAGIC)) == ZIP_MAGIC


def read_archive(path: str):
    """-> (metadata dict, config dict); the weights are ``read_weights``' job."""
    data = _read_members(path, ("metadata.json", "config.json"))
    metadata = parse_json(data["metadata.json"], f"{path}: metadata.json")
    config = parse_json(data["config.json"], f"{path}: config.json")
    if not isinstance(metadata, dict) or not isinstance(config, dict):
        raise FastGRUError(f"{path}: metadata.json and config.json must hold JSON objects")
    return metadata, config


def read_weights(path: str) -> bytes:
    """The bytes of the inner HDF5 file, model.weights.h5."""
    return _read_members(path, ("model.weights.h5",))["model.weights.h5"]


def _read_members(path, names):
    import zipfile   # here, not at import: it costs a fresh process' cold start

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise FastGRUError(f"{path}: damaged .keras archive ({e})") from None
    with zf:
        members = {info.filename: info for info in zf.infolist()}
        missing = [m for m in REQUIRED if m not in members]
        if missing:
            raise FastGRUError(f"{path}: .keras archive lacks {', '.join(missing)} "
                               f"(found {', '.join(sorted(members)[:6]) or 'nothing'})")
        data = {}
        for name in names:
            size, packed, limit = members[name].file_size, members[name].compress_size, LIMITS[name]
            if size > limit:
                raise FastGRUError(f"{path}: archive member {name} declares {size} bytes, more than "
                                   f"the limit {limit}")
            if size > packed * MAX_EXPANSION + EXPANSION_SLACK:
                raise FastGRUError(f"{path}: archive member {name} would expand from {packed} to "
                                   f"{size} bytes; refusing a likely zip bomb")
            check_memory_cap(size, f"{path}: archive member {name}")
            try:
                data[name] = _decompressed(zf, members[name])
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
                raise FastGRUError(f"{path}: cannot read archive member {name} ({e})") from None
    return data


def _decompressed(zf, info) -> bytearray:
    """The member's bytes, streamed into one buffer of its declared size (``zf.read`` joins
    chunks: twice the size at its peak); a member that ends early is an error."""
    data = bytearray(info.file_size)
    view, got = memoryview(data), 0
    with zf.open(info) as member:
        while got < len(data):
            count = member.readinto(view[got:got + (1 << 24)])
            if not count:
                raise EOFError(f"the member ends after {got} of {len(data)} bytes")
            got += count
    return data
