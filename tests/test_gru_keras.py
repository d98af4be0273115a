"""fastgru.GRU / Bidirectional against REAL Keras 3 (jax backend): Keras' layer is built with
the same weights and run on the same data; outputs must agree to 1e-5 (see conftest.ErrorRecord
for how the error is measured). The max error per option family is printed at the end."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="Keras 3 is needed to compare against real Keras")
if keras.__version__.split(".")[0] != "3":
    pytest.skip(f"these tests need Keras 3, found {keras.__version__}", allow_module_level=True)

import fastgru
from conftest import (BI_CASES, GRU_CASES, TOL, bidirectional_data, bidirectional_options,
                      case_weights, fastgru_gru, make_data, make_weights, rng_for)


# Keras 3's jax and numpy backends (lax.scan-style loops) output the carried state at masked
# steps; its TensorFlow and torch backends output the previous output, zeros at first.
_BACKEND_OUTPUTS_STATE_WHEN_MASKED = keras.backend.backend() in ("jax", "numpy")


def _keras_gru(units, weights, **options):
    kernel, recurrent, bias = weights
    layer = keras.layers.GRU(units, use_bias=bias is not None, **options)
    layer.build((None, None, kernel.shape[0]))
    layer.set_weights([w for w in weights if w is not None])
    return layer


def _as_list(result):
    return [np.asarray(r) for r in result] if isinstance(result, (list, tuple)) else [np.asarray(result)]


def _leading_masked(mask, go_backwards):
    """(B, T) bool, processing order: steps before the row's first unmasked step."""
    keep = mask[:, ::-1] if go_backwards else mask
    return np.cumsum(keep, axis=1) == 0


def _tf_backend_outputs(y, mask, h0, go_backwards, return_sequences):
    """Keras 3's jax/numpy backends output the carried state at masked steps that come before
    the first unmasked one, i.e. the initial state; its TensorFlow backend and tf-keras output
    zeros there (docs/KERAS_FORMATS.md §12), which is what fastgru follows. Check that Keras
    did what we think, then turn its output into the TensorFlow-backend one."""
    if h0 is None or mask is None or not _BACKEND_OUTPUTS_STATE_WHEN_MASKED:
        return y
    leading = _leading_masked(mask, go_backwards)
    if return_sequences:
        np.testing.assert_array_equal(y[leading], np.broadcast_to(h0[:, None], y.shape)[leading])
        y = y.copy()
        y[leading] = 0.0
    else:
        fully_masked = leading[:, -1]
        np.testing.assert_array_equal(y[fully_masked], h0[fully_masked])
        y = np.where(fully_masked[:, None], 0.0, y).astype(np.float32)
    return y


@pytest.mark.parametrize("case", GRU_CASES, ids=str)
def test_gru_matches_keras(case, error_record):
    rng = rng_for(case)
    weights = case_weights(case, rng)
    x, mask, h0 = make_data(case, rng)
    layer = _keras_gru(case.units, weights, activation=case.activation,
                       recurrent_activation=case.recurrent_activation,
                       reset_after=case.reset_after, go_backwards=case.go_backwards,
                       return_sequences=case.return_sequences, return_state=case.return_state)
    expected = _as_list(layer(x, initial_state=h0, mask=mask))
    expected[0] = _tf_backend_outputs(expected[0], mask, h0, case.go_backwards,
                                      case.return_sequences)
    got = _as_list(fastgru_gru(case, weights)(x, initial_state=h0, mask=mask))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert error_record.add("keras", case.family, g, e) <= TOL


@pytest.mark.parametrize("case", BI_CASES, ids=str)
def test_bidirectional_matches_keras(case, error_record):
    w_fw, w_bw, x, mask, h0 = bidirectional_data(case)
    units, input_dim = case.units, x.shape[-1]
    opts = bidirectional_options(case)
    fgb = case.forward_go_backwards
    keras_bi = keras.layers.Bidirectional(   # an explicit backward layer lets the forward one go backwards
        keras.layers.GRU(units, go_backwards=fgb, **opts), merge_mode=case.merge_mode,
        backward_layer=keras.layers.GRU(units, go_backwards=not fgb, **opts))
    keras_bi.build((None, None, input_dim))
    keras_bi.forward_layer.set_weights(w_fw)
    keras_bi.backward_layer.set_weights(w_bw)
    expected = _as_list(keras_bi(x, initial_state=h0, mask=mask))
    if (not case.return_sequences and h0 is not None and mask is not None
            and _BACKEND_OUTPUTS_STATE_WHEN_MASKED):
        # Keras' jax backend outputs the initial states for a fully masked row (see
        # _tf_backend_outputs); the TensorFlow rule fastgru follows gives zeros.
        if case.merge_mode is None:
            expected[0] = _tf_backend_outputs(expected[0], mask, h0[0], fgb, False)
            expected[1] = _tf_backend_outputs(expected[1], mask, h0[1], not fgb, False)
        else:
            merge = {"concat": lambda a, b: np.concatenate([a, b], axis=-1),
                     "sum": np.add, "mul": np.multiply, "ave": lambda a, b: (a + b) / 2}
            fully_masked = ~mask.any(axis=1)
            np.testing.assert_allclose(expected[0][fully_masked],
                                       merge[case.merge_mode](h0[0], h0[1])[fully_masked],
                                       rtol=0, atol=1e-6)
            expected[0] = np.where(fully_masked[:, None], 0.0, expected[0])

    bi = fastgru.Bidirectional(fastgru.GRU(units, *w_fw, go_backwards=fgb, **opts),
                               fastgru.GRU(units, *w_bw, go_backwards=not fgb, **opts),
                               merge_mode=case.merge_mode)
    got = _as_list(bi(x, initial_state=h0, mask=mask))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert error_record.add("keras", "bidirectional", g, e) <= TOL


def test_stateful_matches_keras(error_record):
    rng = np.random.default_rng(12)
    units, input_dim, batch = 6, 3, 2
    weights = make_weights(units, input_dim, True, True, rng)
    chunks = [rng.normal(size=(batch, 4, input_dim)).astype(np.float32) for _ in range(3)]
    keras_layer = keras.layers.GRU(units, stateful=True, return_sequences=True)
    keras_model = keras.Sequential([keras.Input(batch_shape=(batch, None, input_dim)), keras_layer])
    keras_layer.set_weights(weights)
    layer = fastgru.GRU(units, *weights, stateful=True, return_sequences=True)
    for i, chunk in enumerate(chunks):
        if i == 2:                       # forget the carried state before the last chunk
            keras_layer.reset_states()
            layer.reset_states()
        expected = np.asarray(keras_model(chunk))
        assert error_record.add("keras", "stateful", layer(chunk), expected) <= TOL
