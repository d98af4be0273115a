"""float16 / bfloat16 stored weights (docs/FORMAT.md "Weight record"): the files are smaller,
their outputs stay within the error their metadata reports, they equal a float32 model whose
weights numpy rounded the same way, float32 conversion stays bitwise, and both readers (the
Python API and the C library alone) refuse corrupted or truncated 16-bit weight records."""
from __future__ import annotations

import os
import re
import struct
import subprocess
import zlib

import numpy as np
import pytest

import fastgru
from fastgru.cli import main as cli_main
from fastgru.format import CRC_FROM, HEADER, WEIGHT, pack_model
from fastgru.keras import read_model
from fastgru.model import Model
from fixture_manifest import MANIFEST, arrays, load_data, paths
from model_cases import SpecBuilder
from test_model_capi import causal_sequence_model

# Fixtures covering every op family: GRU both reset_after ways, Bidirectional merges, masks,
# Embedding ids, norms, stacked cells, several inputs and outputs, both Keras generations.
FIXTURES = ["keras3/simple/keras3_keras", "keras3/sentiment/keras3_keras",
            "keras3/bidi_modes/keras3_keras", "keras3/masking_merge/keras3_keras",
            "keras3/norms/keras3_keras", "keras3/two_in_two_out/keras3_keras",
            "keras2/gru_options/keras2_h5", "keras2/stacked_cells/keras2_h5",
            "keras2/embedding_mask/keras2_h5"]
ENTRIES = [e for e in MANIFEST if e["id"] in FIXTURES]
REDUCED = ("float16", "bfloat16")
# The probe (batch 32 of seeded random input) bounds the error on Keras' stored inputs
# within 1.25x on every fixture; a factor 2 keeps the check meaningful and stable.
PROBE_FACTOR = 2.0


def round_bfloat16(a) -> np.ndarray:
    """float32 -> nearest bfloat16 (ties to even) -> float32, by float64 arithmetic on the
    8-bit significand (independent of the bit trick fastgru.format uses; normal numbers)."""
    a = np.asarray(a, dtype=np.float64)
    mantissa, exponent = np.frexp(a)
    return np.ldexp(np.rint(mantissa * 256.0), exponent - 8).astype(np.float32)


def round_float16(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float32)


ROUND = {"float16": round_float16, "bfloat16": round_bfloat16}


def as_list(y):
    return list(y) if isinstance(y, list) else [y]


def keras_inputs(entry):
    xs = arrays(load_data(entry), "x")
    return xs if len(xs) > 1 else xs[0]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(entry id, dtype) -> path of the converted file, made once per module."""
    done = {}

    def get(entry, dtype):
        key = (entry["id"], dtype)
        if key not in done:
            src, config = paths(entry)
            dst = tmp_path_factory.mktemp("fgru") / f"{dtype}.fgru"
            fastgru.convert(src, dst, config=config, dtype=dtype)
            done[key] = dst
        return done[key]
    return get


def weight_data_bytes(image: bytes) -> int:
    fields = HEADER.unpack_from(image)
    n_weights, weights_off = fields[9], fields[16]
    return sum(WEIGHT.unpack_from(image, weights_off + k * WEIGHT.size)[1]
               for k in range(n_weights))


@pytest.mark.parametrize("dtype", REDUCED)
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_reduced_file_is_smaller_and_within_its_reported_error(entry, dtype, converted,
                                                              error_record):
    full, reduced = converted(entry, "float32"), converted(entry, dtype)
    assert os.path.getsize(reduced) < os.path.getsize(full)
    assert weight_data_bytes(reduced.read_bytes()) * 2 == weight_data_bytes(full.read_bytes())
    # 16-bit weights need a 1.1 reader; float32 images stay 1.0 (docs/FORMAT.md Versioning)
    assert HEADER.unpack_from(reduced.read_bytes())[1:3] == (1, 1)
    assert HEADER.unpack_from(full.read_bytes())[1:3] == (1, 0)
    model = fastgru.load(reduced)
    precision = model.metadata["precision"]
    assert precision["dtype"] == dtype and "default_rng" in precision["probe"]
    reported = precision["max_abs_error_vs_float32"]
    assert 0 < reported < (2e-2 if dtype == "float16" else 1e-1)
    x = keras_inputs(entry)
    pairs = list(zip(as_list(model.predict(x)), as_list(fastgru.load(full).predict(x))))
    error = max(float(np.max(np.abs(a - b))) for a, b in pairs)
    for got, want in pairs:
        error_record.add(f"{dtype} vs float32", entry["model"], got, want)
    assert error <= PROBE_FACTOR * reported, (error, reported)


def rounded_spec(entry, dtype):
    """The fixture's spec with every weight rounded by numpy (kept float32)."""
    src, config = paths(entry)
    spec = read_model(src, config=config)
    for op in spec.ops:
        op.weights = {k: ROUND[dtype](v) for k, v in op.weights.items()}
    for layer in spec.layers:
        layer.weights = [(k, ROUND[dtype](v)) for k, v in layer.weights]
    return spec


@pytest.mark.parametrize("dtype", REDUCED)
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_reduced_file_equals_numpy_rounded_float32_model(entry, dtype, converted):
    reference = Model(pack_model(rounded_spec(entry, dtype)))
    model = fastgru.load(converted(entry, dtype))
    x = keras_inputs(entry)
    for got, want in zip(as_list(model.predict(x)), as_list(reference.predict(x))):
        np.testing.assert_array_equal(got, want)
    for layer, ref_layer in zip(model.layers, reference.layers):
        for got, want in zip(layer.get_weights(), ref_layer.get_weights()):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("entry", ENTRIES[:3], ids=lambda e: e["id"])
def test_float32_conversion_is_bitwise_and_load_dtype_previews_conversion(entry, converted):
    src, config = paths(entry)
    x = keras_inputs(entry)
    converted_model = fastgru.load(converted(entry, "float32"))
    assert "precision" not in converted_model.metadata
    for got, want in zip(as_list(converted_model.predict(x)),
                         as_list(fastgru.load(src, config=config).predict(x))):
        np.testing.assert_array_equal(got, want)
    preview = fastgru.load(src, config=config, dtype="bfloat16")
    assert preview.image == converted(entry, "bfloat16").read_bytes()


def test_converted_file_keeps_its_dtype(converted):
    path = converted(ENTRIES[0], "float16")
    assert fastgru.load(path, dtype="float16").metadata["precision"]["dtype"] == "float16"
    with pytest.raises(fastgru.FastGRUError, match=r"keeps the weight dtype.*float16"):
        fastgru.load(path, dtype="bfloat16")
    with pytest.raises(fastgru.FastGRUError, match="dtype='float8'"):
        fastgru.load(path, dtype="float8")


def dense_model(values):
    s = SpecBuilder("values")
    x = s.input("x", (len(values),))
    y = s.dense("out", x, 1)
    spec = s.spec([y])
    spec.ops[0].weights["kernel"][:, 0] = values
    return spec


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("dtype", REDUCED)
def test_widening_is_exact_for_edge_values(dtype):
    """Zeros, subnormal float16, the largest finite values, ties and NaN survive the round trip
    through the C widening exactly as numpy rounds them."""
    values = np.array([0.0, -0.0, 1.0, 1 / 3, -2.5e-3, 6e-8, 1e-7, -3e-5, 65504.0, -65504.0,
                       1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8,
                       np.nan], dtype=np.float32)
    if dtype == "bfloat16":
        values = np.concatenate([values, np.float32([1e30, -3e38, 1e-30])])
    kernel = Model(pack_model(dense_model(values), dtype)).layers[-1].get_weights()[0][:, 0]
    want = ROUND[dtype](values)
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(bits(kernel[finite]), bits(want[finite]))
    assert np.isnan(kernel[~finite]).all()


def test_float16_overflow_is_refused_naming_the_weight():
    spec = dense_model(np.float32([1.0, 7e4]))
    with pytest.raises(fastgru.FastGRUError,
                       match=r"layer 'out' weight 'kernel'.*70000.*overflows float16"):
        pack_model(spec, "float16")
    pack_model(spec, "bfloat16")    # in range for bfloat16
    spec = causal_sequence_model(3, 2)
    spec.ops[1].weights["recurrent_kernel"][0, 0] = -1e5
    with pytest.raises(fastgru.FastGRUError,
                       match=r"layer 'gru2' weight 'recurrent_kernel'.*100000"):
        pack_model(spec, "float16")


def patched(image: bytes, weight: int, field: int, value: int) -> bytes:
    """`image` with u32 / u64 `field` (byte offset in the weight record) of weight record
    `weight` set to `value`, and the checksum recomputed so that the loader gets past it."""
    out = bytearray(image)
    at = HEADER.unpack_from(image)[16] + weight * WEIGHT.size + field
    struct.pack_into("<Q" if field in (0, 8) else "<I", out, at, value)
    struct.pack_into("<I", out, 24, zlib.crc32(bytes(out[CRC_FROM:])) & 0xFFFFFFFF)
    return bytes(out)


def corruptions():
    """(name, image, words the refusal must contain) for a float16 image."""
    spec = causal_sequence_model(3, 2)     # weight 0: gru1 packed, 2: dense kernel (5, 2)
    f16, f32 = pack_model(spec, "float16"), pack_model(spec)
    nbytes = lambda image, k: WEIGHT.unpack_from(image, HEADER.unpack_from(image)[16] +
                                                 k * WEIGHT.size)[1]
    return [
        ("unknown dtype", patched(f16, 2, 16, 7), "weight 2 has unknown dtype 7"),
        ("truncated plain weight", patched(f16, 2, 8, nbytes(f16, 2) - 2),
         "weight 2 holds 18 bytes of dtype 1 but its shape needs 20"),
        ("odd-sized packed weight", patched(f16, 0, 8, nbytes(f16, 0) - 1),
         "weight 0 holds .* bytes of dtype 1, not a whole number of 2-byte values"),
        ("truncated packed weight", patched(f16, 0, 8, nbytes(f16, 0) - 64),
         "layer 'gru1' \\(gru\\): packed weights .* wrong size"),
        ("float32 data labelled float16", patched(f32, 2, 16, 1),
         "weight 2 holds 40 bytes of dtype 1 but its shape needs 20"),
    ]


CORRUPTIONS = corruptions()


@pytest.mark.parametrize("name,image,message", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_python_reader_refuses_bad_16bit_records(name, image, message, tmp_path):
    path = tmp_path / "bad.fgru"
    path.write_bytes(image)
    with pytest.raises(fastgru.FastGRUError, match=message):
        fastgru.load(path)


def test_c_reader_refuses_bad_16bit_records(c_program, tmp_path):
    load_check = c_program("load_check")
    for name, image, message in CORRUPTIONS:
        path = tmp_path / f"{name.replace(' ', '_')}.fgru"
        path.write_bytes(image)
        run = subprocess.run([str(load_check), str(path)], capture_output=True, text=True)
        assert run.returncode == 1 and run.stdout.startswith("error 3: "), (name, run.stdout)
        assert re.search(message, run.stdout), (name, run.stdout)
    good = tmp_path / "good.fgru"
    good.write_bytes(pack_model(causal_sequence_model(3, 2), "bfloat16"))
    run = subprocess.run([str(load_check), str(good)], capture_output=True, text=True)
    assert run.stdout.strip() == "ok 1 1", run.stdout


@pytest.mark.parametrize("dtype", REDUCED)
def test_c_program_runs_a_reduced_image(dtype, c_program, tmp_path):
    """The C library alone (tests/c/test_model_api.c: file, buffer, caller workspace,
    streaming) reproduces Python's outputs for a 16-bit image."""
    B, T, F, U = 3, 6, 4, 2
    image = pack_model(causal_sequence_model(F, U), dtype)
    x = np.random.default_rng(1).normal(size=(B, T, F)).astype(np.float32)
    (tmp_path / "m.fgru").write_bytes(image)
    x.tofile(tmp_path / "x.f32")
    Model(image).predict(x).astype(np.float32).tofile(tmp_path / "y.f32")
    run = subprocess.run([str(c_program("test_model_api")), str(tmp_path / "m.fgru"), str(tmp_path / "x.f32"),
                          str(tmp_path / "y.f32"), str(B), str(T), str(F), str(U)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr


def test_cli_convert_dtype_and_inspect_show_the_error(converted, tmp_path, capsys):
    src, _ = paths(ENTRIES[0])
    out = tmp_path / "m.fgru"
    assert cli_main(["convert", str(src), "-o", str(out), "--dtype", "bfloat16"]) == 0
    assert out.read_bytes() == converted(ENTRIES[0], "bfloat16").read_bytes()
    capsys.readouterr()
    assert cli_main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    error = fastgru.load(out).metadata["precision"]["max_abs_error_vs_float32"]
    assert f"weights stored as bfloat16 (computed in float32): max abs output error vs " \
           f"float32 {error:.3g}" in text
    assert cli_main(["convert", str(src), "-o", str(out), "--dtype", "float8"]) == 2
    assert "invalid choice: 'float8'" in capsys.readouterr().err
