"""The memory cap (FASTGRU_MAX_BYTES, read once in C): images, workspaces and states sized
from a file or a run's shape fail with a FastGRUError naming the cap and the size asked for,
before anything that large is allocated. (Zip bombs, JSON depth, absurd Keras sizes and size
overflows in the readers: tests/test_readers_errors.py; in images: tests/test_format.py.)"""
import os
import struct
import subprocess
import sys
import zlib

import pytest

from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from test_model_exec import stateful_model
from test_model_stream import causal_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPPED = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from test_model_stream import causal_model
image = pack_model(causal_model())
try:
    {body}
except FastGRUError as e:
    print("FastGRUError:", e)
"""


def capped(cap, body):
    code = CAPPED.format(tests=os.path.dirname(os.path.abspath(__file__)), body=body)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=dict(os.environ, FASTGRU_MAX_BYTES=cap), timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_image_over_the_cap_is_refused_naming_cap_and_size():
    size = len(pack_model(causal_model()))
    out = capped("1K", "Model(image); print('loaded')")
    assert f"model image needs {size} bytes, over the memory cap of 1024 bytes" in out, out
    assert "FASTGRU_MAX_BYTES" in out
    assert "loaded" in capped("1M", "Model(image); print('loaded')")


def test_workspace_over_the_cap_is_refused_and_smaller_runs_still_work():
    body = ("m = Model(image)\n    x = np.zeros((1, 4, 4), np.float32)\n"
            "    m.predict([x, np.zeros((1, 3), np.float32)]); print('small ok')\n"
            "    big = np.zeros((20000, 4, 4), np.float32)\n"
            "    m.predict([big, np.zeros((20000, 3), np.float32)]); print('big ran')")
    out = capped("256K", body)
    assert "small ok" in out and "big ran" not in out, out
    assert "the run's workspace needs" in out and "over the memory cap of 262144" in out, out


def with_header_field(image, offset, fmt, value):
    bad = bytearray(image)
    struct.pack_into(fmt, bad, offset, value)
    struct.pack_into("<I", bad, 24, zlib.crc32(memoryview(bad)[32:]) & 0xFFFFFFFF)
    return bytes(bad)


def test_crafted_stateful_batch_fails_cleanly():
    image = with_header_field(pack_model(stateful_model()), 56, "<q", 1 << 60)
    with pytest.raises(FastGRUError, match=r"batch|state|memory"):
        Model(image).predict(__import__("numpy").zeros((1, 3, 4), "float32"))
