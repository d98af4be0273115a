"""Each script in examples/python/ runs as a user would run it (a fresh interpreter, from
another folder) and prints the check it makes on its own result."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "python"


def run_example(name, *args, cwd):
    r = subprocess.run([sys.executable, EXAMPLES / name, *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_every_example_has_a_test():
    tested = {"load_and_predict.py", "sensor_stream.py", "convert_model.py", "dask_scoring.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_load_and_predict(tmp_path):
    out = run_example("load_and_predict.py", cwd=tmp_path)
    assert "predictions: (8, 1) float32" in out
    err = float(out.split("max abs error against Keras: ")[1].split()[0])
    assert err <= 1e-5


def test_sensor_stream(tmp_path):
    out = run_example("sensor_stream.py", cwd=tmp_path)
    assert "step 200: forecast" in out
    assert "stream equals predict on the whole window: True" in out


def test_convert_model(tmp_path):
    demo = EXAMPLES.parent.parent / "fastgru" / "data" / "demo.keras"
    out = run_example("convert_model.py", demo, tmp_path / "out", cwd=tmp_path)
    assert "the .fgru gives the same bytes: True" in out
    for name in ("model.fgru", "model_f16.fgru", "model.h"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    header = (tmp_path / "out" / "model.h").read_text()
    assert "static inline const unsigned char *model_image(" in header


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="needs dask.distributed (pip install 'fastgru[dask]')")
def test_dask_scoring(tmp_path):
    out = run_example("dask_scoring.py", cwd=tmp_path)
    assert "scored (20000, 1) in 8 blocks" in out
    assert "equal to the serial result: True" in out
