"""Bounded fuzz runs for CI: the C model-image fuzzer (libFuzzer + ASan + UBSan, seeded with
fuzz/corpus/) and the Python reader fuzzer (mutated .keras / .h5 / config -> fastgru.load must
succeed or raise FastGRUError). Long runs: tools/fuzz.sh SECONDS, fuzz/fuzz_readers.py."""
import glob
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
C_SECONDS = 30
PY_RUNS = 800


def libfuzzer_works(tmp_path):
    src = tmp_path / "probe.c"
    src.write_text("#include <stdint.h>\n#include <stddef.h>\n"
                   "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n")
    r = subprocess.run(["clang", "-fsanitize=fuzzer,address,undefined", str(src), "-o",
                        str(tmp_path / "probe")], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(shutil.which("clang") is None, reason="needs clang (Debian: clang)")
def test_c_image_fuzzer_bounded_run(tmp_path):
    if not libfuzzer_works(tmp_path):
        pytest.skip("clang's libFuzzer runtime is missing (Debian: libclang-rt-14-dev)")
    corpus = tmp_path / "corpus"
    run = subprocess.run([os.path.join(ROOT, "tools", "fuzz.sh"), str(C_SECONDS), str(corpus)],
                         capture_output=True, text=True, timeout=C_SECONDS + 300)
    log = run.stderr[-6000:]
    assert run.returncode == 0, log
    assert "Done" in log and "ERROR" not in log, log
    # every committed seed (crash regressions included) ran
    assert len(os.listdir(corpus)) >= len(os.listdir(os.path.join(ROOT, "fuzz", "corpus")))


def readers_fuzz(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "fuzz", "fuzz_readers.py"), *args],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, KERAS_BACKEND="jax"))


def test_python_readers_random_mutations():
    run = readers_fuzz("--random", "40", "--seed", "7")
    assert run.returncode == 0 and "40 random cases passed" in run.stdout, run.stderr[-4000:]


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="needs atheris (pip install atheris)")
def test_python_readers_atheris_bounded_run(tmp_path):
    # a fixed seed and run count: the same cases every time (the long runs explore further)
    run = readers_fuzz("-seed=1", f"-runs={PY_RUNS}", f"-artifact_prefix={tmp_path}/")
    assert run.returncode == 0, run.stderr[-4000:]
    assert not glob.glob(str(tmp_path / "crash-*")), run.stderr[-4000:]


def load_in_subprocess(path):
    code = ("import fastgru\ntry:\n    fastgru.load(%r)\nexcept fastgru.FastGRUError as e:\n"
            "    print('FastGRUError', e)\n" % path)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env=dict(os.environ, KERAS_BACKEND="jax"))


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "fuzz", "regress"))))
def test_reader_fuzz_regressions_raise_fastgru_errors(name):
    run = load_in_subprocess(os.path.join(ROOT, "fuzz", "regress", name))
    assert run.returncode == 0 and "FastGRUError" in run.stdout, run.stderr[-3000:]


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "fuzz", "known"))))
def test_files_that_crash_hdf5_raise_fastgru_errors(name):
    # HDF5 2.0.0 (h5py 3.16) segfaults on these (a variable-length string attribute's heap
    # reference, a group's B-tree): the forked reader dies, the caller gets the error
    path = os.path.join(ROOT, "fuzz", "known", name)
    run = load_in_subprocess(path)
    assert run.returncode == 0 and "FastGRUError" in run.stdout, (run.returncode, run.stderr[-3000:])
    assert path in run.stdout and "HDF5 library crashed" in run.stdout, run.stdout
