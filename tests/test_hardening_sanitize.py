"""The C library and its tests under AddressSanitizer + UndefinedBehaviorSanitizer (and the
8-thread test under ThreadSanitizer): `make -C tests/c sanitize`, failing on any report."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from fastgru.format import pack_model
from fastgru.model import Model
from test_model_capi import causal_sequence_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sanitizers_work(tmp_path):
    src = tmp_path / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    for flag in ("-fsanitize=address,undefined", "-fsanitize=thread"):
        r = subprocess.run(["gcc", flag, str(src), "-o", str(tmp_path / "probe")],
                           capture_output=True)
        if r.returncode or subprocess.run([str(tmp_path / "probe")]).returncode:
            return False
    return True


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("make") is None,
                    reason="needs gcc and make")
def test_c_tests_pass_under_sanitizers(tmp_path):
    if not sanitizers_work(tmp_path):
        pytest.skip("gcc's sanitizer runtimes (libasan, libubsan, libtsan) are missing")
    B, T, F, U = 3, 6, 4, 2
    image = pack_model(causal_sequence_model(F, U))
    x = np.random.default_rng(0).normal(size=(B, T, F)).astype(np.float32)
    (tmp_path / "m.fgru").write_bytes(image)
    x.tofile(tmp_path / "x.f32")
    Model(image).predict(x).astype(np.float32).tofile(tmp_path / "y.f32")
    files = [str(tmp_path / n) for n in ("m.fgru", "x.f32", "y.f32")]
    dims = [str(v) for v in (B, T, F, U)]
    run = subprocess.run(
        ["make", "-C", os.path.join(ROOT, "tests", "c"), "sanitize", "CC=gcc",
         f"SAN_OUT={tmp_path / 'bin'}", "SAN_ARGS_API=" + " ".join(files + dims),
         "SAN_ARGS_THREADS=" + " ".join([files[0], files[1]] + dims)],
        capture_output=True, text=True, timeout=600)
    report = run.stdout[-4000:] + run.stderr[-4000:]
    assert run.returncode == 0, report
    assert "ERROR: AddressSanitizer" not in report and "runtime error" not in report, report
    assert "WARNING: ThreadSanitizer" not in report, report
