"""The `fastgru` command line, run as a user runs it (a subprocess): exit status 0 on success,
2 with a one-line message naming the fault on a bad argument or a bad file."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fastgru
from fixture_manifest import FIXTURES, arrays, load_data

TWO_IN_TWO_OUT = FIXTURES / "keras3" / "two_in_two_out.keras"
SIMPLE = FIXTURES / "keras3" / "simple.keras"


def fastgru_cli(*args, check_rc=0):
    proc = subprocess.run([sys.executable, "-m", "fastgru", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == check_rc, (proc.stdout, proc.stderr)
    return proc


def test_demo_runs_the_bundled_model_and_matches_keras():
    out = fastgru_cli("demo").stdout
    assert "max abs error against Keras' stored output" in out
    error = float(out.split("stored output:")[1].split()[0])
    assert error <= 1e-5
    assert "time per predict call" in out


def test_inspect_prints_layers_weights_and_config():
    out = fastgru_cli("inspect", TWO_IN_TWO_OUT).stdout
    model = fastgru.load(TWO_IN_TWO_OUT)
    for layer in model.layers:
        assert layer.name in out
    assert "Total params" in out and "units=" in out and "weights:" in out


def test_run_writes_predict_outputs(tmp_path):
    data = load_data({"data": "keras3/two_in_two_out.npz"})
    xs = arrays(data, "x")
    for i, x in enumerate(xs):
        np.save(tmp_path / f"x{i}.npy", x)
    fastgru_cli("run", TWO_IN_TWO_OUT, tmp_path / "x0.npy", tmp_path / "x1.npy",
                "-o", tmp_path / "y.npz")
    got = np.load(tmp_path / "y.npz")
    model = fastgru.load(TWO_IN_TWO_OUT)
    names = [t.name for t in model.outputs]
    assert sorted(got.files) == sorted(names)      # named by the model's outputs
    for name, expected in zip(names, model.predict(xs)):
        np.testing.assert_array_equal(got[name], expected)
    # one .npz holding every input works the same way
    np.savez(tmp_path / "inputs.npz", *xs)
    fastgru_cli("run", TWO_IN_TWO_OUT, tmp_path / "inputs.npz", "-o", tmp_path / "y2.npz")
    np.testing.assert_array_equal(np.load(tmp_path / "y2.npz")[names[0]], got[names[0]])


def test_convert_then_run_the_fgru_file(tmp_path):
    x = arrays(load_data({"data": "keras3/simple.npz"}), "x")[0]
    np.save(tmp_path / "x.npy", x)
    fastgru_cli("convert", SIMPLE, "-o", tmp_path / "simple.fgru")
    assert "simple" in fastgru_cli("inspect", tmp_path / "simple.fgru").stdout
    fastgru_cli("run", tmp_path / "simple.fgru", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), fastgru.load(SIMPLE).predict(x))


def test_bench_prints_a_row_per_batch_size():
    out = fastgru_cli("bench", SIMPLE, "--batch-sizes", "1,3", "--timesteps", "5",
                      "--repeats", "1").stdout
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [int(r[0]) for r in rows] == [1, 3]


@pytest.mark.parametrize("args, words", [
    (["inspect", "/nonexistent/model.keras"], "/nonexistent/model.keras"),
    (["inspect", __file__], "not a Keras model"),
    (["run", SIMPLE, "/nonexistent/x.npy", "-o", "/tmp/unused.npy"], "/nonexistent/x.npy"),
    (["frobnicate"], "invalid choice"),
    (["convert", SIMPLE], "-o"),
])
def test_bad_input_exits_2_with_one_line(args, words):
    proc = fastgru_cli(*args, check_rc=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastgru") and ": error: " in lines[0]
    assert words in lines[0]


def test_run_precision_bfloat16_equals_the_bf16_model(tmp_path):
    data = load_data({"data": "keras3/two_in_two_out.npz"})
    xs = arrays(data, "x")
    np.savez(tmp_path / "inputs.npz", *xs)
    fastgru_cli("run", TWO_IN_TWO_OUT, tmp_path / "inputs.npz", "-o", tmp_path / "y.npz",
                "--precision", "bfloat16")
    got = np.load(tmp_path / "y.npz")
    model = fastgru.load(TWO_IN_TWO_OUT, precision="bfloat16")
    expected = model.predict(xs)
    exact = fastgru.load(TWO_IN_TWO_OUT).predict(xs)
    for t, y in zip(model.outputs, expected):
        np.testing.assert_array_equal(got[t.name], y)
    # the option really changed the arithmetic: bf16 differs from float32, within its error
    assert any(not np.array_equal(y, e) for y, e in zip(expected, exact))
    assert max(float(np.max(np.abs(y - e))) for y, e in zip(expected, exact)) < 2e-2
