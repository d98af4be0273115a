"""The Cython binding (fastgru._core.gru_*) refuses every array C could misread or overrun,
naming the array and what it expected, before any pointer reaches C."""
import numpy as np
import pytest

import fastgru
from fastgru import _core
from fastgru.spec import ACTIVATIONS
from conftest import make_weights

CONFIG = (4, 8, 1, 1, ACTIVATIONS["tanh"], ACTIVATIONS["sigmoid"])   # fg_gru_config order


@pytest.fixture(scope="module")
def packed():
    return _core.gru_pack(CONFIG, *make_weights(8, 4, True, True, np.random.default_rng(0)))


def _forward(packed, x=None, y=None, h=None, mask=None, h0=None, **flags):
    x = np.zeros((2, 3, 4), np.float32) if x is None else x
    y = np.empty((2, 8), np.float32) if y is None else y
    h = np.empty((2, 8), np.float32) if h is None else h
    _core.gru_forward(CONFIG, packed, x, mask, h0, y, h, **flags)
    return y, h


def test_packed_weights_are_64_byte_aligned_and_round_trip(packed):
    assert packed.ctypes.data % 64 == 0 and packed.nbytes == _core.gru_packed_bytes(CONFIG)
    weights = make_weights(8, 4, True, True, np.random.default_rng(0))
    for got, expected in zip(_core.gru_unpack(CONFIG, packed), weights):
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=np.zeros((2, 3, 4), ">f4")), r"x: expected an aligned native float32 ndarray, got ndarray >f4"),
    (dict(x=np.zeros((2, 3, 4), np.float64)), r"x: expected an aligned native float32"),
    (dict(x=np.zeros((2, 3, 5), np.float32)), r"x: expected shape \(2, 3, 4\), got \(2, 3, 5\)"),
    (dict(x=np.zeros((2, 3, 8), np.float32)[:, :, ::2]), r"x: strides \(96, 32, 8\) are not supported"),
    (dict(y=np.empty((2, 7), np.float32)), r"y: expected shape \(2, 8\), got \(2, 7\)"),
    (dict(y=np.empty((2, 3, 8), np.float32), return_sequences=False), r"y: expected shape \(2, 8\)"),
    (dict(y=np.empty((2, 8), np.float32), return_sequences=True), r"y: expected shape \(2, 3, 8\)"),
    (dict(h=np.empty((1, 8), np.float32)), r"h_final: expected shape \(2, 8\), got \(1, 8\)"),
    (dict(h0=np.zeros((2, 9), np.float32)), r"initial_state: expected shape \(2, 8\), got \(2, 9\)"),
    (dict(mask=np.ones((2, 3), bool)), r"mask: expected an aligned native uint8"),
    (dict(mask=np.ones((2, 4), np.uint8)), r"mask: expected shape \(2, 3\), got \(2, 4\)"),
])
def test_forward_refuses_arrays_c_could_misread(packed, kwargs, message):
    with pytest.raises(fastgru.FastGRUError, match=message):
        _forward(packed, **kwargs)


def test_forward_refuses_foreign_packed_weights(packed):
    with pytest.raises(fastgru.FastGRUError, match="packed GRU weights"):
        _forward(packed[:-64])
    with pytest.raises(fastgru.FastGRUError, match="packed GRU weights"):
        _forward(np.zeros(packed.nbytes, np.float32))


def test_bad_config_reports_the_c_message():
    with pytest.raises(fastgru.FastGRUError, match="units"):
        _core.gru_packed_bytes((4, 0, 1, 1, 1, 2))
    with pytest.raises(fastgru.FastGRUError, match="activation"):
        _core.gru_packed_bytes((4, 8, 1, 1, 99, 2))


def test_forward_writes_into_strided_views(packed):
    """y and h_final may be views into larger arrays (one half of a concatenation)."""
    x = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    y_alone, h_alone = _forward(packed, x=x, y=np.empty((2, 3, 8), np.float32), return_sequences=True)
    wide = np.full((2, 3, 20), 7.0, np.float32)
    h_wide = np.full((2, 16), 7.0, np.float32)
    _forward(packed, x=x, y=wide[:, :, 4:12], h=h_wide[:, 8:], return_sequences=True)
    assert np.array_equal(wide[:, :, 4:12], y_alone) and np.array_equal(h_wide[:, 8:], h_alone)
    assert (wide[:, :, :4] == 7).all() and (wide[:, :, 12:] == 7).all() and (h_wide[:, :8] == 7).all()


def test_isa_control_functions():
    assert _core.isa_available()[0] == "scalar"
    assert _core.isa_active() in _core.isa_available()
    assert _core.default_threads() >= 1 and isinstance(_core.have_openmp(), bool)
    with pytest.raises(fastgru.FastGRUError, match="sse9"):
        _core.set_isa_cap("sse9")
