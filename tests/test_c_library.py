"""The C library on its own (src_c/Makefile, examples/c/): converted fixtures run by the C
program `fastgru_run` give fastgru.load(...).predict's outputs bitwise, batch and streaming;
the program is clean under valgrind; a model exported as a C header runs from the array;
and the aarch64 build (NEON kernels) passes under qemu.

Tools that may be missing (make, cc, valgrind, the aarch64 cross compiler, qemu-aarch64) skip
their tests with the reason. Debian packages: make gcc valgrind gcc-aarch64-linux-gnu qemu-user.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru import c_export
from fixture_manifest import CUSTOM_OBJECTS, MANIFEST, arrays, load_data, paths

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "src_c" / "build"
ENTRIES = {e["id"]: e for e in MANIFEST}
# Several op kinds, input kinds (int ids, masks, initial states) and output counts.
BATCH_MODELS = ["keras3/simple/keras3_keras", "keras3/masking/keras3_keras",
                "keras3/two_in_two_out/keras3_keras", "keras3/embedding_mask/keras3_keras",
                "keras3/bidi_state/keras3_keras", "keras3/norms/keras3_keras",
                "keras3/masking_merge/keras3_h5", "keras3/stateful/keras3_keras",
                "keras2/sentiment/keras2_h5", "keras2/activations/keras2_h5",
                "keras3/shape_pool1d/keras3_keras", "keras3/shape_reshape/keras3_keras",
                "keras2/shape_gap_mask/keras2_h5", "keras3/shape_pad_crop/keras3_keras",
                "keras2/shape_variable_length/keras2_keras",
                "keras3/dot_merges/keras3_keras", "keras3/softmax_mask/keras3_keras",
                "keras2/elementwise_chain/keras2_h5", "keras2/normalization/keras2_h5",
                "keras3/conv_options/keras3_keras", "keras2/conv_gru_strided/keras2_h5",
                "keras3/mha_cross/keras3_keras", "keras2/attention_causal_scores/keras2_h5",
                "keras3/attention_masks/keras3_keras",
                "keras3/masked_extrema/keras3_keras",
                "keras3/cgru_poly_update/keras3_keras",
                "keras3/cgru_bidirectional_masked/keras3_keras",
                "keras2/tm_masking/keras2_h5", "keras2/tm_bidi/keras2_keras"]
STREAM_MODELS = ["keras3/simple_seq/keras3_keras", "keras3/masking_state/keras3_keras",
                 "keras3/two_in_two_out/keras3_keras", "keras3/embedding_mask/keras3_keras",
                 "keras3/stacked_cells/keras3_keras", "keras3/elementwise_chain/keras3_keras",
                 "keras3/conv_gru/keras3_keras",
                 "keras3/cgru_leaky_textbook/keras3_keras"]

needs_make = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                                reason="needs make and a C compiler (cc)")


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def c_build():
    """src_c/build/ with libfastgru.a/.so and the examples, built by `make -C src_c`."""
    r = run(["make", "-C", ROOT / "src_c", "-j2"])
    assert r.returncode == 0, r.stdout + r.stderr
    return BUILD


def converted(entry_id, tmp_path):
    """(the .fgru path, its input .npy paths, the inputs) for a fixture."""
    entry = ENTRIES[entry_id]
    src, config = paths(entry)
    dst = tmp_path / (entry["model"] + ".fgru")
    fastgru.convert(src, dst, config=config, custom_objects=CUSTOM_OBJECTS.get(entry["model"]))
    data = load_data(entry)
    xs = arrays(data, "x") or arrays(data, "x", "_call0")
    in_paths = []
    for i, x in enumerate(xs):
        in_paths.append(tmp_path / f"x{i}.npy")
        np.save(in_paths[-1], x)
    return dst, in_paths, xs


def as_list(y):
    return list(y) if isinstance(y, list) else [y]


def read_outputs(out, n):
    """OUT.npy, OUT_1.npy, ...: the C programs' naming of several outputs."""
    return [np.load(out if k == 0 else out.with_name(f"{out.stem}_{k}.npy")) for k in range(n)]


def assert_bitwise(got, want):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == np.float32 and g.shape == w.shape, (k, g.shape, w.shape)
        assert np.array_equal(g, w), f"output {k}: max diff {np.abs(g - w).max()}"


@needs_make
@pytest.mark.parametrize("entry_id", BATCH_MODELS)
def test_fastgru_run_equals_predict_bitwise(c_build, tmp_path, entry_id):
    model_path, in_paths, xs = converted(entry_id, tmp_path)
    want = as_list(fastgru.load(model_path).predict(xs if len(xs) > 1 else xs[0]))
    out = tmp_path / "y.npy"
    r = run([c_build / "fastgru_run", model_path, *in_paths, out])
    assert r.returncode == 0, r.stderr
    assert_bitwise(read_outputs(out, len(want)), want)
    # the -o form, 2 threads, float64 input (converted like predict does): the same bytes
    if xs[0].dtype == np.float32:
        np.save(in_paths[0], xs[0].astype(np.float64))
    r = run([c_build / "fastgru_run", "--threads", "2", "-o", tmp_path / "z.npy", model_path,
             *in_paths])
    assert r.returncode == 0, r.stderr
    assert_bitwise(read_outputs(tmp_path / "z.npy", len(want)), want)


def python_stream(model, xs):
    """Step the Python stream through the sequence: outputs with a time axis stacked over
    steps, the others as after the last step."""
    stream = model.stream(batch_size=xs[0].shape[0])
    timed_in = [info.shape[1] is None for info in model.inputs]
    timed_out = [info.shape[1] is None for info in model.outputs]
    steps = []
    for t in range(xs[0].shape[1]):
        feed = [x[:, t] if timed else x for x, timed in zip(xs, timed_in)]
        steps.append([y.copy() for y in as_list(stream.step(feed if len(xs) > 1 else feed[0]))])
    return [np.stack([s[k] for s in steps], axis=1) if timed else steps[-1][k]
            for k, timed in enumerate(timed_out)]


@needs_make
@pytest.mark.parametrize("entry_id", STREAM_MODELS)
def test_fastgru_run_stream_equals_python_stream_and_predict(c_build, tmp_path, entry_id):
    model_path, in_paths, xs = converted(entry_id, tmp_path)
    model = fastgru.load(model_path)
    out = tmp_path / "s.npy"
    r = run([c_build / "fastgru_run", "--stream", model_path, *in_paths, out])
    assert r.returncode == 0, r.stderr
    got = read_outputs(out, len(model.outputs))
    assert_bitwise(got, python_stream(model, xs))
    predicted = as_list(model.predict(xs if len(xs) > 1 else xs[0]))
    for g, p in zip(got, predicted):    # causal: step t's output is predict's output at t
        assert np.abs(g - p).max() <= 1e-6


@needs_make
def test_fastgru_run_refuses_bad_input_with_a_message(c_build, tmp_path):
    model_path, in_paths, xs = converted("keras3/simple/keras3_keras", tmp_path)
    exe, out = c_build / "fastgru_run", tmp_path / "y.npy"
    cases = {
        "wrong_axes.npy": (xs[0][0], "has 2 axes"),
        "wrong_features.npy": (xs[0][..., :2], "axis 2 is 2"),
        "fortran.npy": (np.asfortranarray(xs[0]), "Fortran order"),
        "int64.npy": (xs[0].astype(np.int64), "'<i8' is not supported"),
    }
    for name, (array, words) in cases.items():
        np.save(tmp_path / name, array)
        r = run([exe, model_path, tmp_path / name, out])
        assert r.returncode == 2 and name in r.stderr and words in r.stderr, r.stderr
    good = in_paths[0].read_bytes()
    (tmp_path / "truncated.npy").write_bytes(good[:-4])
    r = run([exe, model_path, tmp_path / "truncated.npy", out])
    assert r.returncode == 2 and "header announces" in r.stderr, r.stderr
    (tmp_path / "junk_header.npy").write_bytes(good.replace(b"'shape'", b"'shope'", 1))
    r = run([exe, model_path, tmp_path / "junk_header.npy", out])
    assert r.returncode == 2 and "shope" in r.stderr, r.stderr
    r = run([exe, tmp_path / "missing.fgru", in_paths[0], out])
    assert r.returncode == 2 and "missing.fgru" in r.stderr, r.stderr
    (tmp_path / "bidi").mkdir()
    bidi_path, bidi_in, _ = converted("keras3/bidi_modes/keras3_keras", tmp_path / "bidi")
    r = run([exe, "--stream", bidi_path, *bidi_in, out])
    assert r.returncode == 2 and "backwards" in r.stderr, r.stderr


@needs_make
def test_stream_bench_prints_ns_per_step(c_build, tmp_path):
    model_path, _, _ = converted("keras3/simple_seq/keras3_keras", tmp_path)
    r = run([c_build / "fastgru_stream_bench", model_path, "200", "1"])
    assert r.returncode == 0, r.stderr
    assert "ns/step" in r.stdout and "median" in r.stdout


@needs_make
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (Debian: valgrind)")
@pytest.mark.parametrize("entry_id", ["keras3/masking_merge/keras3_keras",
                                      "keras3/embedding_mask/keras3_keras"])
def test_fastgru_run_is_clean_under_valgrind(c_build, tmp_path, entry_id):
    model_path, in_paths, xs = converted(entry_id, tmp_path)
    want = as_list(fastgru.load(model_path).predict(xs if len(xs) > 1 else xs[0]))
    for mode in ([], ["--stream"]):
        out = tmp_path / "y.npy"
        # one thread: libgomp keeps a thread pool alive at exit, whose stacks memcheck counts
        # as possibly lost (libgomp's own still-reachable blocks are not errors)
        r = run(["valgrind", "--error-exitcode=1", "--leak-check=full", c_build / "fastgru_run",
                 "--threads", "1", *mode, model_path, *in_paths, out])
        assert r.returncode == 0, r.stderr
        assert "ERROR SUMMARY: 0 errors" in r.stderr, r.stderr
        assert "definitely lost: 0 bytes" in r.stderr or "no leaks are possible" in r.stderr
        got = read_outputs(out, len(want))
        if not mode:
            assert_bitwise(got, want)


def test_c_header_symbol_names():
    assert c_export.symbol_name("/x/my-model.v2.h") == "my_model"
    assert c_export.symbol_name("3d.h") == "_3d"
    with pytest.raises(fastgru.FastGRUError, match="not a C identifier"):
        c_export.header_text(b"\0" * 64, "bad name")
    entry = ENTRIES["keras3/simple/keras3_keras"]
    with pytest.raises(fastgru.FastGRUError, match="format='c'"):
        fastgru.convert(paths(entry)[0], "/nonexistent/x.fgru", name="x")


@needs_make
def test_exported_header_runs_from_the_array_bitwise(c_build, tmp_path):
    entry = ENTRIES["keras3/two_in_two_out/keras3_keras"]
    src, _ = paths(entry)
    header = tmp_path / "two-in-two-out.h"
    r = run([sys.executable, "-m", "fastgru", "convert", src, "--format", "c", "-o", header],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    text = header.read_text()
    assert "_Alignas(64) static const unsigned char two_in_two_out_data[" in text
    assert "static inline const unsigned char *two_in_two_out_image(size_t *nbytes)" in text
    exe = tmp_path / "embedded_model"
    r = run(["make", "-C", ROOT / "src_c", "embedded", f"MODEL_H={header}",
             "MODEL_NAME=two_in_two_out", f"EMBEDDED={exe}"])
    assert r.returncode == 0, r.stdout + r.stderr
    _, in_paths, xs = converted(entry["id"], tmp_path)
    want = as_list(fastgru.load(src).predict(xs))
    out = tmp_path / "y.npy"
    r = run([exe, *in_paths, out])   # fails if the loader copied the weights out of the array
    assert r.returncode == 0, r.stderr
    assert_bitwise(read_outputs(out, len(want)), want)


AARCH64_TOOLS = ("make", "aarch64-linux-gnu-gcc", "qemu-aarch64")
QEMU_SYSROOT = "/usr/aarch64-linux-gnu"


@pytest.mark.skipif(any(shutil.which(t) is None for t in AARCH64_TOOLS) or
                    not os.path.isdir(QEMU_SYSROOT),
                    reason="needs the aarch64 cross compiler and qemu-aarch64 "
                           "(Debian: gcc-aarch64-linux-gnu qemu-user)")
def test_aarch64_build_runs_neon_under_qemu(tmp_path):
    build = tmp_path / "build-aarch64"
    r = run(["make", "-C", ROOT / "src_c", "-j2", "CROSS=aarch64-linux-gnu-", f"BUILD={build}"])
    assert r.returncode == 0, r.stdout + r.stderr
    qemu = ["qemu-aarch64", "-L", QEMU_SYSROOT]
    # the kernel tests (every path the CPU has vs scalar, vector maths) in their quick mode;
    # gcc 12's aarch64 vectoriser crashes on this test driver, so it is built unvectorised
    tk = build / "test_kernels"
    r = run(["make", "-C", ROOT / "tests/c", "CROSS=aarch64-linux-gnu-", f"OUT={build}",
             f"LIB_BUILD={build}", "PROGRAM_CFLAGS=-O2 -fno-tree-vectorize", tk])
    assert r.returncode == 0, r.stdout + r.stderr
    r = run([*qemu, tk, "--quick"], timeout=300)
    assert r.returncode == 0 and "neon" in r.stdout, r.stdout + r.stderr

    # masking_merge, and custom GRU cells (the NEON build of their bytecode kernels) both ways
    for entry_id in ("keras3/masking_merge/keras3_keras", "keras3/cgru_poly_update/keras3_keras",
                     "keras3/cgru_hard/keras3_keras"):
        model_path, in_paths, xs = converted(entry_id, tmp_path)
        want = as_list(fastgru.load(model_path).predict(xs if len(xs) > 1 else xs[0]))
        out = tmp_path / "y.npy"
        r = run([*qemu, build / "fastgru_run", model_path, *in_paths, out], timeout=120)
        assert r.returncode == 0, r.stderr
        r = run([*qemu, build / "fastgru_stream_bench", model_path, "20"], timeout=120)
        assert "isa neon" in r.stdout, r.stdout + r.stderr
        for g, w in zip(read_outputs(out, len(want)), want):
            assert g.shape == w.shape and np.abs(g - w).max() <= 1e-5, entry_id
