"""The pooling and shape ops (global_pool, pool1d, reshape, permute, repeat_vector, pad_time,
upsample_time) in the C executor: each against the float64 reference of tests/reference_shape.py
(bitwise where the op only moves or picks values), on fixed and run-time lengths; the loader's
checks refusing hostile attributes and shapes with the layer named; streams refused by the
layers that need the whole sequence; and the Keras translators refusing what the image cannot
express. (Keras' own numbers for every layer: the shape_* fixtures, tests/test_load_fixtures.py.)"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import fastgru
from fastgru import format as fmt
from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from fastgru.registry import OP_BY_NAME
from model_cases import SpecBuilder
from spec_reference import run_spec

# name: (kind, attrs, input shape, output shape); None = a run-time length
CASES = {
    "global_max": ("global_pool", {"average": 0, "channels_first": 0}, (None, 4), (4,)),
    "global_avg_first_keep": ("global_pool", {"average": 1, "channels_first": 1}, (4, 7), (4, 1)),
    "max_3s2_same": ("pool1d", {"pool_size": 3, "strides": 2, "padding_same": 1, "average": 0,
                                "channels_first": 0}, (9, 3), (5, 3)),
    "avg_4s3_same_first": ("pool1d", {"pool_size": 4, "strides": 3, "padding_same": 1,
                                      "average": 1, "channels_first": 1}, (3, 9), (3, 3)),
    "avg_3s1_same_open": ("pool1d", {"pool_size": 3, "strides": 1, "padding_same": 1,
                                     "average": 1, "channels_first": 0}, (None, 3), (None, 3)),
    "max_2_valid": ("pool1d", {"pool_size": 2, "strides": 2, "padding_same": 0, "average": 0,
                               "channels_first": 0}, (7, 2), (3, 2)),
    "flatten": ("reshape", {}, (6, 4), (24,)),
    "reshape_steps": ("reshape", {}, (None, 6), (None, 2, 3)),
    "permute_3d": ("permute", {"axis_0": 2, "axis_1": 0, "axis_2": 1, "axis_3": 0},
                   (2, 3, 4), (4, 2, 3)),
    "repeat": ("repeat_vector", {"n": 3}, (5,), (3, 5)),
    "pad_crop": ("pad_time", {"before": 2, "after": -1, "channels_first": 0}, (6, 3), (7, 3)),
    "crop_pad_first": ("pad_time", {"before": -1, "after": 3, "channels_first": 1},
                       (3, 6), (3, 8)),
    "upsample": ("upsample_time", {"size": 3}, (4, 3), (12, 3)),
}
AVERAGING = {"global_avg_first_keep", "avg_4s3_same_first", "avg_3s1_same_open"}


def one_op(name, kind, attrs, in_shape, out_shape):
    s = SpecBuilder(name)
    x = s.input("x", in_shape)
    attrs = dict.fromkeys(OP_BY_NAME[kind].iattrs, 0) | attrs   # flags left out are off
    y = s.op(kind, name, [x], [(f"{name}/y", out_shape)], attrs)
    return s.spec([y])


def sample(shape, steps, rng, batch=3):
    return rng.standard_normal((batch,) + tuple(steps if d is None else d
                                                for d in shape)).astype(np.float32)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("steps", [5, 1])
def test_op_matches_the_reference(name, steps):
    kind, attrs, in_shape, out_shape = CASES[name]
    if None not in in_shape and steps != 5:
        pytest.skip("fixed length: one run is enough")
    spec = one_op(name, kind, attrs, in_shape, out_shape)
    x = sample(in_shape, steps, np.random.default_rng(steps))
    got = Model(pack_model(spec)).predict(x)
    want = run_spec(spec, [x])[0]
    assert got.shape == want.shape
    if name in AVERAGING:
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    else:   # values moved or picked, never computed: exact
        assert np.array_equal(got, want.astype(np.float32))


@pytest.mark.parametrize("multiplies", [0, 1])
def test_masked_mean_leaves_masked_steps_out_per_keras_version(multiplies):
    """The mean over the steps an id mask keeps. Keras 3 selects them (a NaN in a masked step
    is ignored); tf-keras multiplies by the mask, so a NaN there spreads to the mean."""
    s = SpecBuilder("gap")
    ids, x = s.input("ids", (None,), "int32"), s.input("x", (None, 3))
    mask = s.op("compute_mask", "emb", [ids], [("mask", (None,), "bool")], {"value": 0})
    y = s.op("global_pool", "gap", [x, mask], [("y", (3,))],
             {"average": 1, "channels_first": 0, "mask_multiplies": multiplies})
    spec = s.spec([y])
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, 9, size=(4, 6)).astype(np.int32)
    tokens[0, 4:] = 0
    tokens[1, :2] = 0
    tokens[2, :] = 0            # every step masked: 0 / 0, NaN, in both versions
    x = sample((None, 3), 6, rng, batch=4)
    x[3, 1] = np.nan            # a kept step: NaN in both versions
    x[0, 5] = np.nan            # a masked step
    with np.errstate(invalid="ignore"):
        got = Model(pack_model(spec)).predict([tokens, x])
        want = run_spec(spec, [tokens, x])[0]
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got[1], x[1, 2:].mean(axis=0), atol=1e-6)
    assert np.isnan(got[2]).all() and np.isnan(got[3]).all()
    assert np.isnan(got[0]).all() == bool(multiplies)
    if not multiplies:
        np.testing.assert_allclose(got[0], x[0, :4].mean(axis=0), atol=1e-6)


# ---- the loader's checks ------------------------------------------------------------------
def _op_record_at(image: bytes, layer: str) -> int:
    h = fmt.HEADER.unpack_from(image)
    n_ops, ops_off, strings_off = h[8], h[15], h[18]
    for i in range(n_ops):
        at = ops_off + i * fmt.OP.size
        name_at = strings_off + struct.unpack_from("<I", image, at + 4)[0]
        if image[name_at:image.index(b"\0", name_at)].decode() == layer:
            return at
    raise KeyError(layer)


def with_iattr(image: bytes, layer: str, slot: str, value: int) -> bytes:
    """`image` with one integer attribute of `layer`'s op set to `value`, CRC fixed."""
    out = bytearray(image)
    at = _op_record_at(image, layer)
    kind = fmt.OP.unpack_from(image, at)[0]
    names = next(op.iattrs for op in OP_BY_NAME.values() if op.id == kind)
    struct.pack_into("<i", out, at + 32 + 4 * names.index(slot), value)
    struct.pack_into("<I", out, 24, zlib.crc32(memoryview(out)[fmt.CRC_FROM:]) & 0xFFFFFFFF)
    return bytes(out)


HOSTILE = [
    ("global_max", "average", 2), ("global_max", "channels_first", -1),
    ("max_3s2_same", "pool_size", 0), ("max_3s2_same", "strides", -3),
    ("max_3s2_same", "strides", 1),          # 9 steps out, the tensor holds 5
    ("max_3s2_same", "padding_same", 0),      # valid: 4 steps, not 5
    ("avg_4s3_same_first", "channels_first", 0),
    ("permute_3d", "axis_1", 2), ("permute_3d", "axis_0", 7), ("permute_3d", "axis_3", 1),
    ("repeat", "n", 4), ("repeat", "n", 0),
    ("pad_crop", "before", -7), ("pad_crop", "after", 5), ("pad_crop", "before", -2**31 + 1),
    ("upsample", "size", 2), ("upsample", "size", 2**31 - 1),
]


@pytest.mark.parametrize("name,slot,value", HOSTILE)
def test_hostile_attributes_are_refused_naming_the_layer(name, slot, value):
    kind, attrs, in_shape, out_shape = CASES[name]
    image = with_iattr(pack_model(one_op(name, kind, attrs, in_shape, out_shape)), name, slot,
                       value)
    with pytest.raises(FastGRUError, match=f"layer '{name}'"):
        Model(image)


@pytest.mark.parametrize("kind,attrs,in_shape,out_shape", [
    ("reshape", {}, (6, 4), (25,)),                # not the same number of elements
    ("reshape", {}, (None, 6), (6, 1)),            # a run-time length into a fixed one
    ("global_pool", {"average": 1, "channels_first": 0}, (5, 4), (5,)),
    ("global_pool", {"average": 1, "channels_first": 0}, (5, 4), (4, 1)),   # keepdims: (1, 4)
    ("permute", {"axis_0": 1, "axis_1": 0}, (2, 3), (2, 3)),
    ("repeat_vector", {"n": 2}, (3, 4), (2, 3, 4)),
    ("upsample_time", {"size": 2}, (4, 3), (8, 2)),
])
def test_hostile_shapes_are_refused_naming_the_layer(kind, attrs, in_shape, out_shape):
    with pytest.raises(FastGRUError, match="layer 'bad'"):
        Model(pack_model(one_op("bad", kind, attrs, in_shape, out_shape)))


def test_a_run_too_short_for_the_op_is_refused():
    spec = one_op("gmp", "global_pool", {"average": 0, "channels_first": 0}, (None, 2), (2,))
    with pytest.raises(FastGRUError, match="layer 'gmp'.*0 steps"):
        Model(pack_model(spec)).predict(np.zeros((2, 0, 2), np.float32))


# ---- streams ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["global_max", "avg_3s1_same_open"])
def test_stream_is_refused_naming_the_layer(name):
    kind, attrs, in_shape, out_shape = CASES[name]
    model = Model(pack_model(one_op(name, kind, attrs, in_shape, out_shape)))
    with pytest.raises(FastGRUError, match=f"layer '{name}'.*cannot be streamed"):
        model.stream(batch_size=2)


def test_per_step_ops_stream_like_predict():
    """A pooling window of one step and reshapes / permutes within a step run one step at a
    time: the stream's steps are predict's."""
    s = SpecBuilder("per_step")
    x = s.input("x", (None, 6))
    p = s.op("pool1d", "pool", [x], [("p", (None, 6))],
             {"pool_size": 1, "strides": 1, "padding_same": 0, "average": 1, "channels_first": 0})
    r = s.op("reshape", "split", [p], [("r", (None, 2, 3))])
    q = s.op("permute", "swap", [r], [("q", (None, 3, 2))],
             {"axis_0": 0, "axis_1": 2, "axis_2": 1, "axis_3": 0})
    j = s.op("reshape", "join", [q], [("j", (None, 6))])
    y = s.gru("gru", j, 4, return_sequences=True)
    model = Model(pack_model(s.spec([y])))
    xs = sample((None, 6), 5, np.random.default_rng(7))
    full = model.predict(xs)
    stream = model.stream(batch_size=3)
    for t in range(5):
        np.testing.assert_allclose(stream.step(xs[:, t]), full[:, t], atol=1e-6, rtol=0)


# ---- translators --------------------------------------------------------------------------
keras = pytest.importorskip("keras")


@pytest.mark.parametrize("layer,why", [
    (lambda L: L.Flatten(name="culprit"), "output size"),
    (lambda L: L.Reshape((-1, 2), name="culprit"), "reshaping"),
    (lambda L: L.Permute((2, 1), name="culprit"), "moving the time axis"),
])
def test_unknown_lengths_that_an_image_cannot_follow_are_refused(tmp_path, layer, why):
    x = keras.Input((None, 4))
    model = keras.Model(x, layer(keras.layers)(x))
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(FastGRUError, match=f"layer 'culprit'.*{why}.*fixed length"):
        fastgru.load(path)


# ---- lengths derived per run ------------------------------------------------------------------
def derived_lengths():
    """x (T, 3) -> max pool 2 -> pad (1, 2) -> upsample 2 -> crop (1, 1) -> average pool 3
    stride 2 same: each output on a time axis of its own, derived from T per run."""
    s = SpecBuilder("derived")
    x = s.input("x", (None, 3))
    p = s.op("pool1d", "pool", [x], [("p", (None, 3))],
             {"pool_size": 2, "strides": 2, "padding_same": 0, "average": 0, "channels_first": 0})
    q = s.op("pad_time", "pad", [p], [("q", (None, 3))],
             {"before": 1, "after": 2, "channels_first": 0})
    u = s.op("upsample_time", "up", [q], [("u", (None, 3))], {"size": 2})
    c = s.op("pad_time", "crop", [u], [("c", (None, 3))],
             {"before": -1, "after": -1, "channels_first": 0})
    a = s.op("pool1d", "avg", [c], [("a", (None, 3))],
             {"pool_size": 3, "strides": 2, "padding_same": 1, "average": 1, "channels_first": 0})
    return s.spec([a, p])


@pytest.mark.parametrize("steps", [1, 2, 7, 12])
def test_derived_lengths_follow_the_input_length(steps):
    spec = derived_lengths()
    model = Model(pack_model(spec))
    x = sample((None, 3), steps, np.random.default_rng(steps))
    got = model.predict(x)
    want = run_spec(spec, [x])
    pooled = steps // 2
    assert got[1].shape == (3, pooled, 3) and got[0].shape == want[0].shape
    assert got[0].shape[1] == (2 * (pooled + 3) - 2 + 1) // 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6, rtol=0)


def test_a_derived_axis_that_does_not_fit_is_refused_at_run():
    """A hostile image puts the pooled output on the input's time axis: the run's check finds
    the pooled length differs and names the layer."""
    image = bytearray(pack_model(derived_lengths()))
    h = fmt.HEADER.unpack_from(image)
    n_tensors, tensors_off, strings_off = h[7], h[14], h[18]
    for i in range(n_tensors):
        at = tensors_off + i * fmt.TENSOR.size
        name_at = strings_off + struct.unpack_from("<I", image, at)[0]
        if image[name_at:image.index(b"\0", name_at)] == b"p":
            struct.pack_into("<I", image, at + 12, 0)
    struct.pack_into("<I", image, 24, zlib.crc32(memoryview(image)[fmt.CRC_FROM:]) & 0xFFFFFFFF)
    model = Model(bytes(image))
    with pytest.raises(FastGRUError, match="layer 'pool'"):
        model.predict(np.zeros((2, 6, 3), np.float32))
