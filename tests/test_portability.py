"""The C library beyond Linux + gcc: built by clang without OpenMP (the macOS default), and
cross-built for Windows with mingw-w64, whose kernel tests (every SIMD path against the scalar
one, 1 vs 2 threads bitwise) then run under wine.

Tools that may be missing skip with the reason. Debian packages: clang gcc-mingw-w64-x86-64 wine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINGW = "x86_64-w64-mingw32-"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("make") is None, reason="needs make")]


def make(*args):
    r = subprocess.run(["make", *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return r


def kernel_tests(out, *make_vars):
    """tests/c/test_kernels.c built against the library in `out` (tests/c/Makefile)."""
    make("-C", ROOT / "tests" / "c", f"OUT={out}", f"LIB_BUILD={out}", *make_vars,
         out / "test_kernels")
    return out / "test_kernels"


@pytest.mark.skipif(shutil.which("clang") is None, reason="needs clang (Debian: clang)")
def test_clang_without_openmp_passes_the_kernel_tests(tmp_path):
    make("-C", ROOT / "src_c", "CC=clang", "OPENMP=0", f"BUILD={tmp_path}", "-j2", "all")
    exe = kernel_tests(tmp_path, "CC=clang", "OPENMP=0")
    r = subprocess.run([exe, "--quick"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "all passed" in r.stdout, r.stdout + r.stderr
    assert "-fopenmp" not in make("-n", "-B", "-C", ROOT / "src_c", "CC=clang", "OPENMP=0",
                                  f"BUILD={tmp_path}", "lib").stdout


@pytest.fixture(scope="module")
def windows_build(tmp_path_factory):
    """The library (fastgru.dll, libfastgru.a) and test_kernels.exe, cross-built by mingw-w64."""
    if shutil.which(MINGW + "gcc") is None:
        pytest.skip("needs the mingw-w64 cross compiler (Debian: gcc-mingw-w64-x86-64)")
    out = tmp_path_factory.mktemp("win64")
    make("-C", ROOT / "src_c", f"CROSS={MINGW}", f"BUILD={out}", "-j2", "all")
    kernel_tests(out, f"CROSS={MINGW}")
    return out


def test_mingw_builds_the_windows_library_and_programs(windows_build):
    for name in ("fastgru.dll", "libfastgru.a", "libfastgru.dll.a", "fastgru_run.exe",
                 "fastgru_stream_bench.exe", "test_kernels.exe"):
        assert (windows_build / name).is_file(), name
    # a PE image, and the public API exported from the DLL
    dll = (windows_build / "fastgru.dll").read_bytes()
    assert dll[:2] == b"MZ" and b"fg_model_load" in dll and b"fg_gru_forward" in dll


@pytest.mark.skipif(shutil.which("wine") is None, reason="needs wine (Debian: wine wine64)")
def test_windows_kernel_tests_pass_under_wine(windows_build, tmp_path):
    env = {**os.environ, "WINEDEBUG": "-all", "WINEPREFIX": str(tmp_path / "wine")}
    r = subprocess.run(["wine", windows_build / "test_kernels.exe", "--quick"],
                       capture_output=True, text=True, timeout=600, env=env)
    if r.returncode != 0 and "test_kernels" not in r.stdout and "vs scalar" not in r.stdout:
        pytest.skip(f"wine cannot run Windows programs here: {r.stderr.strip()[-300:]}")
    assert r.returncode == 0 and "all passed" in r.stdout, r.stdout + r.stderr
    assert "vs scalar" in r.stdout   # the SIMD paths ran against the scalar one
