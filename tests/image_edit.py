"""Rewriting a valid model image's metadata JSON, header and CRC fixed, so that tests and the
reader fuzzer (fuzz/fuzz_readers.py) can hand the loader a CRC-valid image whose only fault
is hostile metadata."""
import struct
import zlib

from fastgru import format as fmt

_META_FIELDS = struct.Struct("<QQ")          # the header's last two fields: offset, bytes


def with_metadata(image: bytes, metadata: bytes) -> bytes:
    """`image` with its metadata replaced by `metadata`, placed (aligned) after everything
    else; the old metadata bytes stay where they were, unreferenced."""
    at = -(-len(image) // fmt.ALIGN) * fmt.ALIGN
    out = bytearray(image) + bytearray(at - len(image)) + bytearray(metadata)
    out += bytearray(-len(out) % fmt.ALIGN)
    struct.pack_into("<Q", out, 16, len(out))                       # total bytes
    struct.pack_into(_META_FIELDS.format, out, fmt.HEADER_BYTES - _META_FIELDS.size, at,
                     len(metadata))
    struct.pack_into("<I", out, 24, zlib.crc32(memoryview(out)[fmt.CRC_FROM:]) & 0xFFFFFFFF)
    return bytes(out)
