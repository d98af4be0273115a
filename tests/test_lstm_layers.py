"""fastgru.LSTM, fastgru.SimpleRNN and Bidirectional over them, from numpy weights, against the
float64 references (tests/reference_lstm.py): the options grid (masks, go_backwards,
return_sequences / return_state, initial states, zero_output_for_mask, time_major, stateful),
every merge mode with the four states of a Bidirectional LSTM, and their errors."""
import itertools

import numpy as np
import pytest

import fastgru
from fastgru.errors import FastGRUError
from conftest import MASK_KINDS, TOL, make_mask
from reference_lstm import lstm_reference, simple_rnn_reference

UNITS, INPUT_DIM, BATCH, STEPS = 6, 4, 5, 7


def _weights(layer_class, rng, use_bias=True):
    g = 4 if layer_class is fastgru.LSTM else 1
    return (rng.normal(0, 0.5, (INPUT_DIM, g * UNITS)).astype(np.float32),
            rng.normal(0, 0.4, (UNITS, g * UNITS)).astype(np.float32),
            rng.normal(0, 0.3, (g * UNITS,)).astype(np.float32) if use_bias else None)


def _reference(layer_class, x, weights, states, **options):
    """[y, *final states] in float64."""
    if layer_class is fastgru.LSTM:
        return list(lstm_reference(x, *weights, initial_state=states, **options))
    options.pop("recurrent_activation", None)
    return list(simple_rnn_reference(x, *weights, initial_state=None if states is None
                                     else states[0], **options))


def _states(layer_class, rng, batch=BATCH):
    n = 2 if layer_class is fastgru.LSTM else 1
    return [rng.uniform(-1, 1, (batch, UNITS)).astype(np.float32) for _ in range(n)]


def _call_states(layer_class, states):
    """initial_state as each layer takes it: an LSTM's [h, c], a SimpleRNN's h."""
    if states is None:
        return None
    return states if layer_class is fastgru.LSTM else states[0]


CLASSES = [fastgru.LSTM, fastgru.SimpleRNN]
OPTIONS = list(itertools.product([False, True], [False, True], [False, True]))


@pytest.mark.parametrize("layer_class", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("go_backwards, return_sequences, zero_output_for_mask", OPTIONS)
def test_options_grid_matches_reference(layer_class, mask_kind, go_backwards,
                                        return_sequences, zero_output_for_mask, error_record):
    rng = np.random.default_rng(0)
    weights = _weights(layer_class, rng, use_bias=not go_backwards)
    x = rng.normal(size=(BATCH, STEPS, INPUT_DIM)).astype(np.float32)
    mask = make_mask(mask_kind, BATCH, STEPS, rng)
    extra = {} if layer_class is fastgru.SimpleRNN else {"recurrent_activation": "hard_sigmoid"}
    layer = layer_class(UNITS, *weights, activation="tanh", go_backwards=go_backwards,
                        return_sequences=return_sequences, return_state=True,
                        zero_output_for_mask=zero_output_for_mask, **extra)
    for states in (None, _states(layer_class, rng)):
        got = layer(x, initial_state=_call_states(layer_class, states), mask=mask)
        want = _reference(layer_class, x, weights, states, activation="tanh", mask=mask,
                          go_backwards=go_backwards, return_sequences=return_sequences,
                          zero_output_for_mask=zero_output_for_mask, **extra)
        assert len(got) == len(want)   # [output, h] or an LSTM's [output, h, c]
        family = f"{layer_class.__name__} layer masks={mask_kind}"
        for g, w in zip(got, want):
            assert error_record.add(family, "options", g, w) <= TOL


@pytest.mark.parametrize("layer_class", CLASSES, ids=lambda c: c.__name__)
def test_time_major_and_get_weights(layer_class):
    rng = np.random.default_rng(1)
    weights = _weights(layer_class, rng)
    x = rng.normal(size=(BATCH, STEPS, INPUT_DIM)).astype(np.float32)
    mask = make_mask("post", BATCH, STEPS, rng)
    batch_major = layer_class(UNITS, *weights, return_sequences=True)
    time_major = layer_class(UNITS, *weights, return_sequences=True, time_major=True)
    np.testing.assert_array_equal(
        time_major(x.transpose(1, 0, 2), mask=mask.T).transpose(1, 0, 2),
        batch_major(x, mask=mask))
    for got, want in zip(batch_major.get_weights(), weights):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("layer_class", CLASSES, ids=lambda c: c.__name__)
def test_stateful_carries_every_state_across_calls(layer_class):
    rng = np.random.default_rng(2)
    weights = _weights(layer_class, rng)
    x = rng.normal(size=(BATCH, 2 * STEPS, INPUT_DIM)).astype(np.float32)
    layer = layer_class(UNITS, *weights, stateful=True, return_sequences=True)
    halves = np.concatenate([layer(x[:, :STEPS]), layer(x[:, STEPS:])], axis=1)
    want = _reference(layer_class, x, weights, None, return_sequences=True)
    np.testing.assert_allclose(halves, want[0], atol=TOL)
    carried = layer.states if layer_class is fastgru.LSTM else [layer.states]
    for got, w in zip(carried, want[1:]):   # h, and an LSTM's c
        np.testing.assert_allclose(got, w, atol=TOL)
    layer.reset_states()
    np.testing.assert_array_equal(np.concatenate([layer(x[:, :STEPS]), layer(x[:, STEPS:])],
                                                 axis=1), halves)
    layer.reset_states(_call_states(layer_class, _states(layer_class, rng)))
    assert layer.states is not None


@pytest.mark.parametrize("layer_class", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_every_merge_mode_and_its_states(layer_class, merge_mode):
    rng = np.random.default_rng(3)
    w_fw, w_bw = _weights(layer_class, rng), _weights(layer_class, rng)
    x = rng.normal(size=(BATCH, STEPS, INPUT_DIM)).astype(np.float32)
    mask = make_mask("pre", BATCH, STEPS, rng)
    s_fw, s_bw = _states(layer_class, rng), _states(layer_class, rng)
    bi = fastgru.Bidirectional(
        layer_class(UNITS, *w_fw, return_sequences=True, return_state=True),
        layer_class(UNITS, *w_bw, return_sequences=True, return_state=True, go_backwards=True),
        merge_mode=merge_mode)
    got = bi(x, initial_state=s_fw + s_bw, mask=mask)
    # Keras: both see the mask, masked steps output zeros, the backward sequence flipped back
    fw = _reference(layer_class, x, w_fw, s_fw, mask=mask, return_sequences=True,
                    zero_output_for_mask=True)
    bw = _reference(layer_class, x, w_bw, s_bw, mask=mask, return_sequences=True,
                    zero_output_for_mask=True, go_backwards=True)
    y_fw, y_bw = fw[0], bw[0][:, ::-1]
    merged = {"concat": [np.concatenate([y_fw, y_bw], -1)], "sum": [y_fw + y_bw],
              "mul": [y_fw * y_bw], "ave": [(y_fw + y_bw) / 2], None: [y_fw, y_bw]}[merge_mode]
    want = merged + fw[1:] + bw[1:]   # outputs, then forward states, then backward states
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=TOL)


def test_errors_name_the_layer_and_the_expected_shapes():
    rng = np.random.default_rng(4)
    kernel, recurrent_kernel, bias = _weights(fastgru.LSTM, rng)
    with pytest.raises(FastGRUError, match=r"LSTM weight recurrent_kernel: expected shape "
                                           r"\(6, 24\)"):
        fastgru.LSTM(UNITS, kernel, recurrent_kernel[:, :18], bias)
    with pytest.raises(FastGRUError, match=r"LSTM weight bias: expected shape \(24,\)"):
        fastgru.LSTM(UNITS, kernel, recurrent_kernel, bias[:6])
    layer = fastgru.LSTM(UNITS, kernel, recurrent_kernel, bias)
    x = rng.normal(size=(2, 3, INPUT_DIM)).astype(np.float32)
    with pytest.raises(FastGRUError, match=r"LSTM lstm initial_state: expected a list \[h, c\]"):
        layer(x, initial_state=np.zeros((2, UNITS), np.float32))
    with pytest.raises(FastGRUError, match=r"SimpleRNN weight kernel: expected shape"):
        fastgru.SimpleRNN(UNITS, kernel, recurrent_kernel, bias)
    rnn = fastgru.SimpleRNN(UNITS, *_weights(fastgru.SimpleRNN, rng))
    with pytest.raises(FastGRUError, match="must be fastgru.GRU, LSTM or SimpleRNN layers of "
                                           "the same class"):
        fastgru.Bidirectional(layer, rnn)
