"""The command line's habits: --version, help, one-line errors (exit 2) instead of tracebacks
for bad output paths, hostile inputs and closed pipes, and what bench and run print and write.
Run as a user runs it, in a subprocess."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fastgru
from fastgru import cli
from fastgru import format as fmt
from fixture_manifest import arrays, load_data
from image_edit import with_metadata
from test_cli import SIMPLE, TWO_IN_TWO_OUT, fastgru_cli


def _one_line_error(proc, *words):
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "error: fastgru" not in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def simple_x(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "x.npy"
    np.save(path, arrays(load_data({"data": "keras3/simple.npz"}), "x")[0])
    return path


def test_version_and_help_without_arguments():
    assert fastgru_cli("--version").stdout.strip() == f"fastgru {fastgru.__version__}"
    out = fastgru_cli().stdout
    assert out.startswith("usage: fastgru") and "convert" in out and "bench" in out


def test_help_is_plain_text_and_every_option_has_help():
    parser = cli._parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in [("fastgru", parser)] + list(commands.items()):
        text = sub.format_help()
        assert "``" not in text and ":class:" not in text, name
        for action in sub._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


def test_usage_errors_are_one_line_without_a_doubled_prefix():
    line = _one_line_error(fastgru_cli("bench", SIMPLE, "--batch-sizes", "1,x", check_rc=2),
                           "expected comma-separated positive integers", "'1,x'")
    assert line.startswith("fastgru bench: error:") and "<lambda>" not in line
    _one_line_error(fastgru_cli("run", SIMPLE, check_rc=2), "fastgru run: error:", "-o")


def test_bench_prints_threads_isa_and_throughput():
    out = fastgru_cli("bench", SIMPLE, "--batch-sizes", "2,4", "--timesteps", "6",
                      "--repeats", "1", "--threads", "1").stdout.splitlines()
    assert re.search(r"1 threads, ISA \w+", out[0]), out[0]
    assert out[1].split() == ["batch", "timesteps", "ms/call", "sequences/s", "steps/s"]
    for row, batch in zip(out[2:], (2, 4)):
        b, t, ms, per_seq, per_step = (float(v) for v in row.split())
        assert (b, t) == (batch, 6)
        # the throughputs follow from the per-call time (printed to 4 significant digits)
        assert per_seq == pytest.approx(batch / (ms / 1e3), rel=2e-2)
        assert per_step == pytest.approx(per_seq * 6, rel=2e-3)


def test_run_names_the_file_it_wrote_and_npz_outputs_by_model_output_names(tmp_path,
                                                                           simple_x):
    out = fastgru_cli("run", SIMPLE, simple_x, "-o", tmp_path / "result").stdout
    assert out.startswith(f"wrote {tmp_path / 'result.npy'}:")
    expected = fastgru.load(SIMPLE).predict(np.load(simple_x))
    np.testing.assert_array_equal(np.load(tmp_path / "result.npy"), expected)
    fastgru_cli("run", SIMPLE, simple_x, "-o", tmp_path / "named.npz")
    name = fastgru.load(SIMPLE).outputs[0].name
    np.testing.assert_array_equal(np.load(tmp_path / "named.npz")[name], expected)


@pytest.mark.parametrize("command", ["run", "convert"])
def test_bad_output_paths_are_one_line_errors(tmp_path, simple_x, command):
    inputs = [simple_x] if command == "run" else []
    for output, words in [(tmp_path, "is a folder"),
                          (tmp_path / "missing" / "out.npy", "does not exist"),
                          (tmp_path / "x.npy" / "out.npy", "is not a folder")]:
        (tmp_path / "x.npy").write_bytes(b"a file, not a folder")
        _one_line_error(fastgru_cli(command, SIMPLE, *inputs, "-o", output, check_rc=2),
                        "fastgru: error:", words)
    unwritable = "/sys" if os.geteuid() == 0 else tmp_path / "locked"
    if os.geteuid() != 0:
        os.mkdir(unwritable, 0o500)
    _one_line_error(fastgru_cli(command, SIMPLE, *inputs, "-o", f"{unwritable}/out.npy",
                                check_rc=2), "fastgru: error:", str(unwritable))


def test_convert_format_c_of_non_ascii_file_names(tmp_path):
    src = tmp_path / "modèle_ü.keras"
    src.write_bytes(SIMPLE.read_bytes())
    fastgru_cli("convert", src, "-o", tmp_path / "modèle.h", "--format", "c")
    text = (tmp_path / "modèle.h").read_bytes().decode("ascii")
    symbol = re.search(r"static inline const unsigned char \*(\w+)_image", text).group(1)
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", symbol)
    assert "mod\\xe8le_\\xfc.keras" in text            # the source named, escaped


def _npy_claiming(shape) -> bytes:
    """A small .npy whose header claims `shape` (float32), padded like np.save pads it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + np.zeros(4, np.float32).tobytes()


def test_a_npz_member_claiming_4_gb_is_refused_before_reading(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", _npy_claiming((2 ** 30,)))
    line = _one_line_error(fastgru_cli("run", SIMPLE, path, "-o", tmp_path / "y.npy",
                                       check_rc=2), "'x.npy'", "4294967296 bytes")
    assert "holds 16 bytes" in line
    (tmp_path / "big.npy").write_bytes(_npy_claiming((2 ** 30,)))
    _one_line_error(fastgru_cli("run", SIMPLE, tmp_path / "big.npy", "-o", tmp_path / "y.npy",
                                check_rc=2), "claims")


def test_inputs_in_other_formats_get_a_clear_error(tmp_path):
    np.savetxt(tmp_path / "x.csv", np.ones((2, 3)), delimiter=",")
    line = _one_line_error(fastgru_cli("run", SIMPLE, tmp_path / "x.csv", "-o",
                                       tmp_path / "y.npy", check_rc=2), "not a .npy or .npz")
    assert "pickle" not in line
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _one_line_error(fastgru_cli("run", SIMPLE, tmp_path / "objects.npy", "-o",
                                tmp_path / "y.npy", check_rc=2), "never loads")


def test_inspect_of_an_image_with_hostile_metadata_is_one_line(tmp_path):
    image = fastgru.load(TWO_IN_TWO_OUT).image
    meta = fmt.read_metadata(image)
    meta["precision"] = "x"
    path = tmp_path / "hostile.fgru"
    path.write_bytes(with_metadata(image, json.dumps(meta).encode()))
    _one_line_error(fastgru_cli("inspect", path, check_rc=2), "metadata.precision")


def test_inspect_into_a_closed_pipe_ends_quietly():
    """`fastgru inspect X | head` when head has already gone: no traceback, SIGPIPE's
    status."""
    proc = subprocess.Popen([sys.executable, "-m", "fastgru", "inspect", str(TWO_IN_TWO_OUT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()          # the reader leaves before anything is written
    _, err = proc.communicate(timeout=300)
    assert err == b"" and proc.returncode == 128 + 13


def test_run_takes_npz_inputs_by_the_model_input_names(tmp_path):
    model = fastgru.load(TWO_IN_TWO_OUT)
    xs = arrays(load_data({"data": "keras3/two_in_two_out.npz"}), "x")
    # stored in the reverse of the model's order: the names, not the order, decide
    np.savez(tmp_path / "named.npz", **{t.name: x for t, x in reversed(list(zip(model.inputs,
                                                                              xs)))})
    fastgru_cli("run", TWO_IN_TWO_OUT, tmp_path / "named.npz", "-o", tmp_path / "y.npz")
    got = np.load(tmp_path / "y.npz")
    for t, expected in zip(model.outputs, model.predict(xs)):
        np.testing.assert_array_equal(got[t.name], expected)
