"""fastgru.GRU / Bidirectional against the float64 numpy re-derivation (tests/reference_gru.py)
on the same option grid as the Keras tests, plus the options Keras 3 lacks (time_major,
Keras 2 hard_sigmoid, zero_output_for_mask as a keyword) and the layer's own API."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgru
from fastgru.activations import resolve_activation
from conftest import (BI_CASES, GRU_CASES, TOL, Case, bidirectional_data,
                      bidirectional_options, case_weights, fastgru_gru, make_data, make_mask,
                      make_weights, reference_for, rng_for)
from reference_gru import gru_reference, reference_activation


def _outputs(result, return_state):
    return (result[0], result[1]) if return_state else (result, None)


@pytest.mark.parametrize("case", GRU_CASES, ids=str)
def test_gru_matches_numpy_reference(case, error_record):
    rng = rng_for(case)
    weights = case_weights(case, rng)
    x, mask, h0 = make_data(case, rng)
    y, h = _outputs(fastgru_gru(case, weights)(x, initial_state=h0, mask=mask), case.return_state)
    y_ref, h_ref = reference_for(case, weights, x, mask, h0)
    assert error_record.add("numpy", case.family, y, y_ref) <= TOL
    if case.return_state:
        assert error_record.add("numpy", case.family, h, h_ref) <= TOL


@pytest.mark.parametrize("zero_output", [False, True])
def test_zero_output_for_mask_keyword(zero_output, error_record):
    case = Case("zero_output_for_mask", return_sequences=True, mask="random", batch=5)
    rng = np.random.default_rng(7)
    weights = make_weights(case.units, case.input_dim, True, True, rng)
    x, mask, _ = make_data(case, rng)
    y = fastgru_gru(case, weights, zero_output_for_mask=zero_output)(x, mask=mask)
    y_ref, _ = reference_for(case, weights, x, mask, None, zero_output_for_mask=zero_output)
    assert error_record.add("numpy", case.family, y, y_ref) <= TOL
    masked = ~mask
    assert np.all((y[masked] == 0).all(axis=-1)) == zero_output or not masked.any()


def test_keras2_hard_sigmoid_is_the_keras2_formula(error_record):
    # tf-keras: clip(0.2 x + 0.5, 0, 1) (docs/KERAS_FORMATS.md §11), 0.7 at x = 1.
    assert reference_activation("hard_sigmoid_keras2", np.array([1.0]))[0] == pytest.approx(0.7)
    assert resolve_activation("hard_sigmoid", keras_version=2) == "hard_sigmoid_keras2"
    assert resolve_activation("hard_sigmoid") == "hard_sigmoid"
    case = Case("keras2_hard_sigmoid", recurrent_activation="hard_sigmoid_keras2",
                activation="hard_sigmoid_keras2", return_sequences=True)
    rng = np.random.default_rng(3)
    weights = make_weights(case.units, case.input_dim, True, True, rng)
    x = rng.normal(0, 2, (case.batch, case.timesteps, case.input_dim)).astype(np.float32)
    y = fastgru_gru(case, weights)(x)
    y_ref, _ = reference_for(case, weights, x, None, None)
    assert error_record.add("numpy", case.family, y, y_ref) <= TOL
    y_keras3, _ = reference_for(case, weights, x, None, None, activation="hard_sigmoid",
                                recurrent_activation="hard_sigmoid")
    assert np.max(np.abs(y - y_keras3)) > 1e-3      # the two definitions really differ here


def test_unknown_activation_lists_accepted_names():
    with pytest.raises(fastgru.FastGRUError, match="glu.*accepted names:.*tanh"):
        resolve_activation("glu")


@pytest.mark.parametrize("return_sequences", [True, False])
def test_time_major_matches_batch_major(return_sequences):
    case = Case("time_major", return_sequences=return_sequences, mask="post", batch=4)
    rng = np.random.default_rng(11)
    weights = make_weights(case.units, case.input_dim, True, True, rng)
    x, mask, _ = make_data(case, rng)
    y_ref, _ = reference_for(case, weights, x, mask, None)
    layer = fastgru_gru(case, weights, time_major=True)
    y = layer(np.ascontiguousarray(x.transpose(1, 0, 2)), mask=mask.T)
    expected = y_ref.transpose(1, 0, 2) if return_sequences else y_ref
    assert y.shape == expected.shape
    assert np.max(np.abs(y - expected)) <= TOL


def test_stateful_carries_state_and_resets():
    case = Case("stateful", return_sequences=True, batch=2, timesteps=8)
    rng = np.random.default_rng(5)
    weights = make_weights(case.units, case.input_dim, True, True, rng)
    x, _, _ = make_data(case, rng)
    layer = fastgru_gru(case, weights, stateful=True)
    first, second = layer(x[:, :3]), layer(x[:, 3:])
    y_ref, _ = reference_for(case, weights, x, None, None)
    assert np.max(np.abs(np.concatenate([first, second], axis=1) - y_ref)) <= TOL
    layer.reset_states()
    assert np.max(np.abs(layer(x[:, :3]) - y_ref[:, :3])) <= TOL
    h0 = rng.uniform(-1, 1, (2, case.units)).astype(np.float32)
    layer.reset_states(states=h0)
    y_h0, _ = reference_for(case, weights, x[:, :3], None, h0)
    assert np.max(np.abs(layer(x[:, :3]) - y_h0)) <= TOL
    with pytest.raises(fastgru.FastGRUError, match=r"batch size 2.*batch 3"):
        layer(np.zeros((3, 2, case.input_dim), np.float32))


def test_get_weights_round_trips_keras_layout():
    rng = np.random.default_rng(2)
    for reset_after, use_bias in [(True, True), (False, True), (True, False)]:
        weights = make_weights(7, 3, reset_after, use_bias, rng)
        layer = fastgru.GRU(7, *weights, reset_after=reset_after)
        got = layer.get_weights()
        expected = [w for w in weights if w is not None]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.dtype == np.float32 and np.array_equal(g, e)


@pytest.mark.parametrize("name, bad, message", [
    ("kernel", np.zeros((4, 14)), r"kernel: expected shape \(4, 15\), got \(4, 14\)"),
    ("recurrent_kernel", np.zeros((5, 16)), r"recurrent_kernel: expected shape \(5, 15\), got \(5, 16\)"),
    ("bias", np.zeros(15), r"bias: expected shape \(2, 15\), got \(15,\)"),
])
def test_weight_shape_errors_name_the_weight(name, bad, message):
    weights = dict(zip(("kernel", "recurrent_kernel", "bias"),
                       make_weights(5, 4, True, True, np.random.default_rng(0))))
    weights[name] = bad
    with pytest.raises(fastgru.FastGRUError, match=message):
        fastgru.GRU(5, **weights)


@pytest.mark.parametrize("case", BI_CASES, ids=str)
def test_bidirectional_matches_numpy_reference(case, error_record):
    w_fw, w_bw, x, mask, h0 = bidirectional_data(case)
    units = case.units
    opts = bidirectional_options(case)
    fgb = case.forward_go_backwards
    bi = fastgru.Bidirectional(fastgru.GRU(units, *w_fw, go_backwards=fgb, **opts),
                               fastgru.GRU(units, *w_bw, go_backwards=not fgb, **opts),
                               merge_mode=case.merge_mode)
    got = bi(x, initial_state=h0, mask=mask)
    h0 = h0 or [None, None]

    ref = dict(reset_after=case.reset_after, return_sequences=case.return_sequences, mask=mask,
               zero_output_for_mask=case.return_sequences)
    y_fw, h_fw = gru_reference(x, *w_fw, initial_state=h0[0], go_backwards=fgb, **ref)
    y_bw, h_bw = gru_reference(x, *w_bw, initial_state=h0[1], go_backwards=not fgb, **ref)
    if case.return_sequences:      # Keras flips the backward layer's sequence, whichever it is
        y_bw = y_bw[:, ::-1]
    merged = {"concat": lambda: [np.concatenate([y_fw, y_bw], axis=-1)],
              "sum": lambda: [y_fw + y_bw], "mul": lambda: [y_fw * y_bw],
              "ave": lambda: [(y_fw + y_bw) / 2], None: lambda: [y_fw, y_bw]}[case.merge_mode]()
    expected = merged + ([h_fw, h_bw] if case.return_state else [])
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert error_record.add("numpy", "bidirectional", g, e) <= TOL


def test_bidirectional_needs_opposite_go_backwards():
    weights = make_weights(3, 2, True, True, np.random.default_rng(0))
    with pytest.raises(fastgru.FastGRUError, match="different go_backwards"):
        fastgru.Bidirectional(fastgru.GRU(3, *weights), fastgru.GRU(3, *weights))


def test_import_fastgru_loads_nothing_heavy():
    code = ("import sys, fastgru; heavy = [m for m in ('h5py', 'keras', 'jax', 'tensorflow', "
            "'scipy') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("batch, timesteps", [(0, 4), (3, 0)])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_empty_batch_or_sequence(batch, timesteps, return_sequences):
    weights = make_weights(4, 3, True, True, np.random.default_rng(0))
    x = np.zeros((batch, timesteps, 3), np.float32)
    y, h = fastgru.GRU(4, *weights, return_sequences=return_sequences, return_state=True)(x)
    y_ref, h_ref = gru_reference(x, *weights, return_sequences=return_sequences)
    assert y.shape == y_ref.shape and h.shape == h_ref.shape
    assert np.array_equal(y, y_ref) and np.array_equal(h, h_ref)


@pytest.mark.parametrize("merge_mode", ["concat", "ave", None])
def test_bidirectional_time_major_matches_batch_major(merge_mode):
    rng = np.random.default_rng(8)
    w_fw, w_bw = make_weights(4, 3, True, True, rng), make_weights(4, 3, True, True, rng)
    x = rng.normal(size=(5, 6, 3)).astype(np.float32)
    mask = make_mask("post", 5, 6, rng)

    def build(time_major):
        opts = dict(return_sequences=True, time_major=time_major)
        return fastgru.Bidirectional(fastgru.GRU(4, *w_fw, **opts),
                                     fastgru.GRU(4, *w_bw, go_backwards=True, **opts), merge_mode)

    batch_major = build(False)(x, mask=mask)
    time_major = build(True)(np.ascontiguousarray(x.transpose(1, 0, 2)), mask=mask.T)
    batch_major = batch_major if isinstance(batch_major, list) else [batch_major]
    time_major = time_major if isinstance(time_major, list) else [time_major]
    for b, t in zip(batch_major, time_major):
        assert np.array_equal(t.transpose(1, 0, 2), b)


def test_initial_state_as_array_list_or_nested_list():
    case = Case("initial_state_forms", batch=1)
    rng = np.random.default_rng(9)
    weights = case_weights(case, rng)
    x, _, _ = make_data(case, rng)
    h0 = rng.uniform(-1, 1, (1, case.units)).astype(np.float32)
    layer = fastgru_gru(case, weights)
    expected = layer(x, initial_state=h0)
    for form in ([h0], h0.tolist(), [h0.tolist()]):
        assert np.array_equal(layer(x, initial_state=form), expected)


def test_bidirectional_stateful_states_equal_initial_state():
    rng = np.random.default_rng(13)
    w_fw, w_bw = make_weights(4, 3, True, True, rng), make_weights(4, 3, True, True, rng)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    h0 = [rng.uniform(-1, 1, (2, 4)).astype(np.float32) for _ in range(2)]

    def build(stateful):
        opts = dict(return_sequences=True, stateful=stateful)
        return fastgru.Bidirectional(fastgru.GRU(4, *w_fw, **opts),
                                     fastgru.GRU(4, *w_bw, go_backwards=True, **opts))

    expected = build(False)(x, initial_state=h0)
    stateful = build(True)
    stateful.reset_states(states=h0)
    assert np.array_equal(stateful(x), expected)
    stateful.reset_states()
    assert np.array_equal(stateful(x), build(False)(x))
