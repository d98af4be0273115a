"""Hardening, round 2: the memory cap (FASTGRU_MAX_BYTES) covers what a file or a run makes
fastgru allocate, in both HDF5 readers (the h5py child included), in .keras archives, for
.fgru files and for a run's outputs; a malformed cap fails closed; special files are refused
before they are read. Every hostile input is made here. The cap is read once per process, so
capped cases run in a fresh interpreter that reports its own and its children's peak RSS."""
import os
import shutil
import subprocess
import sys
import time
import zipfile
import zlib

import numpy as np
import pytest

import fastgru
from fastgru.format import pack_model
from fastgru.keras.archive import MAX_EXPANSION
from model_cases import SpecBuilder
from test_c_library import c_build, converted, needs_make, run  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(TESTS, "fixtures", "keras2")
MB = 1 << 20
# Peak RSS a refused or bomb-carrying load may reach (interpreter, numpy, fastgru, h5py);
# the bombs below decompress to 1-2 GiB.
RSS_BOUND = 400 * MB

CAPPED = """
import resource, sys, time
sys.path.insert(0, {tests!r})
import numpy as np
import fastgru
start = time.monotonic()
try:
    {body}
except fastgru.FastGRUError as e:
    print("FastGRUError:", e)
print("seconds", time.monotonic() - start)
unit = 1 if sys.platform == "darwin" else 1024   # ru_maxrss: bytes on macOS, else KiB
try:   # ru_maxrss of this process keeps the pytest process' peak across exec; VmHWM does not
    with open("/proc/self/status") as f:
        own = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
except OSError:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
print("rss", own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * unit)
"""


def capped(cap, body, **env):
    """Run ``body`` in a fresh interpreter under ``FASTGRU_MAX_BYTES=cap``: (its output, peak
    RSS of that process, peak RSS of its children: the h5py reader)."""
    code = CAPPED.format(tests=TESTS, body=body)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120,
                            env=dict(os.environ, FASTGRU_MAX_BYTES=cap, **env))
    assert result.returncode == 0, result.stderr
    rss = [line for line in result.stdout.splitlines() if line.startswith("rss ")][-1]
    own, children = (int(v) for v in rss.split()[1:])
    return result.stdout, own, children


def add_zero_dataset(h5, name, count, chunk=1 << 20):
    """A gzip dataset of ``count`` float64 zeros, each chunk written pre-compressed: a few KB
    per 8 MB chunk, made in milliseconds (the compression bomb)."""
    ds = h5.create_dataset(name, shape=(count,), dtype="f8", chunks=(chunk,),
                           compression="gzip")
    packed = zlib.compress(bytes(8 * chunk), 9)
    for start in range(0, count, chunk):
        ds.id.write_direct_chunk((start,), packed)


# ---- 1. HDF5 compression bomb (h5py path) ---------------------------------------------------
@pytest.mark.parametrize("isolation", ["1", "0"])
def test_a_compressed_dataset_the_model_does_not_use_is_never_read(tmp_path, isolation):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "bomb.h5"
    shutil.copy(os.path.join(FIXTURES, "activations.h5"), path)
    with h5py.File(path, "a") as f:
        add_zero_dataset(f, "unused", 1 << 28)         # 2 GiB of zeros in ~2 MB
    assert path.stat().st_size < 8 * MB
    out, own, child = capped("64M", f"""m = fastgru.load({str(path)!r})
    d = np.load({os.path.join(FIXTURES, "activations.npz")!r})
    ys = m.predict(d["x0"])
    print("max diff", max(float(np.abs(y - d[f"y{{k}}"]).max()) for k, y in enumerate(ys)))""",
                              FASTGRU_HDF5_ISOLATION=isolation)
    assert "max diff" in out, out
    assert float(out.split("max diff")[1].split()[0]) < 1e-5, out
    assert own < RSS_BOUND and child < RSS_BOUND, (own, child)


def test_datasets_read_by_the_h5py_child_count_against_the_cap(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        add_zero_dataset(f, "a", 5 * MB)                 # 40 MB decoded
        add_zero_dataset(f, "b", 5 * MB)
        add_zero_dataset(f, "bomb", 1 << 28)             # 2 GiB decoded
    read = """from fastgru.keras.h5source import PendingTree
    with PendingTree({path!r}) as pending:
        tree = pending.tree()
        for name in {names!r}:
            print("read", name, tree[name][()].nbytes)"""
    out, own, child = capped("64M", read.format(path=str(path), names=["bomb"]))
    assert "the HDF5 datasets read, up to /bomb (shape (268435456,), float64), needs " \
           "2147483648 bytes, over the memory cap of 67108864 bytes" in out, out
    assert own < RSS_BOUND and child < RSS_BOUND, (own, child)
    out, _, _ = capped("64M", read.format(path=str(path), names=["a", "b"]))
    assert "read a 41943040" in out and "read b" not in out, out      # 80 MB in all: over
    assert "up to /b (shape (5242880,), float64), needs 83886080 bytes" in out, out
    out, _, _ = capped("100M", read.format(path=str(path), names=["a", "b"]))
    assert "read b 41943040" in out, out


def test_fastgru_reader_counts_the_hdf5_file_against_the_cap():
    path = os.path.join(FIXTURES, "activations.h5")
    out, _, _ = capped("16K", f"fastgru.load({path!r})", FASTGRU_HDF5_READER="lite")
    size = os.path.getsize(path)
    assert f"{path}: the HDF5 file needs {size} bytes, over the memory cap of 16384" in out, out


# ---- 2. .keras near zip bomb ----------------------------------------------------------------
def test_keras_weights_member_decompressing_past_the_cap_is_refused_before_reading(tmp_path):
    path = tmp_path / "near_bomb.keras"
    rng = np.random.default_rng(0)
    weights = np.zeros(96 * MB, np.uint8)
    weights[::40] = rng.integers(0, 256, weights[::40].size)
    with zipfile.ZipFile(os.path.join(FIXTURES, "activations.keras")) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for name in ("metadata.json", "config.json"):
            dst.writestr(name, src.read(name))
        dst.writestr("model.weights.h5", weights.tobytes())
    assert 10 < 96 * MB / path.stat().st_size < MAX_EXPANSION    # not refused as a zip bomb
    out, own, _ = capped("64M", f"fastgru.load({str(path)!r})")
    assert f"{path}: archive member model.weights.h5 needs {96 * MB} bytes, over the memory " \
           f"cap of {64 * MB} bytes" in out, out
    assert own < RSS_BOUND, own
    keras_file = os.path.join(FIXTURES, "activations.keras")
    out, _, _ = capped("64M", f"fastgru.load({keras_file!r}); print('loaded')")
    assert "loaded" in out, out


# ---- 3. oversized .fgru -----------------------------------------------------------------------
def small_image():
    s = SpecBuilder("small")
    x = s.input("x", (None, 2))
    return pack_model(s.spec([s.dense("out", s.gru("gru", x, 3), 2)]))


def test_fgru_header_is_checked_before_the_body_is_read(tmp_path):
    image = small_image()
    padded = tmp_path / "padded.fgru"
    padded.write_bytes(image)
    with open(padded, "r+b") as f:
        f.truncate(len(image) + (3 << 30))              # 3 GB of zeros, sparse: made at once
    start = time.monotonic()
    with pytest.raises(fastgru.FastGRUError,
                       match=rf"padded\.fgru: header says {len(image)} bytes, the file holds "
                             rf"{len(image) + (3 << 30)}"):
        fastgru.load(padded)
    assert time.monotonic() - start < 5
    exact = tmp_path / "exact.fgru"
    exact.write_bytes(image)
    out, _, _ = capped("1K", f"fastgru.load({str(exact)!r})")
    assert f"model file {exact} needs {len(image)} bytes, over the memory cap of 1024" in out


@needs_make
def test_c_loader_refuses_padded_files_and_special_files_at_once(c_build, tmp_path):
    model_path, in_paths, _ = converted("keras3/simple/keras3_keras", tmp_path)
    size = model_path.stat().st_size
    with open(model_path, "r+b") as f:
        f.truncate(size + (3 << 30))
    r = run([c_build / "fastgru_run", model_path, in_paths[0], tmp_path / "y.npy"], timeout=60)
    assert r.returncode == 2 and f"header says {size} bytes, the file holds " \
                                 f"{size + (3 << 30)}" in r.stderr, r.stderr
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    r = run([c_build / "fastgru_run", fifo, in_paths[0], tmp_path / "y.npy"], timeout=60)
    assert r.returncode == 2 and f"model file '{fifo}' is not a regular file" in r.stderr, \
        r.stderr


# ---- 4. FIFOs and other special files ----------------------------------------------------------
def test_a_fifo_as_the_model_path_is_refused_without_opening_it_for_reading(tmp_path):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    body = f"""for call in (fastgru.load, lambda p: fastgru.convert(p, p + ".fgru")):
        try:
            call({str(fifo)!r})
            print("read it")
        except fastgru.FastGRUError as e:
            print("FastGRUError:", e)"""
    out, _, _ = capped("", body)        # a hang ends in capped()'s timeout: a failure
    assert out.count(f"{fifo}: not a regular file (a folder, FIFO or device)") == 2, out
    assert float(out.split("seconds")[1].split()[0]) < 10, out
    with pytest.raises(fastgru.FastGRUError, match="not a regular file"):
        fastgru.load(tmp_path)


# ---- 5. outputs count against the cap ------------------------------------------------------------
def wide_model(tmp_path):
    """GRU(8) -> Dense(4096) on every step: small weights and workspace, huge outputs."""
    s = SpecBuilder("wide")
    x = s.input("x", (None, 1))
    wide = s.dense("out", s.gru("gru", x, 8, return_sequences=True), 4096)
    path = tmp_path / "wide.fgru"
    path.write_bytes(pack_model(s.spec([wide])))
    return path


def test_outputs_over_the_cap_are_refused_naming_their_shape(tmp_path):
    body = f"""m = fastgru.load({str(wide_model(tmp_path))!r})
    print("small", m.predict(np.zeros((2, 3, 1), np.float32)).shape)
    m.predict(np.zeros((64, 2000, 1), np.float32), batch_size=8)
    print("ran")"""
    out, own, _ = capped("64M", body)
    assert "small (2, 3, 4096)" in out and "ran" not in out, out
    assert "the run's outputs ((64, 2000, 4096) float32) needs 2097152000 bytes, over the " \
           "memory cap of 67108864 bytes" in out, out
    assert own < RSS_BOUND, own


@needs_make
def test_c_run_refuses_outputs_over_the_cap(c_build, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((64, 2000, 1), np.float32))
    env = dict(os.environ, FASTGRU_MAX_BYTES="64M")
    r = run([c_build / "fastgru_run", wide_model(tmp_path), x, tmp_path / "y.npy"], env=env,
            timeout=60)
    assert r.returncode == 2 and "the run's outputs needs 2097152000 bytes, over the memory " \
                                 "cap of 67108864 bytes" in r.stderr, r.stderr


# ---- 11. a malformed cap fails closed ------------------------------------------------------------
@pytest.mark.parametrize("value", ["1000 ", " 1000", "1e3", "0x10", "10X", "-1", "+5", "lots",
                                   "64MB", "99999999999999999999", "17179869184G"])
def test_a_malformed_cap_fails_closed_naming_variable_and_value(value):
    out, _, _ = capped(value, f"fastgru.load({os.path.join(FIXTURES, 'activations.keras')!r})"
                              f"\n    print('loaded')")
    assert "loaded" not in out, out
    assert f"FASTGRU_MAX_BYTES='{value}' is not a size in bytes" in out, out


@pytest.mark.parametrize("value", ["", "0", "1000000000", "64k", "64M", "2G"])
def test_the_documented_cap_forms_are_accepted(value):
    out, _, _ = capped(value, f"fastgru.load({os.path.join(FIXTURES, 'activations.keras')!r})"
                              f"\n    print('loaded')")
    assert "loaded" in out, out
