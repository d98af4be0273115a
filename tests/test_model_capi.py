"""The model C API from a C program with no Python in it (tests/c/test_model_api.c): load a
packed image from a file and from a buffer, run with a caller workspace, stream, errors."""
import subprocess

import numpy as np

from fastgru.format import pack_model
from fastgru.model import Model
from model_cases import SpecBuilder


def causal_sequence_model(F, U):
    s = SpecBuilder("capi")
    x = s.input("x", (None, F))
    g = s.gru("gru1", x, 6, return_sequences=True)
    g = s.gru("gru2", g, 5, return_sequences=True, reset_after=False)
    return s.spec([s.dense("out", g, U, activation="tanh")])


def test_c_program_runs_a_packed_image(tmp_path, c_program):
    B, T, F, U = 3, 6, 4, 2
    spec = causal_sequence_model(F, U)
    image = pack_model(spec)
    x = np.random.default_rng(0).normal(size=(B, T, F)).astype(np.float32)
    y = Model(image).predict(x)
    (tmp_path / "m.fgru").write_bytes(image)
    x.tofile(tmp_path / "x.f32")
    y.astype(np.float32).tofile(tmp_path / "y.f32")
    exe = c_program("test_model_api")
    run = subprocess.run([str(exe), str(tmp_path / "m.fgru"), str(tmp_path / "x.f32"),
                          str(tmp_path / "y.f32"), str(B), str(T), str(F), str(U)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr
