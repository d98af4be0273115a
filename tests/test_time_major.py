"""Time-major recurrent ops (tf-keras' time_major=True): the engine reads (time, batch, ...)
through its strides, so a time-major op must give bitwise what the batch-major op gives on the
transposed input, for every cell, mask, direction, thread count and ISA; the loader's checks of
the attribute and the header's features bit; and what a time-major model refuses (streams,
split batches) naming the layer. The Keras-exact checks are the tm_* fixtures
(tools/fixtures_time_major.py) in the fixture suites."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

import fastgru
from fastgru import _core
from fastgru import format as fmt
from fastgru.model import Model
from fastgru.registry import OP_BY_NAME
from fixture_manifest import MANIFEST, TOL, arrays, load_data, paths
from model_cases import SpecBuilder
from spec_reference import run_spec

GATES = {"gru": 3, "lstm": 4, "simple_rnn": 1, "custom_gru": 3}
TM_FIXTURES = [e for e in MANIFEST if e["model"].startswith("tm_")]


def recurrent_spec(kind, time_major, *, batch, units, feats=5, masked=False,
                   go_backwards=False, reset_after=True, seed=3):
    """Masking? -> one recurrent op (sequences) -> Dense; time-major: per-sample (batch, F)."""
    s = SpecBuilder(f"{kind}_tm{int(time_major)}", np.random.default_rng(seed))
    x = s.input("x", (batch if time_major else None, feats))
    mask = None
    if masked:
        mask = s.op("compute_mask", "masking", [x], [("masking/mask", s.tensors[x].shape[:1],
                                                      "bool")], {"value": 0.0})
    g = GATES[kind]
    weights = {"kernel": s.w(feats, g * units), "recurrent_kernel": s.w(units, g * units)}
    gru_after = kind in ("gru", "custom_gru") and reset_after
    weights["bias"] = s.w(*((2, g * units) if gru_after else (g * units,)), scale=0.3)
    attrs = dict(units=units, activation="tanh", recurrent_activation="sigmoid"
                 if kind != "simple_rnn" else "linear", reset_after=gru_after, use_bias=True,
                 go_backwards=go_backwards, return_sequences=True, zero_output_for_mask=False,
                 stateful=False, time_major=time_major)
    if kind == "custom_gru":   # the GRU's equations as the cell's bytecode
        attrs["cell"] = fastgru.CustomGRU()
    states = [None] * (2 if kind == "lstm" else 1)
    y, *_ = s.op(kind, "rnn", [x, mask, *states], [("rnn/y", s.tensors[x].shape[:1] + (units,)),
                                                   *states], attrs, weights)
    return s.spec([s.dense("head", y, 3)])


def time_major_input(rng, steps, batch, feats=5, masked=False):
    """(steps, batch, feats); masked: sequence 0 post-padded, 1 pre-padded, 2 empty."""
    x = rng.standard_normal((steps, batch, feats)).astype(np.float32)
    if masked:
        x[steps - 2:, 0] = 0
        x[:3, 1 % batch] = 0
        x[:, 2 % batch] = 0
    return x


CASES = [("gru", False, False), ("gru", True, True), ("lstm", True, False),
         ("simple_rnn", False, True), ("custom_gru", True, True)]


@pytest.mark.parametrize("kind,masked,go_backwards", CASES)
@pytest.mark.parametrize("batch,units,threads", [(6, 8, 1), (6, 8, 2), (1, 128, 2)],
                         ids=["batch6-1thread", "batch6-2threads", "batch1-units-split"])
def test_time_major_equals_batch_major_on_the_transpose_bitwise(kind, masked, go_backwards,
                                                                  batch, units, threads):
    x = time_major_input(np.random.default_rng(1), 20, batch, masked=masked)
    opts = dict(batch=batch, units=units, masked=masked, go_backwards=go_backwards)
    tm = Model(fmt.pack_model(recurrent_spec(kind, True, **opts)), threads=threads)
    bm = Model(fmt.pack_model(recurrent_spec(kind, False, **opts)), threads=threads)
    got = tm.predict(x)
    assert got.shape == (20, batch, 3)
    assert np.array_equal(got, bm.predict(np.ascontiguousarray(x.transpose(1, 0, 2)))
                          .transpose(1, 0, 2))
    # and the float64 reference of the spec (tests/reference_time_major.py) agrees
    (want,) = run_spec(recurrent_spec(kind, True, **opts), [x])
    assert np.abs(got - want).max() <= TOL


@pytest.mark.parametrize("kind,masked,go_backwards", CASES)
def test_thread_counts_are_bitwise_equal(kind, masked, go_backwards):
    x = time_major_input(np.random.default_rng(2), 12, 1, masked=masked)
    image = fmt.pack_model(recurrent_spec(kind, True, batch=1, units=128, masked=masked,
                                          go_backwards=go_backwards))
    one = Model(image, threads=1).predict(x)
    for threads in (2, 3):
        assert np.array_equal(Model(image, threads=threads).predict(x), one)


def test_every_isa_matches_scalar_and_its_own_batch_major_run():
    x = time_major_input(np.random.default_rng(4), 9, 4, masked=True)
    tm = fmt.pack_model(recurrent_spec("lstm", True, batch=4, units=20, masked=True))
    bm = fmt.pack_model(recurrent_spec("lstm", False, batch=4, units=20, masked=True))
    try:
        _core.set_isa_cap("scalar")
        scalar = Model(tm).predict(x)
        for isa in _core.isa_available():
            _core.set_isa_cap(isa)
            got = Model(tm).predict(x)
            assert np.abs(got - scalar).max() <= TOL, isa
            transposed = np.ascontiguousarray(x.transpose(1, 0, 2))
            assert np.array_equal(got, Model(bm).predict(transposed).transpose(1, 0, 2)), isa
    finally:
        _core.set_isa_cap(None)


# ---- the image: the attribute, the header's features bit, the loader's checks -------------
def _patched(image: bytes, *, features=None, iattr=None) -> bytes:
    """`image` with its header features and / or op 0's iattr slot (name, value) rewritten,
    the CRC fixed."""
    out = bytearray(image)
    header = fmt.HEADER.unpack_from(out)
    if features is not None:
        struct.pack_into("<I", out, 28, features)
    if iattr is not None:
        slot, value = iattr
        kind = OP_BY_NAME[fmt.OPS[struct.unpack_from("<I", out, header[15])[0]].name]
        struct.pack_into("<i", out, header[15] + 32 + 4 * kind.iattrs.index(slot), value)
    struct.pack_into("<I", out, 24, zlib.crc32(memoryview(out)[fmt.CRC_FROM:]) & 0xFFFFFFFF)
    return bytes(out)


def _gru_image(time_major):
    return fmt.pack_model(recurrent_spec("gru", time_major, batch=3, units=4))


def test_a_time_major_image_declares_the_feature_and_minor_3():
    header = fmt.HEADER.unpack_from(_gru_image(True))
    assert header[2] == fmt.MINOR_TIME_MAJOR and header[6] == fmt.FEATURE_TIME_MAJOR
    header = fmt.HEADER.unpack_from(_gru_image(False))
    assert header[2] == fmt.MINOR and header[6] == 0


@pytest.mark.parametrize("edit,message", [
    (dict(features=0), r"layer 'rnn' \(gru\) is time-major, but the header does not declare"),
    (dict(features=3), r"needs features 0x2 that this reader does not know"),
    (dict(iattr=("time_major", 2)), r"layer 'rnn': attribute time_major = 2"),
    (dict(iattr=("return_sequences", 0)), r"layer 'rnn' \(gru\): a time-major op must "
                                          r"return sequences"),
    (dict(iattr=("stateful", 1)), r"layer 'rnn' \(gru\): a time-major op .* not be stateful"),
])
def test_the_loader_refuses_inconsistent_time_major_images(edit, message):
    with pytest.raises(fastgru.FastGRUError, match=message):
        Model(_patched(_gru_image(True), **edit))


def test_an_older_reader_refuses_the_image_by_its_features_field():
    """Readers before format 1.3 require the field (then reserved) to be 0; a batch-major
    image keeps it 0, so they still read every image without time-major ops."""
    assert struct.unpack_from("<I", _gru_image(True), 28)[0] != 0
    assert struct.unpack_from("<I", _gru_image(False), 28)[0] == 0


def test_reverse_time_of_the_batch_axis():
    s = SpecBuilder("reverse")
    x = s.input("x", (None, 2))
    y = s.op("reverse_time", "flip", [x], [("flip/y", (None, 2))], {"batch_axis": 1})
    image = fmt.pack_model(s.spec([y]))
    assert struct.unpack_from("<I", image, 28)[0] == fmt.FEATURE_TIME_MAJOR
    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    assert np.array_equal(Model(image).predict(x), x[::-1])
    with pytest.raises(fastgru.FastGRUError, match="layer 'flip' .*time-major"):
        Model(_patched(image, features=0))


# ---- what a time-major model refuses, naming the layer ------------------------------------
def test_stream_batch_size_chunks_are_refused_naming_the_layer():
    model = Model(_gru_image(True))
    with pytest.raises(fastgru.FastGRUError, match=r"layer 'rnn' \(gru\) is time-major.*cannot "
                                                    r"be streamed"):
        model.stream(batch_size=3)
    x = time_major_input(np.random.default_rng(5), 8, 3)
    with pytest.raises(fastgru.FastGRUError, match=r"layer 'rnn' is time-major.*batch_size=2"):
        model.predict(x, batch_size=2)
    assert np.array_equal(model.predict(x, batch_size=8), model.predict(x))


def test_dask_refuses_blocks_along_time():
    da = pytest.importorskip("dask.array")
    from fastgru import dask as fastgru_dask
    model = Model(_gru_image(True))
    x = time_major_input(np.random.default_rng(6), 8, 3)
    with pytest.raises(fastgru.FastGRUError, match=r"layer 'rnn' is time-major.*2 blocks"):
        fastgru_dask.predict(model, da.from_array(x, chunks=(4, 3, 5)))
    whole = fastgru_dask.predict(model, da.from_array(x, chunks=(8, 3, 5))).compute()
    assert np.array_equal(whole, model.predict(x))


# ---- the tm_* fixtures: every ISA against scalar, threads bitwise --------------------------
@pytest.mark.skipif(not TM_FIXTURES, reason="no time-major fixtures")
@pytest.mark.parametrize("entry", [e for e in TM_FIXTURES if e["format"] == "keras2_h5"],
                         ids=lambda e: e["model"])
def test_fixtures_on_every_isa_and_thread_count(entry):
    xs = arrays(load_data(entry), "x")
    model_path, config = paths(entry)
    image = fastgru.load(model_path, config=config).image
    try:
        _core.set_isa_cap("scalar")
        scalar = Model(image, threads=1).predict(xs)
        scalar = scalar if isinstance(scalar, list) else [scalar]
        for isa in _core.isa_available():
            _core.set_isa_cap(isa)
            one = Model(image, threads=1).predict(xs)
            two = Model(image, threads=2).predict(xs)
            for a, b, s in zip(*(y if isinstance(y, list) else [y] for y in (one, two)), scalar):
                assert np.array_equal(a, b), isa
                assert np.abs(a - s).max() <= TOL, isa
    finally:
        _core.set_isa_cap(None)


# ---- the translator: what a time-major layer cannot give, named --------------------------
def _tm_gru_config_with(layer, **changes):
    entry = next(e for e in TM_FIXTURES if e["format"] == "keras2_weights_h5"
                 and e["model"] == "tm_gru")
    weights, config_path = paths(entry)
    config = json.loads(config_path.read_text())
    next(x for x in config["config"]["layers"] if x["name"] == layer)["config"].update(changes)
    return weights, config


@pytest.mark.skipif(not TM_FIXTURES, reason="no time-major fixtures")
@pytest.mark.parametrize("changes,message", [
    (dict(return_sequences=False), r"layer 'gru_after'.*its last output \(batch, units\) has "
                                   r"no model batch axis"),
    (dict(return_state=True), r"layer 'gru_after'.*each final state .*without return_state"),
    (dict(stateful=True), r"layer 'gru_after'.*time_major=True with stateful=True"),
])
def test_time_major_layers_refuse_what_has_no_model_batch_axis(changes, message):
    weights, config = _tm_gru_config_with("gru_after", **changes)
    with pytest.raises(fastgru.FastGRUError, match=message):
        fastgru.load(weights, config=config)
