"""Opt-in bf16 compute (``fastgru.load(..., precision="bfloat16")``, fg_gru.h
FG_PRECISION_BF16): the GRU products in bf16, everything else float32.

- every fixture against Keras' float32 outputs within BF16_TOL (measured: 1.2e-2 at most, on
  keras*/activations; 2e-3 to 8e-3 on most), and visibly not the float32 result;
- a float64 numpy re-derivation of the bf16 semantics (weights, x, h and r*h rounded to bf16
  where they enter a product) for single layers, odd sizes included;
- the native AVX512_BF16 kernel against the portable one: products bitwise (tests/c/test_bf16.c),
  whole models within float32 noise (their gate maths differ, as the fp32 ISA paths' do);
- fastgru.GRU(..., precision="bf16") runs the same kernel;
- precision="float32" (the default) unchanged bitwise; bad values refused; the precision
  survives pickling; streaming runs it; a bfloat16-stored file runs in either precision.
"""
from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru import _core
from fastgru.format import RECURRENT_KINDS
from fastgru.keras import read_model
from fastgru.output_structure import flatten
from fastgru.spec import ACTIVATIONS
from fixture_manifest import (CUSTOM_OBJECTS, MANIFEST, arrays, is_stateful, load_data,
                              max_error, paths)
from test_load_fixtures import ONE_PER_MODEL, _expected, _feed, _load, _run

ROOT = Path(__file__).resolve().parent.parent
BF16_TOL = 2e-2
HAS_NATIVE = "avx512_bf16" in (Path("/proc/cpuinfo").read_text()
                               if Path("/proc/cpuinfo").exists() else "")
needs_fixtures = pytest.mark.skipif(not MANIFEST,
                                    reason="no fixtures (tests/fixtures/manifest.json)")


@needs_fixtures
@pytest.mark.parametrize("entry", ONE_PER_MODEL, ids=lambda e: e["id"])
def test_bf16_matches_keras(entry, error_record):
    data = load_data(entry)
    model = _load(entry, precision="bfloat16")
    if not any(layer.class_name in ("GRU", "RNN", "Bidirectional") for layer in model.layers):
        pytest.skip("no GRU layer: the bfloat16 precision applies to GRU layers only")
    got, expected = _run(model, data), _expected(data)
    error_record.add("bf16 vs Keras", f"{entry['format']}/{entry['model']}",
                     np.concatenate([g.ravel() for g in got]),
                     np.concatenate([e.ravel() for e in expected]))
    assert max_error(got, expected) <= BF16_TOL
    fp32 = _run(_load(entry), data)
    if _has_gru(entry):   # the precision is the GRU ops': a model without one runs float32
        assert any(not np.array_equal(a, b) for a, b in zip(got, fp32)), "bf16 ran as float32"
    else:
        assert all(np.array_equal(a, b) for a, b in zip(got, fp32))


def _has_gru(entry) -> bool:
    """Whether the model has a recurrent op (gru, lstm, simple_rnn, custom_gru), the ops the
    bf16 precision applies to."""
    model_path, config = paths(entry)
    spec = read_model(model_path, config=config, custom_objects=CUSTOM_OBJECTS.get(entry["model"]))
    return any(op.kind in RECURRENT_KINDS for op in spec.ops)


@needs_fixtures
@pytest.mark.skipif(not HAS_NATIVE, reason="this CPU has no AVX512_BF16: only the portable "
                                           "kernel runs")
@pytest.mark.parametrize("entry", [e for e in ONE_PER_MODEL if e["keras_version"][0] == "3"],
                         ids=lambda e: e["id"])
def test_portable_kernel_matches_native(entry):
    data = load_data(entry)
    native = _run(_load(entry, precision="bfloat16"), data)
    _core.set_isa_cap("avx512")      # caps native bf16 off: the portable kernel runs
    try:
        portable = _run(_load(entry, precision="bfloat16"), data)
    finally:
        _core.set_isa_cap(None)
    # measured 1.2e-7 on the GRU models, the gate maths' libm vs SIMD; 3.7e-6 on lstm_stacked,
    # where those differences (an LSTM's two activations a step, three stacked cells) flip the
    # bf16 rounding of a few h values entering the next product
    assert max_error(native, portable) <= 1e-5


def test_c_products_native_equal_portable_bitwise(c_program):
    exe = c_program("test_bf16")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    if run.stdout.startswith("skip:"):
        pytest.skip(run.stdout.strip())
    assert run.stdout.strip() == "ok"


# ---- the semantics, re-derived in float64 ----------------------------------------------------

def bf16(a):
    """float32 -> nearest-even bfloat16, as float64 (normal numbers)."""
    bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def bf16_gru_reference(x, W, U, bias, reset_after):
    """h of a tanh / sigmoid GRU with bf16 products; x (B, T, F)."""
    u = U.shape[0]
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * u))
    W, U = bf16(W), bf16(U)
    h = np.zeros((x.shape[0], u))
    for t in range(x.shape[1]):
        xw = bf16(x[:, t]) @ W + b_in
        hb = bf16(h)
        if reset_after:
            hu = hb @ U + b_rec
            z, r = sigmoid(xw[:, :u] + hu[:, :u]), sigmoid(xw[:, u:2 * u] + hu[:, u:2 * u])
            hh = np.tanh(xw[:, 2 * u:] + r * hu[:, 2 * u:])
        else:
            z = sigmoid(xw[:, :u] + hb @ U[:, :u])
            r = sigmoid(xw[:, u:2 * u] + hb @ U[:, u:2 * u])
            hh = np.tanh(xw[:, 2 * u:] + bf16(r * h) @ U[:, 2 * u:])
        h = z * h + (1 - z) * hh
    return h


@pytest.mark.parametrize("reset_after", [1, 0])
@pytest.mark.parametrize("F,U", [(7, 20), (64, 33)])
def test_bf16_layer_equals_numpy_rederivation(reset_after, F, U):
    rng = np.random.default_rng(F + U + reset_after)
    B, T = 5, 6
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    W = (rng.standard_normal((F, 3 * U)) / np.sqrt(F)).astype(np.float32)
    Ur = (rng.standard_normal((U, 3 * U)) / np.sqrt(U)).astype(np.float32)
    bias = rng.standard_normal((2, 3 * U) if reset_after else (3 * U,)).astype(np.float32) * 0.1
    config = (F, U, reset_after, 1, 1, 2, 1)    # tanh, sigmoid, bf16
    assert config[4:6] == (ACTIVATIONS["tanh"], ACTIVATIONS["sigmoid"])
    packed = _core.gru_pack(config, W, Ur, bias)
    assert len(packed) < _core.gru_packed_bytes(config[:6]) * 0.6   # about half the bytes
    y = np.empty((B, U), np.float32)
    _core.gru_forward(config, packed, x, None, None, y, None)
    want = bf16_gru_reference(x, W, Ur, bias, reset_after)
    err = np.max(np.abs(y - want))
    assert err <= 2e-6
    y32 = np.empty((B, U), np.float32)
    _core.gru_forward(config[:6], _core.gru_pack(config[:6], W, Ur, bias), x, None, None, y32,
                      None)
    assert np.max(np.abs(y32 - want)) > 100 * err   # the reference tells bf16 from float32
    layer = fastgru.GRU(U, W, Ur, bias, reset_after=bool(reset_after), precision="bf16")
    assert layer.precision == "bfloat16" and np.array_equal(layer(x), y)
    k, rk, b = _core.gru_unpack(config, packed)     # the weights as rounded
    assert np.array_equal(k, bf16(W).astype(np.float32)) and np.array_equal(b, bias)
    assert np.array_equal(rk, bf16(Ur).astype(np.float32))


# ---- the API -----------------------------------------------------------------------------

@needs_fixtures
@pytest.mark.parametrize("entry", ONE_PER_MODEL[:6], ids=lambda e: e["id"])
def test_float32_precision_is_the_default_and_unchanged(entry):
    data = load_data(entry)
    default = _load(entry)
    bf = _load(entry, precision="bf16")
    assert default.precision == "float32" and bf.precision == "bfloat16"
    want = _run(default, data)
    for other in (_load(entry, precision="float32"), _load(entry, precision="fp32")):
        assert all(np.array_equal(a, b) for a, b in zip(_run(other, data), want))
    # bf16 repacks a copy: the weights handed out stay the float32 ones
    for la, lb in zip(bf.layers, default.layers):
        assert all(np.array_equal(a, b) for a, b in zip(la.get_weights(), lb.get_weights()))


@needs_fixtures
@pytest.mark.parametrize("bad", ["float16", "BF16", "int8", 1, None])
def test_bad_precision_is_refused(bad):
    path = ROOT / "tests" / "fixtures" / MANIFEST[0]["file"]
    with pytest.raises(fastgru.FastGRUError, match="precision"):
        fastgru.load(path, precision=bad)


def test_bad_precision_id_is_refused_in_c():
    with pytest.raises(fastgru.FastGRUError, match="precision must be 0 .fp32. or 1 .bf16., got 2"):
        _core.gru_packed_bytes((4, 8, 1, 1, 1, 2, 2))


def _small_model(precision, threads=None, features=12, units=40):
    from model_cases import SpecBuilder
    from fastgru.format import pack_model
    from fastgru.model import Model

    s = SpecBuilder("small")
    x = s.input("x", (None, features))
    return Model(pack_model(s.spec([s.gru("gru", x, units, return_sequences=True)])),
                 precision=precision, threads=threads)


def test_bf16_survives_pickling_and_streams_like_predict():
    model = _small_model("bfloat16")
    x = np.random.default_rng(3).standard_normal((3, 9, 12)).astype(np.float32)
    full = model.predict(x)
    again = pickle.loads(pickle.dumps(model))
    assert again.precision == "bfloat16" and np.array_equal(again.predict(x), full)
    assert not np.array_equal(_small_model("float32").predict(x), full)
    stream = model.stream(batch_size=3)
    for t in range(x.shape[1]):
        np.testing.assert_allclose(stream.step(x[:, t]), full[:, t], atol=1e-6, rtol=0)


@pytest.mark.parametrize("batch", [1, 3])
def test_bf16_units_split_between_threads_is_bitwise(batch):
    """Batches smaller than the team split their units between threads (fg_gru.c): each
    thread runs the bf16 kernels on its block range, with the 1-thread result's bits."""
    x = np.random.default_rng(batch).standard_normal((batch, 7, 64)).astype(np.float32)
    one, two = (_small_model("bfloat16", threads=n, features=64, units=130) for n in (1, 2))
    assert np.array_equal(one.predict(x), two.predict(x))


@needs_fixtures
def test_bfloat16_stored_file_runs_in_either_precision(tmp_path):
    entry = next(e for e in ONE_PER_MODEL if e["model"] == "simple" and not
                 is_stateful(load_data(e)))
    data = load_data(entry)
    path = tmp_path / "m.fgru"
    src, config = ROOT / "tests" / "fixtures" / entry["file"], None
    if entry["config"]:
        config = ROOT / "tests" / "fixtures" / entry["config"]
    fastgru.convert(src, path, config=config, dtype="bfloat16")
    stored32 = fastgru.load(path)
    stored_bf = fastgru.load(path, precision="bfloat16")
    assert stored32.precision == "float32" and stored_bf.precision == "bfloat16"
    xs = arrays(data, "x")
    a, b = flatten(stored32.predict(_feed(xs))), flatten(stored_bf.predict(_feed(xs)))
    assert max_error(a, _expected(data)) <= BF16_TOL and max_error(b, _expected(data)) <= BF16_TOL
    assert any(not np.array_equal(p, q) for p, q in zip(a, b))   # x and h rounded too
