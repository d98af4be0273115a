"""The conv1d op (Keras Conv1D): the C executor against the float64 reference
(tests/reference_conv.py) for every option, SIMD paths against the scalar one, bitwise thread
independence, causal streams bitwise equal to predict, refusals, and hostile images."""
import os
import struct
import zlib

import numpy as np
import pytest

import fastgru
from fastgru import _core
from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from fastgru.registry import OP_BY_NAME
from model_cases import SpecBuilder
from spec_reference import run_spec

TOL = 1e-5
SIMD_ISAS = [isa for isa in _core.isa_available() if isa != "scalar"]


def conv(s, layer, x, filters, kernel_size, *, strides=1, dilation_rate=1, groups=1,
         padding="valid", activation="linear", use_bias=True):
    steps, channels = s.tensors[x].shape
    if steps is None:
        out = None
    elif padding == "valid":
        out = (steps - dilation_rate * (kernel_size - 1) - 1) // strides + 1
    else:
        out = -(-steps // strides)
    weights = {"kernel": s.w(kernel_size, channels // groups, filters)}
    if use_bias:
        weights["bias"] = s.w(filters, scale=0.3)
    attrs = dict(filters=filters, kernel_size=kernel_size, strides=strides,
                 dilation_rate=dilation_rate, groups=groups, padding=padding,
                 activation=activation)
    return s.op("conv1d", layer, [x], [(f"{layer}/y", (out, filters))], attrs, weights,
                "Conv1D")


def conv_spec(steps=13, channels=6, **kw):
    s = SpecBuilder("conv")
    x = s.input("x", (steps, channels))
    return s.spec([conv(s, "conv", x, **kw)])


def data(batch, steps, channels, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, channels)).astype(np.float32)


# (filters, kernel_size, strides, dilation_rate, groups, padding, activation, use_bias):
# column counts around the gemm's 48-column blocks, every padding, strides and dilations that
# leave partial windows, groups, and a row-wise activation.
OPTIONS = [
    (5, 3, 1, 1, 1, "valid", "relu", True),
    (7, 4, 2, 1, 1, "same", "tanh", False),
    (4, 3, 1, 2, 1, "causal", "linear", True),
    (6, 2, 3, 1, 2, "valid", "gelu", True),
    (48, 3, 1, 3, 1, "same", "linear", True),
    (49, 5, 2, 1, 1, "causal", "sigmoid", True),
    (100, 3, 1, 1, 2, "same", "linear", False),
    (96, 1, 1, 1, 3, "valid", "softmax", True),
    (6, 4, 1, 2, 6, "causal", "elu", True),
]


def _option_id(o):
    return f"f{o[0]}k{o[1]}s{o[2]}d{o[3]}g{o[4]}-{o[5]}-{o[6]}" + ("" if o[7] else "-nobias")


def _spec_of(option, steps=13):
    f, k, s, d, g, pad, act, bias = option
    return conv_spec(steps, 6, filters=f, kernel_size=k, strides=s, dilation_rate=d, groups=g,
                     padding=pad, activation=act, use_bias=bias)


@pytest.mark.parametrize("option", OPTIONS, ids=_option_id)
def test_conv1d_matches_the_float64_reference(option, error_record):
    spec = _spec_of(option, steps=150)   # three chunks of 64 output steps
    x = data(3, 150, 6)
    got = Model(pack_model(spec)).predict(x)
    want = run_spec(spec, [x])[0]
    assert got.shape == want.shape
    assert error_record.add("conv1d vs float64", _option_id(option), got, want) <= TOL


@pytest.mark.skipif(not SIMD_ISAS, reason="this CPU has no SIMD path besides scalar")
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("option", OPTIONS[3:7], ids=_option_id)
def test_simd_path_matches_scalar(isa, option, error_record):
    image, x = pack_model(_spec_of(option, steps=70)), data(2, 70, 6, seed=1)
    try:
        _core.set_isa_cap("scalar")
        scalar = Model(image).predict(x)
        _core.set_isa_cap(isa)
        simd = Model(image).predict(x)
    finally:
        _core.set_isa_cap(None)
    assert error_record.add("conv1d isa vs scalar", isa, simd, scalar) <= TOL


@pytest.mark.parametrize("dilation_rate", [1, 2], ids=["in-place windows", "gathered windows"])
def test_results_do_not_depend_on_the_thread_count(dilation_rate):
    # 2 x 5 x 600 x 5 x 32 x 64 flops: enough work to be split between threads
    image = pack_model(conv_spec(600, 32, filters=64, kernel_size=5, padding="same",
                                 dilation_rate=dilation_rate))
    x = data(5, 600, 32, seed=2)
    outputs = [Model(image, threads=n).predict(x) for n in (1, 2, 3, 7)]
    for y in outputs[1:]:
        assert y.tobytes() == outputs[0].tobytes()


def causal_stack():
    """Conv1D(causal, dilation 2) -> Conv1D(causal, groups) -> GRU(sequences) -> Dense, on a
    run-time length."""
    s = SpecBuilder("causal_stack")
    x = s.input("x", (None, 4))
    h = conv(s, "conv_a", x, 8, 3, dilation_rate=2, padding="causal", activation="relu")
    h = conv(s, "conv_b", h, 50, 2, groups=2, padding="causal")
    h = s.gru("gru", h, 5, return_sequences=True)
    return s, s.spec([s.dense("head", h, 3)])


def test_causal_stream_steps_equal_predict_bitwise():
    _, spec = causal_stack()
    model = Model(pack_model(spec))
    x = data(3, 11, 4, seed=3)
    full = model.predict(x)
    np.testing.assert_allclose(full, run_spec(spec, [x])[0], atol=TOL, rtol=0)
    stream = model.stream(batch_size=3)
    for run in range(2):   # a reset stream starts from the zero padding again
        for t in range(x.shape[1]):
            assert stream.step(x[:, t]).tobytes() == full[:, t].tobytes(), (run, t)
        stream.reset()


@pytest.mark.parametrize("padding, strides, kernel_size", [
    ("same", 1, 3), ("valid", 1, 2), ("causal", 2, 3)])
def test_convs_that_look_ahead_or_skip_steps_refuse_to_stream(padding, strides, kernel_size):
    steps = None if strides == 1 and padding == "same" else 12
    spec = conv_spec(steps, 4, filters=3, kernel_size=kernel_size, strides=strides,
                     padding=padding)
    with pytest.raises(FastGRUError, match="layer 'conv'.*cannot be streamed"):
        Model(pack_model(spec)).stream()


def test_stateful_gru_after_a_causal_conv_keeps_its_own_state_slot():
    s = SpecBuilder("stateful")
    x = s.input("x", (5, 4))
    h = conv(s, "conv", x, 6, 3, padding="causal")
    y = s.gru("gru", h, 4, stateful=True)
    spec = s.spec([y], stateful_batch=2)
    model = Model(pack_model(spec))
    h0 = np.random.default_rng(4).uniform(-1, 1, (2, 4)).astype(np.float32)
    model.reset_states([h0])
    x = data(2, 5, 4, seed=5)
    want = run_spec(spec, [x], {"gru/y": h0})[0]
    np.testing.assert_allclose(model.predict(x), want, atol=TOL, rtol=0)


# ---- hostile images -------------------------------------------------------------------------
OP_REC, OP_IATTR_AT = 96, 32


def with_conv_iattr(image: bytes, name: str, value: int) -> bytes:
    """`image` (one conv1d op, the first op) with iattr `name` set to `value`, CRC fixed."""
    bad = bytearray(image)
    ops_at = struct.unpack_from("<Q", bad, 72)[0]
    slot = OP_BY_NAME["conv1d"].iattrs.index(name)
    struct.pack_into("<i", bad, ops_at + OP_IATTR_AT + 4 * slot, value)
    struct.pack_into("<I", bad, 24, zlib.crc32(memoryview(bad)[32:]) & 0xFFFFFFFF)
    return bytes(bad)


@pytest.mark.parametrize("name, value, words", [
    ("kernel_size", 0, "kernel_size = 0"), ("kernel_size", 4, "kernel missing or not"),
    ("strides", 0, "strides = 0"), ("strides", -3, "strides = -3"),
    ("dilation_rate", 0, "dilation_rate = 0"), ("dilation_rate", 1 << 30, "dilation_rate"),
    ("groups", 0, "groups = 0"), ("groups", 4, "groups = 4 must divide"),
    ("padding", 3, "padding = 3"), ("activation", 99, "activation = 99"),
    ("use_bias", 0, "bias must be"), ("use_bias", 2, "use_bias = 2"),
    ("input_dim", 8, "input 'x' must be \\(time, 8\\)"),
    ("filters", 8, "output 'conv/y' must be \\(time, 8\\)"), ("input_dim", 5, "must divide"),
    ("filters", -1, "filters = -1"),
])
def test_hostile_attributes_are_refused_at_load(name, value, words):
    image = pack_model(conv_spec(12, 6, filters=6, kernel_size=3, groups=2, padding="same"))
    Model(image)   # the unedited image loads
    with pytest.raises(FastGRUError, match=f"layer 'conv'.*{words}"):
        Model(with_conv_iattr(image, name, value))


def test_output_length_that_disagrees_with_the_attributes_is_refused():
    s = SpecBuilder("bad_length")
    x = s.input("x", (12, 4))
    weights = {"kernel": s.w(3, 4, 5), "bias": s.w(5)}
    attrs = dict(filters=5, kernel_size=3, strides=2, dilation_rate=1, groups=1,
                 padding="valid", activation="linear")
    y = s.op("conv1d", "conv", [x], [("conv/y", (6, 5))], attrs, weights)   # Keras: 5
    with pytest.raises(FastGRUError, match="12 input steps give 5 output steps"):
        Model(pack_model(s.spec([y])))


def test_strided_conv_cannot_follow_a_run_time_length():
    s = SpecBuilder("open_strided")
    x = s.input("x", (None, 4))
    y = conv(s, "conv", x, 5, 3, strides=2, padding="same")
    with pytest.raises(FastGRUError, match="cannot follow the run-time length"):
        Model(pack_model(s.spec([y])))


def test_kernel_of_the_wrong_shape_is_refused():
    s = SpecBuilder("bad_kernel")
    x = s.input("x", (None, 4))
    attrs = dict(filters=5, kernel_size=3, strides=1, dilation_rate=1, groups=1,
                 padding="causal", activation="linear")
    y = s.op("conv1d", "conv", [x], [("conv/y", (None, 5))], attrs,
             {"kernel": s.w(3, 5, 4), "bias": s.w(5)})
    with pytest.raises(FastGRUError, match="kernel missing or not \\(3, 4, 5\\)"):
        Model(pack_model(s.spec([y])))


def test_huge_dilation_with_same_padding_fails_cleanly_or_runs():
    """A window far longer than the input (padding sized with care): every tap but none
    lands in the padding, so each output is the bias, or the run is refused."""
    spec = conv_spec(None, 2, filters=3, kernel_size=2, padding="same")
    hostile = with_conv_iattr(pack_model(spec), "dilation_rate", 1 << 24)
    try:
        got = Model(hostile).predict(data(2, 5, 2))
    except FastGRUError as e:
        assert "conv1d" in str(e) or "cap" in str(e)
    else:
        bias = spec.ops[0].weights["bias"]
        assert np.array_equal(got, np.broadcast_to(bias, got.shape))


# ---- what the translator refuses --------------------------------------------------------------
@pytest.mark.parametrize("input_shape, kwargs, words", [
    ((4, None), dict(data_format="channels_first"), "channels_first.*fixed number of steps"),
    ((None, 4), dict(padding="valid"), "needs a fixed input length"),
    ((None, 4), dict(padding="same", strides=2), "needs a fixed input length"),
])
def test_keras_conv1d_the_executor_cannot_run_is_refused_naming_the_layer(
        input_shape, kwargs, words, tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    x = keras.Input(input_shape)
    model = keras.Model(x, keras.layers.Conv1D(3, 3, name="the_conv", **kwargs)(x))
    model.save(tmp_path / "m.keras")
    with pytest.raises(FastGRUError, match=f"layer 'the_conv'.*{words}"):
        fastgru.load(tmp_path / "m.keras")
