"""The model C API from a C program with no Python in it (tests/c/test_model_api.c): load a
packed image from a file and from a buffer, run with a caller workspace, stream, errors."""
import glob
import os
import shutil
import subprocess

import numpy as np
import pytest

from fastgru.format import pack_model
from fastgru.model import Model
from model_cases import SpecBuilder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def causal_sequence_model(F, U):
    s = SpecBuilder("capi")
    x = s.input("x", (None, F))
    g = s.gru("gru1", x, 6, return_sequences=True)
    g = s.gru("gru2", g, 5, return_sequences=True, reset_after=False)
    return s.spec([s.dense("out", g, U, activation="tanh")])


def build_c_program(source, exe):
    """Compile a C test program with the whole library (every src_c/ file, no Python)."""
    sources = sorted(glob.glob(os.path.join(ROOT, "src_c", "*.c")) +
                     glob.glob(os.path.join(ROOT, "src_c", "kernels", "*.c")))
    build = subprocess.run(["gcc", "-O2", "-std=gnu11", "-fno-math-errno", "-ffp-contract=off",
                            "-fopenmp", "-Wall", "-Wextra", "-I" + os.path.join(ROOT, "src_c"),
                            str(source), *sources, "-o", str(exe), "-lm"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_c_program_runs_a_packed_image(tmp_path):
    B, T, F, U = 3, 6, 4, 2
    spec = causal_sequence_model(F, U)
    image = pack_model(spec)
    x = np.random.default_rng(0).normal(size=(B, T, F)).astype(np.float32)
    y = Model(image).predict(x)
    (tmp_path / "m.fgru").write_bytes(image)
    x.tofile(tmp_path / "x.f32")
    y.astype(np.float32).tofile(tmp_path / "y.f32")
    exe = tmp_path / "test_model_api"
    build_c_program(os.path.join(ROOT, "tests", "c", "test_model_api.c"), exe)
    run = subprocess.run([str(exe), str(tmp_path / "m.fgru"), str(tmp_path / "x.f32"),
                          str(tmp_path / "y.f32"), str(B), str(T), str(F), str(U)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr
