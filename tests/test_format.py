"""The model image format (docs/FORMAT.md): layout, alignment, checksum, versioning, and a
loader that answers every corrupt or hostile image with FastGRUError, never a crash."""
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from fastgru import format as fmt
from fastgru.errors import FastGRUError
from fastgru.model import Model
from test_model_exec import bidirectional, embedding_model, masked_stack
from test_model_stream import causal_model

HERE = os.path.dirname(os.path.abspath(__file__))


def header(image):
    names = ("magic major minor header_bytes total crc features n_tensors n_ops n_weights "
             "n_index n_inputs n_outputs stateful_batch tensors_off ops_off weights_off "
             "index_off strings_off strings_bytes meta_off meta_bytes").split()
    return dict(zip(names, fmt.HEADER.unpack_from(image)))


def with_crc(image: bytearray) -> bytes:
    struct.pack_into("<I", image, 24, zlib.crc32(memoryview(image)[32:]) & 0xFFFFFFFF)
    return bytes(image)


@pytest.fixture(scope="module")
def image():
    return fmt.pack_model(causal_model())


def test_header_layout_alignment_and_checksum(image):
    h = header(image)
    assert h["magic"] == b"FGRUIMG\0" and (h["major"], h["minor"]) == (1, 0)
    assert h["header_bytes"] == 128 and h["total"] == len(image)
    assert h["crc"] == zlib.crc32(image[32:]) & 0xFFFFFFFF
    for k in ("tensors_off", "ops_off", "weights_off", "index_off", "strings_off", "meta_off"):
        assert h[k] % 64 == 0 and 128 <= h[k] <= len(image)
    for i in range(h["n_weights"]):
        off, nbytes, dtype, layout, rank, *dims, _ = fmt.WEIGHT.unpack_from(
            image, h["weights_off"] + i * fmt.WEIGHT.size)
        assert off % 64 == 0 and off + nbytes <= len(image) and dtype == 0
        if layout == fmt.LAYOUT_PLAIN:
            assert nbytes == 4 * int(np.prod(dims[:rank]))


def test_plain_weights_are_stored_verbatim(image):
    spec = causal_model()
    dense = next(op for op in spec.ops if op.kind == "dense")
    assert dense.weights["kernel"].tobytes() in image


def test_metadata(image):
    meta = fmt.read_metadata(image)
    assert meta["name"] == "causal" and meta["keras_version"] == 3
    assert [t["name"] for t in meta["inputs"]] == ["x", "h0"]
    assert meta["inputs"][0]["shape"] == [None, 4]
    assert [l["name"] for l in meta["layers"]][:2] == ["x", "h0"]
    gru = next(l for l in meta["layers"] if l["name"] == "gru1")
    assert [w["part"] for w in gru["weights"]] == ["kernel", "recurrent_kernel", "bias"]


def test_images_are_deterministic():
    assert fmt.pack_model(masked_stack()) == fmt.pack_model(masked_stack())


def test_future_major_version_is_refused(image):
    bad = bytearray(image)
    struct.pack_into("<H", bad, 8, 2)
    bad = with_crc(bad)
    with pytest.raises(FastGRUError, match=r"version 2\.0"):
        Model(bad)
    with pytest.raises(FastGRUError, match=r"version 2\.0"):
        fmt.read_metadata(bad)


def test_newer_minor_version_loads(image):
    newer = bytearray(image)
    struct.pack_into("<H", newer, 10, 7)
    Model(with_crc(newer))


def test_flipped_byte_fails_the_checksum(image):
    for pos in (40, len(image) // 2, len(image) - 1):
        bad = bytearray(image)
        bad[pos] ^= 0x10
        with pytest.raises(FastGRUError, match="checksum"):
            Model(bytes(bad))


def test_truncated_or_not_an_image(image):
    for n in sorted({0, 1, 8, 31, 127, 128, 200, len(image) // 2, len(image) - 1}):
        with pytest.raises(FastGRUError):
            Model(image[:n])
    with pytest.raises(FastGRUError, match="magic"):
        Model(b"PK\x03\x04" + image[4:])


def test_unaligned_buffer_is_accepted(image):
    """A buffer that is not 64-byte aligned is copied once, and runs the same."""
    raw = bytearray(len(image) + 1)
    raw[1:] = image
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    h0 = np.zeros((2, 3), np.float32)
    got = Model(memoryview(raw)[1:]).predict([x, h0])
    expected = Model(image).predict([x, h0])
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


FUZZ = r"""
import struct, sys, zlib
import numpy as np
from fastgru.errors import FastGRUError
from fastgru.model import Model
from fastgru import format as fmt

image = open(sys.argv[1], "rb").read()
rng = np.random.default_rng(int(sys.argv[2]))
h = fmt.HEADER.unpack_from(image)
n_tensors, n_ops, n_weights, n_index = h[7:11]
tables_end = h[-2]                   # metadata offset: every table lies before it
loaded = refused = 0

def try_load(blob):
    global loaded, refused
    blob = bytearray(blob)
    struct.pack_into("<I", blob, 24, zlib.crc32(memoryview(blob)[32:]) & 0xFFFFFFFF)
    try:
        model = Model(bytes(blob))
    except FastGRUError:
        refused += 1
        return
    loaded += 1
    try:   # a model that loads must also run safely (or refuse the input)
        feed = []
        for t in model.inputs:
            shape = tuple(2 if i == 0 else 3 if d is None else d for i, d in enumerate(t.shape))
            if np.prod(shape) > 1e6:
                raise FastGRUError("too big to feed")
            feed.append(np.ones(shape, dtype=t.dtype))
        model.predict(feed if len(feed) > 1 else feed[0])
    except FastGRUError:
        pass
    for layer in model.layers:
        try:
            layer.get_weights()
        except FastGRUError:
            pass

# every 32-bit word of the header after the checksum, set to hostile values
words = [0, 1, 2, 0x7F, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFC0]
for pos in range(32, 128, 4):
    old = struct.unpack_from("<I", image, pos)[0]
    for v in words + [old + 1, old - 1 & 0xFFFFFFFF, old + 64, old * 2 & 0xFFFFFFFF]:
        blob = bytearray(image)
        struct.pack_into("<I", blob, pos, v & 0xFFFFFFFF)
        try_load(blob)
# random words in the tables (tensors, ops, weight records, index, strings)
for _ in range(int(sys.argv[3])):
    blob = bytearray(image)
    pos = int(rng.integers(128, tables_end - 4)) & ~3
    v = int(rng.choice(words + [int(rng.integers(0, 2**32))]))
    struct.pack_into("<I", blob, pos, v & 0xFFFFFFFF)
    try_load(blob)
# random single-byte changes anywhere before the weight data
for _ in range(int(sys.argv[3])):
    blob = bytearray(image)
    blob[int(rng.integers(32, tables_end))] = int(rng.integers(0, 256))
    try_load(blob)
print("loaded", loaded, "refused", refused)
"""


@pytest.mark.parametrize("model", ["causal", "bidirectional", "embedding", "stack"])
def test_mutated_images_never_crash(tmp_path, model):
    """Thousands of hostile variants (header words, table words, bytes; checksum fixed up so
    the checks behind it are reached): each loads and runs, or raises FastGRUError. Run in a
    subprocess so a crash fails this test instead of killing pytest."""
    spec = {"causal": causal_model, "bidirectional": lambda: bidirectional("concat"),
            "embedding": embedding_model, "stack": masked_stack}[model]()
    path = tmp_path / "m.fgru"
    path.write_bytes(fmt.pack_model(spec))
    loaded, refused = fuzz_image(path, seed=1, count=1500)
    assert refused > 1000 and loaded > 0


def fuzz_image(path, seed, count):
    """FUZZ on the image at `path` in a subprocess (a crash fails the caller's test instead of
    killing pytest): (how many variants loaded, how many were refused)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]))
    proc = subprocess.run([sys.executable, "-c", FUZZ, str(path), str(seed), str(count)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"fuzz process died ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return int(proc.stdout.split()[1]), int(proc.stdout.split()[3])
