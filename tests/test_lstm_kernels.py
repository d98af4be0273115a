"""The LSTM and SimpleRNN cells of the recurrent engine (fg_gru.h, cell FG_CELL_LSTM /
FG_CELL_SIMPLE_RNN), through the low-level binding: against the float64 references of
tests/reference_lstm.py over the options grid, every SIMD path against scalar, thread counts
(batch and units splits) bitwise, pack / unpack round trips and the bf16 opt-in."""
import numpy as np
import pytest

from fastgru import _core
from fastgru.errors import FastGRUError
from fastgru.spec import ACTIVATIONS, CELL_GATES, CELLS, GruConfig
from conftest import MASK_KINDS, TOL, make_mask
from reference_lstm import lstm_reference, simple_rnn_reference

SIMD_ISAS = [isa for isa in _core.isa_available() if isa != "scalar"]
LSTM, SIMPLE_RNN = CELLS["lstm"], CELLS["simple_rnn"]


@pytest.fixture
def isa_cap():
    yield _core.set_isa_cap
    _core.set_isa_cap(None)


def _problem(cell, batch, timesteps, input_dim, units, *, use_bias=True, seed=0,
             activation="tanh", recurrent_activation="sigmoid", precision=0):
    rng = np.random.default_rng(seed)
    g = CELL_GATES[cell]
    cfg = GruConfig(input_dim, units, 0, int(use_bias), ACTIVATIONS[activation],
                    ACTIVATIONS[recurrent_activation], precision, cell)
    w = (rng.normal(0, 0.5, (input_dim, g * units)).astype(np.float32),
         rng.normal(0, 0.3, (units, g * units)).astype(np.float32),
         rng.normal(0, 0.2, (g * units,)).astype(np.float32) if use_bias else None)
    x = rng.normal(size=(batch, timesteps, input_dim)).astype(np.float32)
    states = [rng.uniform(-1, 1, (batch, units)).astype(np.float32) for _ in range(2)]
    return cfg, w, x, states


def _run(cfg, w, x, states, *, mask=None, go_backwards=False, return_sequences=True,
         zero_output_for_mask=False, nthreads=0, with_states=True):
    batch, timesteps, _ = x.shape
    u = cfg.units
    packed = _core.gru_pack(cfg, *w)
    y = np.zeros((batch, timesteps, u) if return_sequences else (batch, u), np.float32)
    h, c = np.zeros((batch, u), np.float32), np.zeros((batch, u), np.float32)
    if mask is not None:
        mask = mask.astype(np.uint8)
    _core.gru_forward(cfg, packed, x, mask, states[0] if with_states else None, y, h,
                      go_backwards=go_backwards, return_sequences=return_sequences,
                      zero_output_for_mask=zero_output_for_mask, nthreads=nthreads,
                      c0=states[1] if with_states else None, c_final=c)
    return (y, h, c) if cfg.cell == LSTM else (y, h)


def _reference(cfg, w, x, states, activation, recurrent_activation, **options):
    if not options.pop("with_states", True):
        states = None
    if cfg.cell == LSTM:
        return lstm_reference(x, *w, activation=activation,
                              recurrent_activation=recurrent_activation,
                              initial_state=states, **options)
    return simple_rnn_reference(x, *w, activation=activation,
                                initial_state=None if states is None else states[0], **options)


# (cell, activation, recurrent_activation, batch, timesteps, input_dim, units): sizes around
# the 16-unit blocks and the row tiles (a SimpleRNN's tiles of 1 to 4 blocks: 7, 20, 48 and
# 112 units), a row-wise activation (the unfused step), Keras 2's hard sigmoid.
GRID = [
    (LSTM, "tanh", "sigmoid", 3, 5, 4, 7),
    (LSTM, "tanh", "hard_sigmoid_keras2", 9, 6, 3, 33),
    (LSTM, "softmax", "hard_sigmoid", 2, 4, 5, 17),
    (LSTM, "relu", "sigmoid", 1, 7, 2, 40),
    (SIMPLE_RNN, "tanh", "linear", 13, 5, 4, 7),
    (SIMPLE_RNN, "relu", "linear", 25, 4, 3, 48),
    (SIMPLE_RNN, "tanh", "linear", 11, 5, 6, 112),
    (SIMPLE_RNN, "log_softmax", "linear", 2, 6, 3, 20),
]


@pytest.mark.parametrize("case", GRID, ids=lambda c: f"cell{c[0]}-{c[1]}-{c[2]}-b{c[3]}u{c[6]}")
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cell_matches_float64_reference(case, mask_kind, go_backwards, error_record):
    cell, act, ract, batch, timesteps, input_dim, units = case
    cfg, w, x, states = _problem(cell, batch, timesteps, input_dim, units, activation=act,
                                 recurrent_activation=ract)
    mask = make_mask(mask_kind, batch, timesteps, np.random.default_rng(1))
    for seq in (False, True):
        for zero_out in (False, True):
            for with_states in (False, True):
                options = dict(mask=mask, go_backwards=go_backwards, return_sequences=seq,
                               zero_output_for_mask=zero_out, with_states=with_states)
                got = _run(cfg, w, x, states, **options)
                want = _reference(cfg, w, x, states, act, ract, **options)
                family = f"{'lstm' if cell == LSTM else 'simple_rnn'} masks={mask_kind}"
                for g, r in zip(got, want):
                    assert error_record.add(family, "kernel vs float64", g, r) <= 2 * TOL


@pytest.mark.parametrize("cell", [LSTM, SIMPLE_RNN])
def test_no_bias_and_no_steps(cell):
    cfg, w, x, states = _problem(cell, 3, 4, 5, 9, use_bias=False)
    got = _run(cfg, w, x, states)
    want = _reference(cfg, w, x, states, "tanh", "sigmoid", return_sequences=True)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, atol=2 * TOL)
    # zero steps: the final states are the initial ones, the last output zeros
    got = _run(cfg, w, x[:, :0], states, return_sequences=False)
    assert not got[0].any()
    np.testing.assert_array_equal(got[1], states[0])
    if cell == LSTM:
        np.testing.assert_array_equal(got[2], states[1])


@pytest.mark.skipif(not SIMD_ISAS, reason="this CPU has no SIMD path besides scalar")
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("case", GRID, ids=lambda c: f"cell{c[0]}-{c[1]}-b{c[3]}u{c[6]}")
def test_simd_path_matches_scalar(isa, case, isa_cap):
    cell, act, ract, batch, timesteps, input_dim, units = case
    cfg, w, x, states = _problem(cell, batch, timesteps, input_dim, units, activation=act,
                                 recurrent_activation=ract)
    mask = make_mask("random", batch, timesteps, np.random.default_rng(2))
    isa_cap("scalar")
    want = _run(cfg, w, x, states, mask=mask)
    isa_cap(isa)
    assert _core.isa_active() == isa
    for g, r in zip(_run(cfg, w, x, states, mask=mask), want):
        assert np.max(np.abs(g - r) / np.maximum(1.0, np.abs(r))) <= TOL   # relative above 1


@pytest.mark.parametrize("cell", [LSTM, SIMPLE_RNN])
@pytest.mark.parametrize("batch", [1, 2, 11])
def test_thread_counts_are_bitwise_equal(cell, batch):
    # batch 1 and 2 split the units between threads (enough work a step: fg_gru.c); 11 rows
    # split the batch
    cfg, w, x, states = _problem(cell, batch, 6, 64, 128 if cell == LSTM else 256)
    mask = make_mask("random", batch, 6, np.random.default_rng(3))
    want = _run(cfg, w, x, states, mask=mask, nthreads=1)
    for nt in (2, 3, 4):
        for g, r in zip(_run(cfg, w, x, states, mask=mask, nthreads=nt), want):
            np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("cell", [LSTM, SIMPLE_RNN])
def test_pack_unpack_round_trip(cell):
    cfg, w, _, _ = _problem(cell, 1, 1, 5, 19)
    for got, want in zip(_core.gru_unpack(cfg, _core.gru_pack(cfg, *w)), w):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("cell", [LSTM, SIMPLE_RNN])
def test_bf16_opt_in_stays_near_float32(cell):
    cfg, w, x, states = _problem(cell, 4, 8, 24, 40, precision=1)
    got = _run(cfg, w, x, states)
    want = _reference(cfg, w, x, states, "tanh", "sigmoid", return_sequences=True)
    for g, r in zip(got, want):
        assert np.max(np.abs(g - r)) < 3e-2   # bf16 products: ~3 significant digits
    # the weights come back rounded to bf16: a bf16 value has 16 low zero bits
    kernel = _core.gru_unpack(cfg, _core.gru_pack(cfg, *w))[0]
    assert not (kernel.view(np.uint32) & 0xFFFF).any()


def test_config_errors_name_the_cell():
    with pytest.raises(FastGRUError, match="LSTM reset_after must be 0"):
        _core.gru_packed_bytes(GruConfig(3, 4, 1, 1, 1, 2, 0, LSTM))
    with pytest.raises(FastGRUError, match="recurrent cell must be"):
        _core.gru_packed_bytes(GruConfig(3, 4, 0, 1, 1, 2, 0, 7))
    cfg, w, _, _ = _problem(LSTM, 1, 1, 3, 4)
    with pytest.raises(FastGRUError, match=r"kernel: expected shape \(3, 16\)"):
        _core.gru_pack(cfg, w[0][:, :12].copy(), w[1], w[2])
