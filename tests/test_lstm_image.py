"""The lstm and simple_rnn ops in the model image: the C loader's static checks refuse hostile
attributes (CRC-valid images whose op record was rewritten), and the C library's model run
(fg_model_run through the binding) equals the layer it was packed from, bitwise."""
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru import _core
from fastgru import format as fmt
from fastgru.errors import FastGRUError
from fastgru.registry import OP_BY_NAME

IATTRS = OP_BY_NAME["lstm"].iattrs


def _layers():
    rng = np.random.default_rng(0)

    def w(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)
    return {"lstm": fastgru.LSTM(3, w(2, 12), w(3, 12), w(12), return_sequences=True,
                                 return_state=True),
            "simple_rnn": fastgru.SimpleRNN(3, w(2, 3), w(3, 3), w(3), return_sequences=True,
                                            return_state=True)}


def _with_iattr(image: bytes, layer, name: str, value: int) -> bytes:
    """`image` with the op's integer attribute `name` set to `value`, CRC fixed. The op record
    is found by its attribute block, which the layer's options make unique in the image."""
    cfg = layer._config
    values = {"units": cfg.units, "activation": cfg.activation,
              "recurrent_activation": cfg.recurrent_activation, "reset_after": 0,
              "use_bias": 1, "go_backwards": 0, "return_sequences": 1,
              "zero_output_for_mask": 0, "stateful": 0, "input_dim": cfg.input_dim,
              "time_major": 0}
    block = struct.pack(f"<{len(IATTRS)}i", *[values[n] for n in IATTRS])
    at = image.find(block)
    assert at > 0 and image.find(block, at + 1) < 0
    out = bytearray(image)
    struct.pack_into("<i", out, at + 4 * IATTRS.index(name), value)
    struct.pack_into("<I", out, 24, zlib.crc32(memoryview(out)[fmt.CRC_FROM:]) & 0xFFFFFFFF)
    return bytes(out)


@pytest.mark.parametrize("kind, name, value, message", [
    ("lstm", "reset_after", 1, r"LSTM reset_after must be 0, got 1"),
    ("lstm", "units", 4, r"must be \(4,\) per sample"),
    ("lstm", "stateful", 7, r"attribute stateful = 7 \(expected 0 or 1\)"),
    ("lstm", "recurrent_activation", 99, r"recurrent_activation id must be in"),
    ("simple_rnn", "recurrent_activation", 2, r"a SimpleRNN has none"),
    ("simple_rnn", "input_dim", 5, r"input 'x' must be \(time, 5\) per sample"),
])
def test_loader_refuses_hostile_attributes(kind, name, value, message):
    layer = _layers()[kind]
    image = fmt.pack_model(layer._images.spec(False, True))
    _core.ModelCore(image, 0)    # the untouched image loads
    with pytest.raises(FastGRUError, match=message):
        _core.ModelCore(_with_iattr(image, layer, name, value), 0)


@pytest.mark.parametrize("kind", ["lstm", "simple_rnn"])
def test_loader_refuses_a_packed_weight_of_the_wrong_size(kind):
    layer = _layers()[kind]
    image = fmt.pack_model(layer._images.spec(False, False))
    # one unit less: every state tensor still says 3, so the first thing wrong is a tensor
    # shape or the packed weight's size; either way, a refusal naming the layer
    with pytest.raises(FastGRUError, match=f"layer '{kind}'"):
        _core.ModelCore(_with_iattr(image, layer, "units", 2), 0)


@pytest.mark.parametrize("kind", ["lstm", "simple_rnn"])
def test_image_run_equals_the_cell_kernel_bitwise(kind):
    """The model executor (fg_model_run) against fg_gru_forward called directly."""
    layer = _layers()[kind]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5, 2)).astype(np.float32)
    starts = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(layer._n_states)]
    got = layer(x, initial_state=starts if kind == "lstm" else starts[0])
    y = np.zeros((4, 5, 3), np.float32)
    h, c = np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)
    _core.gru_forward(layer._config, layer._packed, x, None, starts[0], y, h,
                      return_sequences=True, c0=starts[-1], c_final=c)
    for g, w in zip(got, [y, h, c]):
        np.testing.assert_array_equal(g, w)


FIXTURE = Path(__file__).parent / "fixtures" / "keras3" / "lstm_stateful.keras"


@pytest.mark.skipif(not FIXTURE.exists(), reason="no lstm_stateful fixture")
def test_model_reset_states_takes_an_lstm_pair():
    """A stateful model carries an LSTM's h and c (fg_state_set: a row of h then c): setting
    zeros equals resetting, a nonzero c changes the output, a wrong shape is refused."""
    model = fastgru.load(FIXTURE)
    x = np.random.default_rng(5).normal(size=(3, 5, 4)).astype(np.float32)
    model.reset_states()
    fresh = model.predict(x)
    zeros = [np.zeros((3, 6), np.float32), np.zeros((3, 6), np.float32)]
    model.reset_states([zeros, np.zeros((3, 4), np.float32)])
    np.testing.assert_array_equal(model.predict(x), fresh)
    model.reset_states([[zeros[0], np.ones((3, 6), np.float32)], np.zeros((3, 4), np.float32)])
    assert not np.array_equal(model.predict(x), fresh)
    with pytest.raises(FastGRUError, match=r"layer 'lstm' expects an \[h, c\] pair of shape"):
        model.reset_states([zeros[0], np.zeros((3, 4), np.float32)])
