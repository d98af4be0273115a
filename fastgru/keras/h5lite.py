"""A pure-Python reader for the HDF5 subset that h5py writes for Keras files.

``read_tree`` builds the same plain tree as ``h5walk.read_tree`` (h5py), with no HDF5 library
and no child process: importing h5py and loading libhdf5 alone costs more than reading a small
model this way. The subset (HDF5 File Format Specification 2.0): superblock v0-v3, object
headers v1/v2 with continuation blocks, symbol-table groups (v1 B-trees, local heaps, SNODs)
and compact link-message groups, contiguous and compact datasets, little / big-endian integers
and IEEE floats, fixed-length and variable-length strings (global heap), scalar and simple
dataspaces, attribute messages v1-v3 in the object header. Everything else (chunked or filtered
data, dense link / attribute storage, soft or external links, shared messages, other datatypes,
creation-order tracking) and every inconsistency raises ``Unsupported``: the caller then reads
the file with h5py. Checksums of v2 structures are not verified.

A hostile file cannot make it read outside the bytes (every offset and length is checked
first), loop (B-tree nodes, continuation blocks and heaps are visited once; object counts are
bounded) or allocate more than about the file's size (data, attributes and strings copied
out, and a few bytes per object walked, are counted against it).
"""
from __future__ import annotations

import math
import struct

import numpy as np

from ..errors import FastGRUError
from .h5tree import (MAX_WEIGHT_ELEMENTS, OPAQUE_16, SKIPPED_TOP, Attributes, Dataset, Group,
                     ObjectCounter, is_weight_dtype)

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_RANK = 32                    # HDF5's own limit
# Charged to the copy budget per object walked: no file holds an object in fewer bytes, so
# only hard links fanning out (the same objects reached many times) can exhaust it
OBJECT_COST = 16

# Object header message types (spec section IV.A.2)
NIL, DATASPACE, LINK_INFO, DATATYPE, LAYOUT, LINK = 0x00, 0x01, 0x02, 0x03, 0x08, 0x06
EXTERNAL_FILES, FILTERS, ATTRIBUTE, CONTINUATION = 0x07, 0x0B, 0x0C, 0x10
SYMBOL_TABLE, ATTRIBUTE_INFO = 0x11, 0x15
# Types safely ignored here: fill values, group info, comments, times, reference counts...
IGNORED = {NIL, 0x04, 0x05, 0x0A, 0x0D, 0x0E, 0x12, 0x16}
KNOWN = IGNORED | {DATASPACE, LINK_INFO, DATATYPE, LAYOUT, LINK, EXTERNAL_FILES, FILTERS,
                   ATTRIBUTE, CONTINUATION, SYMBOL_TABLE, ATTRIBUTE_INFO}
MSG_SHARED, MSG_FAIL_IF_UNKNOWN = 0x02, 0x08 | 0x80

# IEEE layouts h5py maps to numpy floats: size -> (exponent location, size, mantissa
# location, size, bias)
IEEE = {2: (10, 5, 0, 10, 15), 4: (23, 8, 0, 23, 127), 8: (52, 11, 0, 52, 1023)}

# The errors a damaged file may still provoke in struct / numpy / decoding despite the checks
DAMAGE = (struct.error, IndexError, ValueError, OverflowError, UnicodeDecodeError,
          RecursionError, MemoryError)


class Unsupported(Exception):
    """The file is outside the subset (or inconsistent): read it with h5py instead."""


def read_tree(data, where: str) -> Group:
    """The plain tree of the HDF5 file ``data`` (bytes), as ``h5walk.read_tree`` gives it."""
    try:
        return _Reader(bytes(data), where).root()
    except FastGRUError:        # the object / depth limits: h5py's walk says the same
        raise
    except DAMAGE as e:
        raise Unsupported(f"inconsistent data ({type(e).__name__}: {e})") from None


class _Cursor:
    """Reads fields in order from ``data[start:end]``; never past ``end``."""

    __slots__ = ("data", "pos", "end", "sizes")

    def __init__(self, data, start, end, sizes):
        if not 0 <= start <= end <= len(data):
            raise Unsupported(f"a structure at {start}..{end} lies outside the file "
                              f"({len(data)} bytes)")
        self.data, self.pos, self.end, self.sizes = data, start, end, sizes

    def left(self) -> int:
        return self.end - self.pos

    def read(self, fmt: struct.Struct) -> tuple:
        if self.pos + fmt.size > self.end:
            raise Unsupported(f"a field at {self.pos} runs past its structure's end {self.end}")
        values = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return values

    def u8(self) -> int:
        return self.read(_s("<B"))[0]

    def address(self):
        """An address (int), or None for HDF5's "undefined" (all bits set)."""
        value = self.read(self.sizes.offset)[0]
        return None if value == self.sizes.undefined else value

    def length(self) -> int:
        return self.read(self.sizes.length)[0]

    def take(self, n: int) -> "_Cursor":
        """A cursor over the next ``n`` bytes, which this one skips."""
        if n < 0 or self.pos + n > self.end:
            raise Unsupported(f"a {n}-byte block at {self.pos} runs past its structure's end "
                              f"{self.end}")
        sub = _Cursor(self.data, self.pos, self.pos + n, self.sizes)
        self.pos += n
        return sub

    def skip(self, n: int) -> None:
        self.take(n)

    def expect(self, signature: bytes, what: str) -> None:
        if self.take(len(signature)).raw() != signature:
            raise Unsupported(f"no {what} signature {signature!r} at {self.pos - len(signature)}")

    def raw(self) -> bytes:
        return self.data[self.pos:self.end]


_STRUCTS = {fmt: struct.Struct(fmt) for fmt in
            ("<B", "<BB", "<BBB", "<BBH", "<BHHH", "<H", "<I", "<Q", "<BBHII", "<BHB", "<HHB",
             "<BBBBI", "<HH", "<HHBBBBI", "<HH4x")}


def _s(fmt):
    return _STRUCTS[fmt]


class _Sizes:
    """The file's sizes of offsets and lengths (superblock)."""

    def __init__(self, offset_size, length_size):
        formats = {4: _s("<I"), 8: _s("<Q")}
        if offset_size not in formats or length_size not in formats:
            raise Unsupported(f"sizes of offsets / lengths {offset_size} / {length_size} "
                              f"(4 or 8 supported)")
        self.offset, self.length = formats[offset_size], formats[length_size]
        self.offset_size, self.length_size = offset_size, length_size
        self.undefined = (1 << (8 * offset_size)) - 1


class _Datatype:
    """What a datatype message says: a numpy dtype, plus for text how it is stored."""

    def __init__(self, dtype, vlen=False, null_terminated=False):
        self.dtype, self.vlen, self.null_terminated = dtype, vlen, null_terminated


class _Reader:
    def __init__(self, data: bytes, where: str):
        self.data, self.where = data, where
        self.counter = ObjectCounter(where)
        self.budget = len(data)   # bytes still allowed to be copied out: data, attributes, strings
        self.headers: dict = {}   # object header address -> its messages
        self.heaps: dict = {}     # global heap collection address -> {index: (start, size)}
        self.sizes, self.root_address = self._superblock()

    def cursor(self, start, end=None) -> _Cursor:
        return _Cursor(self.data, start, len(self.data) if end is None else end, self.sizes)

    def _superblock(self):
        if not self.data.startswith(SIGNATURE):
            raise Unsupported("no HDF5 signature at offset 0 (a user block?)")
        c = _Cursor(self.data, len(SIGNATURE), len(self.data), None)
        version = c.u8()
        if version in (0, 1):
            c.skip(4)          # free-space, root group and shared-header format versions
            offset_size, length_size = c.read(_s("<BB"))
            c.skip(1 + 2 + 2 + 4 + (4 if version == 1 else 0))   # group K values, flags
            c.sizes = sizes = _Sizes(offset_size, length_size)
            base = c.address()
            c.skip(offset_size)       # free-space info address
            eof, driver = c.address(), c.address()
            c.skip(offset_size)       # the root entry's link name offset
            root = c.address()
            if driver is not None:
                raise Unsupported("a driver information block")
        elif version in (2, 3):
            offset_size, length_size = c.read(_s("<BB"))
            c.skip(1)                 # consistency flags
            c.sizes = sizes = _Sizes(offset_size, length_size)
            base, extension, eof, root = c.address(), c.address(), c.address(), c.address()
            if extension is not None:
                raise Unsupported("a superblock extension (shared messages, file space info)")
        else:
            raise Unsupported(f"superblock version {version}")
        if base != 0:
            raise Unsupported(f"base address {base}")
        if eof is None or eof > len(self.data):   # as HDF5: a truncated file
            raise Unsupported(f"end of file address {eof}, but the file has {len(self.data)} bytes")
        return sizes, root

    # ---- object headers ---------------------------------------------------------------------
    def header(self, address) -> list:
        """[(message type, _Cursor over its data)] of the object at ``address``, continuation
        blocks followed (each once); parsed once, kept as (type, start, end)."""
        if address is None:
            raise Unsupported("a link to an undefined address")
        if address not in self.headers:
            if self.data.startswith(b"OHDR", address):
                self.headers[address] = self._header_v2(address)
            else:
                self.headers[address] = self._header_v1(address)
        # fresh cursors: an object reached by two links is read twice
        return [(kind, self.cursor(start, end)) for kind, start, end in self.headers[address]]

    def _header_v1(self, address):
        c = self.cursor(address)
        version, _, _, _, size = c.read(_s("<BBHII"))   # count, reference count, size
        if version != 1:
            raise Unsupported(f"object header version {version} at {address}")
        c.skip(4)                                       # alignment to 8 bytes
        return self._messages(c.take(size), _s("<HHB"), 3, address, b"")

    def _header_v2(self, address):
        c = self.cursor(address + 4)
        version, flags = c.read(_s("<BB"))
        if version != 2:
            raise Unsupported(f"object header version {version} at {address}")
        if flags & 0x04:
            raise Unsupported(f"object at {address} tracks attribute creation order")
        c.skip((16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0))   # times, phase change
        size = c.read(_s(("<B", "<H", "<I", "<Q")[flags & 3]))[0]
        return self._messages(c.take(size), _s("<BHB"), 0, address, b"OCHK")

    def _messages(self, block, prefix, padding, address, continuation_signature):
        """The messages of the first block and of every continuation block; ``prefix`` reads
        (type, size, flags), followed by ``padding`` reserved bytes."""
        messages, seen, blocks = [], set(), [block]
        head = prefix.size + padding
        while blocks:
            c = blocks.pop(0)
            while c.left() >= head:
                kind, size, flags = c.read(prefix)
                c.skip(padding)
                body = c.take(size)
                if kind not in KNOWN:
                    if flags & MSG_FAIL_IF_UNKNOWN:
                        raise Unsupported(f"object header message type {kind:#x} at {address}")
                    continue
                if flags & MSG_SHARED and kind not in IGNORED:
                    raise Unsupported(f"a shared message (type {kind:#x}) at {address}")
                if kind == CONTINUATION:
                    start, length = body.address(), body.length()
                    if start is None or start in seen:
                        raise Unsupported(f"a continuation block of object {address} is "
                                          f"undefined or seen twice")
                    seen.add(start)
                    sig = len(continuation_signature)
                    block_c = self.cursor(start, start + length)
                    if sig:
                        block_c.expect(continuation_signature, "continuation block")
                        block_c.end -= 4      # the checksum
                        if block_c.end < block_c.pos:
                            raise Unsupported(f"a too short continuation block at {start}")
                    blocks.append(block_c)
                elif kind not in IGNORED:
                    messages.append((kind, body.pos, body.end))
        return messages

    # ---- the tree ---------------------------------------------------------------------------
    def root(self) -> Group:
        return self.group(self.header(self.root_address), "/", 0)

    def node(self, address, name, depth):
        messages = self.header(address)
        kinds = {kind for kind, _ in messages}
        if kinds & {SYMBOL_TABLE, LINK_INFO, LINK}:
            return self.group(messages, name, depth)
        if LAYOUT in kinds:
            self.counter.count(name, depth)
            return self.dataset(messages, name)
        raise Unsupported(f"object {name} is neither a group nor a dataset")

    def group(self, messages, name, depth) -> Group:
        self.counter.count(name, depth)
        attrs = self.attributes(messages, name)
        children = {}
        for key, address in self.links(messages, name):
            if depth == 0 and key in SKIPPED_TOP:
                continue
            path = f"/{key}" if name == "/" else f"{name}/{key}"
            self.spend(OBJECT_COST, path)
            children[key] = self.node(address, path, depth + 1)
        return Group(name, Attributes(attrs), children)

    def links(self, messages, name) -> list:
        """[(name, object header address)] in h5py's order (by name)."""
        links = []
        for kind, body in messages:
            if kind == SYMBOL_TABLE:
                links += self.symbol_table(body.address(), body.address())
            elif kind == LINK_INFO:
                version, flags = body.read(_s("<BB"))
                if version != 0:
                    raise Unsupported(f"link info message version {version} in {name}")
                if flags & 0x01:
                    raise Unsupported(f"group {name} tracks link creation order")
                if body.address() is not None:
                    raise Unsupported(f"group {name} stores its links densely (fractal heap)")
            elif kind == LINK:
                links.append(self.link(body, name))
        if any(kind == LINK for kind, _ in messages):
            links.sort(key=lambda item: item[0].encode("utf-8", "surrogateescape"))
        return links

    def link(self, c, group):
        version, flags = c.read(_s("<BB"))
        if version != 1:
            raise Unsupported(f"link message version {version} in {group}")
        link_type = c.u8() if flags & 0x08 else 0
        c.skip((8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0))  # creation order, charset
        size = c.read(_s(("<B", "<H", "<I", "<Q")[flags & 3]))[0]
        name = _text(c.take(size).raw(), group)
        if link_type != 0:
            raise Unsupported(f"{group}/{name} is a soft or external link (type {link_type})")
        return name, c.address()

    def symbol_table(self, btree, heap) -> list:
        """The entries of an old-style group: a v1 B-tree of SNOD nodes, names in a local heap."""
        names = self.local_heap(heap)
        links, seen, stack = [], set(), [(btree, None)]
        while stack:
            address, level = stack.pop()
            if address is None or address in seen:
                raise Unsupported(f"a group B-tree node at {address} is undefined or seen twice")
            seen.add(address)
            c = self.cursor(address)
            c.expect(b"TREE", "B-tree node")
            node_type, node_level = c.read(_s("<BB"))
            entries = c.read(_s("<H"))[0]
            if node_type != 0 or (level is not None and node_level != level):
                raise Unsupported(f"B-tree node at {address}: type {node_type}, level "
                                  f"{node_level} where {level} was expected")
            c.skip(2 * self.sizes.offset_size)          # siblings
            children = []
            for _ in range(entries):
                c.skip(self.sizes.length_size)          # key: a name's heap offset
                children.append(c.address())
            if node_level > 0:
                stack += [(child, node_level - 1) for child in reversed(children)]
            else:
                for child in children:
                    if child in seen:
                        raise Unsupported(f"symbol table node at {child} seen twice")
                    seen.add(child)
                    links += self.symbol_node(child, names)
        return links

    def symbol_node(self, address, names) -> list:
        if address is None:
            raise Unsupported("an undefined symbol table node")
        c = self.cursor(address)
        c.expect(b"SNOD", "symbol table node")
        version, _, count = c.read(_s("<BBH"))
        if version != 1:
            raise Unsupported(f"symbol table node version {version} at {address}")
        links = []
        for _ in range(count):
            name_offset = c.read(self.sizes.offset)[0]
            header = c.address()
            cache_type = c.read(_s("<I"))[0]
            c.skip(4 + 16)                              # reserved, scratch pad
            if cache_type == 2:
                raise Unsupported(f"a soft link in the symbol table node at {address}")
            end = names.find(b"\0", name_offset)
            if name_offset >= len(names) or end < 0:
                raise Unsupported(f"a link name at heap offset {name_offset} outside its heap")
            links.append((_text(names[name_offset:end], f"node {address}"), header))
        return links

    def heap_prefix(self, address, signature, what):
        """(cursor after it, version, size) of a local or global heap's common prefix."""
        if address is None:
            raise Unsupported(f"an undefined {what}")
        c = self.cursor(address)
        c.expect(signature, what)
        version = c.u8()
        c.skip(3)
        return c, version, c.length()

    def local_heap(self, address) -> bytes:
        c, version, size = self.heap_prefix(address, b"HEAP", "local heap")
        c.length()                                      # free list
        start = c.address()
        if version != 0 or start is None:
            raise Unsupported(f"local heap at {address}: version {version}, data at {start}")
        return self.cursor(start, start + size).raw()

    # ---- attributes -------------------------------------------------------------------------
    def attributes(self, messages, name) -> dict:
        items = []
        for kind, body in messages:
            if kind == ATTRIBUTE_INFO:
                version, flags = body.read(_s("<BB"))
                body.skip(2 if flags & 0x01 else 0)
                if version != 0 or body.address() is not None:
                    raise Unsupported(f"{name} stores its attributes densely (fractal heap)")
            elif kind == ATTRIBUTE:
                items.append(self.attribute(body, name))
        items.sort(key=lambda item: item[0].encode("utf-8", "surrogateescape"))  # h5py: by name
        return dict(items)

    def attribute(self, c, owner):
        version = c.u8()
        flags, name_size, type_size, space_size = c.read(_s("<BHHH"))   # v1: flags reserved
        if version == 1:
            pad = _pad8
        elif version in (2, 3):
            if flags & 0x03:
                raise Unsupported(f"a shared datatype or dataspace in an attribute of {owner}")
            c.skip(1 if version == 3 else 0)            # name encoding
            pad = _same
        else:
            raise Unsupported(f"attribute message version {version} in {owner}")
        raw_name = c.take(pad(name_size)).raw()[:name_size]
        name = _text(raw_name.split(b"\0", 1)[0], owner)
        datatype = self.datatype(c.take(pad(type_size)), f"{owner} attribute {name!r}")
        shape = self.dataspace(c.take(pad(space_size)), f"{owner} attribute {name!r}")
        return name, self.value(datatype, shape, c, f"{owner} attribute {name!r}")

    def value(self, datatype, shape, c, what):
        """An attribute's value as h5py returns it: numpy scalar / array, bytes_, str."""
        count = math.prod(shape)
        if datatype.vlen:
            refs = c.take(count * (8 + self.sizes.offset_size))
            self.spend(count * 8, what)                 # the object array's pointers
            array = np.empty(count, dtype=object)
            for i in range(count):
                length = refs.read(_s("<I"))[0]
                collection = refs.address()
                index = refs.read(_s("<I"))[0]
                array[i] = self.heap_string(collection, index, length, what)
            array = array.reshape(shape)
        else:
            size = count * datatype.dtype.itemsize
            self.spend(size, what)
            array = np.frombuffer(c.take(size).raw(), datatype.dtype, count).reshape(shape)
            if datatype.null_terminated:
                array = np.array([item.split(b"\0", 1)[0] for item in array.flat],
                                 dtype=datatype.dtype).reshape(shape)
            array = array.copy()
        return array[()] if array.ndim == 0 else array

    def heap_string(self, collection, index, length, what) -> str:
        """A variable-length string: ``length`` bytes of a global heap object, cut at a NUL
        and decoded as h5py does."""
        if length == 0:
            return ""
        start, size = self.global_heap(collection).get(index, (0, -1))
        if length > size:
            raise Unsupported(f"{what}: a {length}-byte string in a {size}-byte heap object "
                              f"({collection}, {index})")
        self.spend(length, what)
        return self.data[start:start + length].split(b"\0", 1)[0].decode("utf-8",
                                                                         "surrogateescape")

    def global_heap(self, address) -> dict:
        if address not in self.heaps:
            c, version, size = self.heap_prefix(address, b"GCOL", "global heap")
            if version != 1 or size < c.pos - address:
                raise Unsupported(f"global heap at {address}: version {version}, size {size}")
            c = self.cursor(c.pos, address + size)
            objects = {}
            while c.left() >= 8 + self.sizes.length_size:
                index = c.read(_s("<HH4x"))[0]
                length = c.length()
                if index == 0:                          # free space: the end
                    break
                start = c.pos
                c.skip(_pad8(length))
                objects[index] = (start, length)
            self.heaps[address] = objects
        return self.heaps[address]

    def spend(self, size, what) -> None:
        self.budget -= size
        if self.budget < 0:
            raise Unsupported(f"{what}: more data than the file holds (overlapping storage)")

    # ---- datatypes, dataspaces, datasets ----------------------------------------------------
    def datatype(self, c, what) -> _Datatype:
        class_version, bits0, bits1, _, size = c.read(_s("<BBBBI"))
        kind, version = class_version & 0x0F, class_version >> 4
        if version not in (1, 2, 3):
            raise Unsupported(f"{what}: datatype version {version}")
        if kind == 0:                                   # fixed-point
            offset, precision = c.read(_s("<HH"))
            if size not in (1, 2, 4, 8) or offset != 0 or precision != 8 * size:
                raise Unsupported(f"{what}: an integer of {size} bytes, bits {offset}+{precision}")
            order = ">" if bits0 & 0x01 else "<"
            return _Datatype(np.dtype(f"{order}{'i' if bits0 & 0x08 else 'u'}{size}"))
        if kind == 1:                                   # floating-point
            offset, precision, *layout = c.read(_s("<HHBBBBI"))
            if bits0 & 0x40 or offset != 0 or precision != 8 * size or \
                    IEEE.get(size) != tuple(layout):
                raise Unsupported(f"{what}: a non-IEEE float of {size} bytes")
            return _Datatype(np.dtype(f"{'>' if bits0 & 0x01 else '<'}f{size}"))
        if kind == 3:                                   # fixed-length string
            padding, charset = bits0 & 0x0F, bits0 >> 4
            if padding > 1 or charset > 1 or size == 0:
                raise Unsupported(f"{what}: a string with padding {padding}, charset {charset}")
            return _Datatype(np.dtype(f"S{size}"), null_terminated=padding == 0)
        if kind == 5 and size == 2 and bits0 == 0:      # opaque, untagged: Keras' bfloat16
            return _Datatype(OPAQUE_16)
        if kind == 9 and bits0 & 0x0F == 1 and bits1 & 0x0F <= 1:   # variable-length string
            return _Datatype(np.dtype(object), vlen=True)
        raise Unsupported(f"{what}: datatype class {kind} (bits {bits0:#x})")

    def dataspace(self, c, what) -> tuple:
        version, rank, flags = c.read(_s("<BBB"))
        if version == 1:
            c.skip(5)
        elif version == 2:
            if c.u8() not in (0, 1):
                raise Unsupported(f"{what}: an empty (null) dataspace")
        else:
            raise Unsupported(f"{what}: dataspace version {version}")
        if rank > MAX_RANK:
            raise Unsupported(f"{what}: rank {rank}")
        return tuple(c.length() for _ in range(rank))

    def dataset(self, messages, name) -> Dataset:
        found = {}
        for kind, body in messages:
            if kind in (EXTERNAL_FILES, FILTERS):
                raise Unsupported(f"dataset {name} has external storage or filters")
            found.setdefault(kind, body)
        if DATATYPE not in found or DATASPACE not in found:
            raise Unsupported(f"dataset {name} lacks a datatype or dataspace message")
        dtype = self.datatype(found[DATATYPE], f"dataset {name}").dtype
        shape = self.dataspace(found[DATASPACE], f"dataset {name}")
        count = math.prod(shape)
        data = None
        # sizes checked BEFORE reading, as h5walk does: only numbers, only what a weight may hold
        if is_weight_dtype(dtype) and count <= MAX_WEIGHT_ELEMENTS:
            start = self.layout(found[LAYOUT], count * dtype.itemsize, name)
            data = np.frombuffer(self.data, dtype, count, start).reshape(shape)
            data = np.asarray(data[()]) if data.ndim == 0 else data.copy()  # h5py: scalar -> native
        return Dataset(name, shape, dtype, data)

    def layout(self, c, size, name) -> int:
        """Where the ``size`` bytes of a contiguous or compact dataset start."""
        version, layout_class = c.read(_s("<BB"))
        if version not in (3, 4) or layout_class not in (0, 1):
            raise Unsupported(f"dataset {name}: layout version {version}, class {layout_class} "
                              f"(chunked, virtual or old)")
        if layout_class == 0:
            stored = c.read(_s("<H"))[0]
            block = c.take(stored)
        else:
            start, stored = c.address(), c.length()
            if start is None:
                if size:
                    raise Unsupported(f"dataset {name} was never written (fill value)")
                return 0
            block = self.cursor(start, start + stored)
        if stored < size:
            raise Unsupported(f"dataset {name}: {stored} bytes stored, {size} needed")
        self.spend(size, f"dataset {name}")
        return block.pos


def _pad8(n):
    return (n + 7) & ~7


def _same(n):
    return n


def _text(raw: bytes, where) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported(f"a name in {where} is not UTF-8: {raw[:40]!r}") from None
